"""Positional channels (CoordConv coordinates, radius, sinusoids, Beta maps) for images."""

import math
import numbers

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from layers.beta_positional_encoding import RandomBeta
from layers.beta_positional_encoding import check_non_negative_int
from layers.beta_positional_encoding import check_positive_float
from layers.beta_positional_encoding import check_positive_int

DATA_FORMATS = ("channels_last", "channels_first")


@keras.saving.register_keras_serializable(package="encoding_zoo")
class PositionalChannel2D(keras.layers.Layer):
    """Concatenates positional channels to a batch of images.

    The layer appends, after the input channels and in this order:

    1. `x`: the column coordinate, `2 * j / (width - 1) - 1` for column `j`, so it spans
       [-1, 1] across the width and is constant down each column.
    2. `y`: the row coordinate, `2 * i / (height - 1) - 1` for row `i`, constant along each
       row. An axis of size 1 gets the coordinate 0.
    3. With `with_radius=True`, the radius `sqrt(x**2 + y**2)`: the distance from the image
       centre in these coordinates, not rescaled, so it lies in [0, sqrt(2)].
    4. With `sinusoidal_frequencies=K`, 4 * K channels. For each k in 0, ..., K - 1 in
       turn: `sin(2**k * pi * x)`, `cos(2**k * pi * x)`, `sin(2**k * pi * y)`,
       `cos(2**k * pi * y)`.
    5. With `beta_maps=M`, M fixed random maps. They are drawn once, as a table of shape
       `(max_height, max_width, M)`, from Beta(beta_alpha, beta_beta) rescaled linearly
       from [0, 1] to [-1, 1] (the range of the coordinates), with NumPy's generator seeded
       by `seed` (see `RandomBeta`). The table is a non-trainable weight, and each image
       gets its top-left `(height, width)` crop.

    Channels 1 and 2 are CoordConv's AddCoords and channel 3 is its optional radius
    channel. The maps are computed in float32 and cast to the layer's compute dtype, so
    under a mixed precision policy the output is float16 or bfloat16. Integer images are
    cast to the compute dtype too.

    The input has shape `(batch_size, height, width, channels)` with
    `data_format="channels_last"` or `(batch_size, channels, height, width)` with
    `"channels_first"`. The output has the same shape with `channels + P` channels, where
    `P = 2 + with_radius + 4 * sinusoidal_frequencies + beta_maps`. Height and width may be
    `None` and may change between calls. A mask, if any, passes through unchanged, because
    the layer only adds channels and keeps every pixel in place.

    Args:
        with_radius: bool, whether to add the radius channel. Defaults to `False`.
        sinusoidal_frequencies: non-negative int K, the number of sinusoid frequencies per
            axis. Defaults to `0`.
        beta_maps: non-negative int M, the number of fixed Beta maps. Defaults to `0`.
        beta_alpha: float, first shape parameter of the Beta distribution of the maps.
            Must be positive and finite. Defaults to `0.5`.
        beta_beta: float, second shape parameter of the Beta distribution of the maps.
            Must be positive and finite. Defaults to `0.5`.
        seed: non-negative int, the seed of the NumPy generator that draws the Beta maps.
            Defaults to `0`.
        max_height: positive int or `None`, the maximum image height. Required when
            `beta_maps > 0`. When set, taller images raise an error.
        max_width: positive int or `None`, the maximum image width. Required when
            `beta_maps > 0`. When set, wider images raise an error.
        data_format: `"channels_last"`, `"channels_first"` or `None`, which means
            `keras.config.image_data_format()` at construction. Defaults to `None`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`, including `name`
            and `dtype`.

    Call arguments:
        inputs: tensor of rank 4 in the layout set by `data_format`.

    Raises:
        ValueError: when an image is larger than `max_height` or `max_width` and its size
            is known when the layer is called.
        tf.errors.InvalidArgumentError: in the same case when the size is known only at
            run time, for example in an exported SavedModel with `None` height and width.

    Example:
    >>> images = np.zeros((2, 3, 5, 1), dtype="float32")
    >>> layer = PositionalChannel2D(with_radius=True, data_format="channels_last")
    >>> outputs = layer(images)
    >>> tuple(outputs.shape)
    (2, 3, 5, 4)
    >>> [float(x) for x in outputs[0, 0, :, 1]]
    [-1.0, -0.5, 0.0, 0.5, 1.0]

    References:
     - [Liu et al., 2018](https://arxiv.org/abs/1807.03247), "An intriguing failing of
       convolutional neural networks and the CoordConv solution".
    """

    def __init__(
        self,
        with_radius=False,
        sinusoidal_frequencies=0,
        beta_maps=0,
        beta_alpha=0.5,
        beta_beta=0.5,
        seed=0,
        max_height=None,
        max_width=None,
        data_format=None,
        **kwargs,
    ):
        with_radius = _check_bool("with_radius", with_radius)
        sinusoidal_frequencies = check_non_negative_int(
            "sinusoidal_frequencies", sinusoidal_frequencies
        )
        beta_maps = check_non_negative_int("beta_maps", beta_maps)
        beta_alpha = check_positive_float("beta_alpha", beta_alpha)
        beta_beta = check_positive_float("beta_beta", beta_beta)
        seed = check_non_negative_int("seed", seed)
        max_height = _check_optional_size("max_height", max_height, beta_maps)
        max_width = _check_optional_size("max_width", max_width, beta_maps)
        data_format = _standardize_data_format(data_format)

        super().__init__(**kwargs)
        self.with_radius = with_radius
        self.sinusoidal_frequencies = sinusoidal_frequencies
        self.beta_maps = beta_maps
        self.beta_alpha = beta_alpha
        self.beta_beta = beta_beta
        self.seed = seed
        self.max_height = max_height
        self.max_width = max_width
        self.data_format = data_format
        self.supports_masking = True

    @property
    def positional_channels(self):
        """The number of channels the layer appends."""
        return 2 + int(self.with_radius) + 4 * self.sinusoidal_frequencies + self.beta_maps

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"{type(self).__name__} expects images of rank 4, "
                f"{self._layout()}. Received: input_shape={tuple(input_shape)}"
            )
        height, width = self._spatial_size(input_shape)
        self._check_size(height, width)

        if self.beta_maps:
            self.beta_table = self.add_weight(
                name="beta_maps",
                shape=(self.max_height, self.max_width, self.beta_maps),
                initializer=RandomBeta(self.beta_alpha, self.beta_beta, -1.0, 1.0, self.seed),
                trainable=False,
            )

        channels = input_shape[self._channel_axis()]
        axes = {} if channels is None else {self._channel_axis(): channels}
        self.input_spec = keras.InputSpec(ndim=4, axes=axes)

    def call(self, inputs):
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if dtype.startswith("complex") or dtype == "string":
            raise TypeError(
                f"PositionalChannel2D expects real-valued images (float, int or bool). "
                f"Received images of dtype {dtype}. Convert them to float32 first."
            )
        inputs = ops.cast(inputs, self.compute_dtype)
        shape = ops.shape(inputs)
        height, width = self._spatial_size(shape)
        height, width = self._check_size(height, width)

        maps = ops.cast(self._positional_maps(height, width), self.compute_dtype)
        if self.data_format == "channels_first":
            maps = ops.transpose(maps, (2, 0, 1))

        maps = ops.broadcast_to(ops.expand_dims(maps, 0), self._maps_shape(shape))
        return ops.concatenate([inputs, maps], axis=self._channel_axis())

    def compute_output_shape(self, input_shape):
        output_shape = list(input_shape)
        channel_axis = self._channel_axis()
        channels = input_shape[channel_axis]
        output_shape[channel_axis] = None if channels is None else channels + self.positional_channels
        return tuple(output_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "with_radius": self.with_radius,
                "sinusoidal_frequencies": self.sinusoidal_frequencies,
                "beta_maps": self.beta_maps,
                "beta_alpha": self.beta_alpha,
                "beta_beta": self.beta_beta,
                "seed": self.seed,
                "max_height": self.max_height,
                "max_width": self.max_width,
                "data_format": self.data_format,
            }
        )
        return config

    def _positional_maps(self, height, width):
        """Return the positional channels of one image as a float32 `(height, width, P)`."""
        x = _normalized_coordinates(width)
        y = _normalized_coordinates(height)
        x = ops.broadcast_to(ops.expand_dims(x, 0), (height, width))
        y = ops.broadcast_to(ops.expand_dims(y, 1), (height, width))
        maps = [x, y]

        if self.with_radius:
            maps.append(ops.sqrt(x * x + y * y))

        for k in range(self.sinusoidal_frequencies):
            angular_frequency = (2.0**k) * math.pi
            maps.extend(
                [
                    ops.sin(angular_frequency * x),
                    ops.cos(angular_frequency * x),
                    ops.sin(angular_frequency * y),
                    ops.cos(angular_frequency * y),
                ]
            )

        maps = ops.stack(maps, axis=-1)
        if self.beta_maps:
            beta_crop = ops.slice(self.beta_table, (0, 0, 0), (height, width, self.beta_maps))
            maps = ops.concatenate([maps, ops.cast(beta_crop, "float32")], axis=-1)
        return maps

    def _check_size(self, height, width):
        """Raise if the image is larger than `max_height` or `max_width`, and return the sizes.

        Python ints are checked now, with a `ValueError`. Tensors get a TensorFlow
        assertion, and the returned sizes depend on it, so a graph or SavedModel raises
        before it crops the Beta maps.
        """
        limits = (("height", height, self.max_height), ("width", width, self.max_width))
        dynamic_limits = []
        for axis, size, max_size in limits:
            if max_size is None or size is None:
                continue
            if isinstance(size, numbers.Integral):
                self._check_static_size(axis, int(size), max_size)
            else:
                dynamic_limits.append((axis, size, max_size))

        # Only the TensorFlow backend has dynamic shapes, so other backends never need the
        # assertion below.
        if not dynamic_limits or keras.backend.backend() != "tensorflow":
            return height, width
        return self._assert_size(height, width, dynamic_limits)

    def _check_static_size(self, axis, size, max_size):
        if size > max_size:
            raise ValueError(
                f"The image {axis} {size} exceeds max_{axis}={max_size} of "
                f"{type(self).__name__} '{self.name}'. Resize the image, or create the "
                f"layer with max_{axis} >= {size}."
            )

    def _assert_size(self, height, width, dynamic_limits):
        # NOTE: XLA drops `tf.debugging.Assert`. Under `jit_compile=True` an oversized image
        # fails in the Beta map slice when `beta_maps > 0`, and passes unchecked otherwise.
        checks = []
        for axis, size, max_size in dynamic_limits:
            check = tf.debugging.Assert(
                size <= max_size,
                [
                    f"The image {axis} exceeds max_{axis}={max_size} of "
                    f"{type(self).__name__} '{self.name}'. Resize the image, or create the "
                    f"layer with a larger max_{axis}.",
                    f"image {axis}:",
                    size,
                ],
            )
            # In eager mode the assertion has run already and returns None.
            if check is not None:
                checks.append(check)

        with tf.control_dependencies(checks):
            return tf.identity(height), tf.identity(width)

    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def _spatial_size(self, shape):
        if self.data_format == "channels_last":
            return shape[1], shape[2]
        return shape[2], shape[3]

    def _maps_shape(self, shape):
        height, width = self._spatial_size(shape)
        if self.data_format == "channels_last":
            return (shape[0], height, width, self.positional_channels)
        return (shape[0], self.positional_channels, height, width)

    def _layout(self):
        if self.data_format == "channels_last":
            return "(batch_size, height, width, channels) with data_format='channels_last'"
        return "(batch_size, channels, height, width) with data_format='channels_first'"


def _normalized_coordinates(size):
    """Return `2 * i / (size - 1) - 1` for i in [0, size) as float32, or [0] for size 1.

    Written as `(2 * i - (size - 1)) / max(size - 1, 1)`, which is the same value, needs no
    branch on a dynamic size, and makes both ends exactly -1 and 1.
    """
    positions = ops.cast(ops.arange(size), "float32")
    last_index = ops.cast(size - 1, "float32")
    span = ops.maximum(last_index, 1.0)
    return (2.0 * positions - last_index) / span


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")
    return bool(value)


def _check_optional_size(name, value, beta_maps):
    if value is None:
        if beta_maps:
            raise ValueError(
                f"`{name}` is required when `beta_maps` > 0, because the Beta maps are drawn "
                f"at that size. Received: {name}=None, beta_maps={beta_maps}"
            )
        return None
    return check_positive_int(name, value)


def _standardize_data_format(data_format):
    if data_format is None:
        return keras.config.image_data_format()
    if data_format not in DATA_FORMATS:
        raise ValueError(
            "`data_format` must be 'channels_last', 'channels_first' or None. "
            f"Received: data_format={data_format!r}"
        )
    return data_format
