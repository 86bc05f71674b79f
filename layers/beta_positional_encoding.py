"""A fixed positional encoding table drawn once from a Beta distribution."""

import math
import numbers

import keras
import numpy as np
import tensorflow as tf
from keras import ops

FLOAT32_MAX = float(np.finfo(np.float32).max)


@keras.saving.register_keras_serializable(package="encoding_zoo")
class RandomBeta(keras.initializers.Initializer):
    """Initializer that draws Beta(alpha, beta) values rescaled to [minval, maxval].

    Each value is `minval + (maxval - minval) * b` with `b` drawn by
    `np.random.default_rng(seed).beta(alpha, beta, size=shape)` in float64, then cast to the
    requested dtype. The same seed and shape give bit-identical values in every process that
    uses the same NumPy version on the same platform.

    NOTE: NumPy does not promise that `Generator.beta` returns the same stream across NumPy
    releases, and its sampler calls the platform's `log`/`exp`/`pow`, so values may differ in
    the last bits across NumPy versions or C math libraries. pyproject.toml pins NumPy.

    Args:
        alpha: float, first shape parameter of the Beta distribution. Must be positive.
        beta: float, second shape parameter of the Beta distribution. Must be positive.
        minval: float, the value that a draw of 0 maps to.
        maxval: float, the value that a draw of 1 maps to. Must be greater than `minval`.
        seed: non-negative int, the seed of NumPy's default generator.

    Example:
    >>> initializer = RandomBeta(alpha=0.5, beta=0.5, minval=-1.0, maxval=1.0, seed=0)
    >>> values = initializer(shape=(4, 3))
    """

    def __init__(self, alpha=0.5, beta=0.5, minval=-1.0, maxval=1.0, seed=0):
        self.alpha = check_positive_float("alpha", alpha)
        self.beta = check_positive_float("beta", beta)
        self.minval, self.maxval = check_range(minval, maxval)
        self.seed = check_non_negative_int("seed", seed)

    def __call__(self, shape, dtype=None):
        generator = np.random.default_rng(self.seed)
        draws = generator.beta(self.alpha, self.beta, size=tuple(shape))

        values = self.minval + (self.maxval - self.minval) * draws
        # Keras casts rather than NumPy, because NumPy has no bfloat16.
        return ops.cast(ops.convert_to_tensor(values), dtype or keras.config.floatx())

    def get_config(self):
        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "minval": self.minval,
            "maxval": self.maxval,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="encoding_zoo")
class BetaPositionalEncoding(keras.layers.Layer):
    """Adds a fixed positional encoding drawn once from a Beta distribution.

    The layer stores a table `pe` of shape `(max_length, hidden_dim)`, drawn once from
    Beta(alpha, beta) and rescaled linearly from [0, 1] to [minval, maxval]. It returns
    `inputs + pe[start_index : start_index + sequence_length]`. For `alpha, beta < 1` the
    Beta density is U-shaped, so most entries sit near `minval` and `maxval`. For
    `alpha, beta > 1` it is hump-shaped around the middle of the range.

    The table comes from NumPy's `np.random.default_rng(seed)`, so the same `seed`,
    `max_length` and `hidden_dim` rebuild the same table in any process (see `RandomBeta`
    for the limits of that promise). It is a non-trainable weight: saved with the model's
    weights, never in its config, and unchanged by training. In `call` it is cast to the
    layer's compute dtype, so it adds to float16 or bfloat16 inputs under a mixed precision
    policy.

    The input has shape `(batch_size, sequence_length, hidden_dim)` and the output has the
    same shape. `hidden_dim` must be known when the layer is built, but `sequence_length` may
    be `None` and may change between calls, up to `max_length`. An input mask passes through
    unchanged, because the layer adds the same vector to every sequence in the batch and
    never moves or drops a position.

    Args:
        max_length: int, the maximum number of positions, that is the maximum of
            `start_index + sequence_length`.
        alpha: float, first shape parameter of the Beta distribution. Must be positive and
            finite. Defaults to `0.5`.
        beta: float, second shape parameter of the Beta distribution. Must be positive and
            finite. Defaults to `0.5`.
        seed: non-negative int, the seed of the NumPy generator that draws the table.
            Defaults to `0`.
        minval: float, the lower end of the table's range. Defaults to `-1.0`.
        maxval: float, the upper end of the table's range. Must be greater than `minval`.
            Defaults to `1.0`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`, including `name`,
            `dtype` and `trainable`.

    Call arguments:
        inputs: float tensor of shape `(batch_size, sequence_length, hidden_dim)`.
        start_index: int or integer scalar tensor, the position of the first input step.
            Useful in cached decoding, where one step is fed at a time. Defaults to `0`.

    Raises:
        ValueError: when `start_index + sequence_length > max_length` and both are known
            when the layer is called (statically, for example in a functional model).
        tf.errors.InvalidArgumentError: in the same case when the sequence length or
            `start_index` is known only at run time, for example in an exported
            SavedModel with a `None` sequence length. The error data contains both values.

    Example:
    >>> token_ids = np.array([[5, 3, 9, 0]])
    >>> embedded = keras.layers.Embedding(10, 8, mask_zero=True)(token_ids)
    >>> encoded = BetaPositionalEncoding(max_length=16, seed=1)(embedded)
    >>> tuple(encoded.shape)
    (1, 4, 8)

    References:
     - [Beta distribution](https://en.wikipedia.org/wiki/Beta_distribution)
     - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762), the `x + pe` scheme
       with a fixed sinusoidal table.
    """

    def __init__(
        self,
        max_length,
        alpha=0.5,
        beta=0.5,
        seed=0,
        minval=-1.0,
        maxval=1.0,
        **kwargs,
    ):
        max_length = check_positive_int("max_length", max_length)
        alpha = check_positive_float("alpha", alpha)
        beta = check_positive_float("beta", beta)
        seed = check_non_negative_int("seed", seed)
        minval, maxval = check_range(minval, maxval)

        super().__init__(**kwargs)
        self.max_length = max_length
        self.alpha = alpha
        self.beta = beta
        self.seed = seed
        self.minval = minval
        self.maxval = maxval
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape "
                "(batch_size, sequence_length, hidden_dim). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        hidden_dim = input_shape[-1]
        if hidden_dim is None:
            raise ValueError(
                f"{type(self).__name__} needs a known last axis (hidden_dim) to build its "
                f"table. Received: input_shape={tuple(input_shape)}"
            )
        self._check_length(input_shape[-2], start_index=0)

        self.positional_encoding = self.add_weight(
            name="positional_encoding",
            shape=(self.max_length, hidden_dim),
            initializer=RandomBeta(self.alpha, self.beta, self.minval, self.maxval, self.seed),
            trainable=False,
        )
        self.input_spec = keras.InputSpec(ndim=3, axes={-1: hidden_dim})

    def call(self, inputs, start_index=0):
        _check_float_inputs(inputs, type(self).__name__)
        start_index = _check_start_index(start_index)
        shape = ops.shape(inputs)
        sequence_length, hidden_dim = shape[-2], shape[-1]
        start_index = self._check_length(sequence_length, start_index)

        positions = ops.slice(
            self.positional_encoding, (start_index, 0), (sequence_length, hidden_dim)
        )
        return inputs + ops.cast(positions, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_length": self.max_length,
                "alpha": self.alpha,
                "beta": self.beta,
                "seed": self.seed,
                "minval": self.minval,
                "maxval": self.maxval,
            }
        )
        return config

    def _check_length(self, sequence_length, start_index):
        """Raise if positions past `max_length` are needed, and return `start_index`.

        Python ints are checked now, with a `ValueError`. Tensors get a TensorFlow
        assertion, and the returned `start_index` depends on it, so a graph or SavedModel
        raises before it slices the table.
        """
        if sequence_length is None:
            return start_index
        if _is_static_int(sequence_length) and _is_static_int(start_index):
            self._check_static_length(int(sequence_length), int(start_index))
            return start_index

        # NOTE: only the TensorFlow backend has dynamic shapes here. Under other backends a
        # traced `start_index` is not checked and the slice clamps it, as
        # `jax.lax.dynamic_slice` does.
        if keras.backend.backend() != "tensorflow":
            return start_index
        return self._assert_length(sequence_length, start_index)

    def _check_static_length(self, sequence_length, start_index):
        if start_index < 0:
            raise ValueError(
                f"`start_index` must be a non-negative integer. Received: start_index={start_index}"
            )
        end = start_index + sequence_length
        if end <= self.max_length:
            return
        if start_index == 0:
            problem = f"The sequence length {sequence_length} exceeds"
        else:
            problem = (
                f"start_index + sequence length ({start_index} + {sequence_length} = {end}) "
                "exceeds"
            )
        raise ValueError(
            f"{problem} max_length={self.max_length} of {type(self).__name__} "
            f"'{self.name}'. Shorten the input, or create the layer with "
            f"max_length >= {end}."
        )

    def _assert_length(self, sequence_length, start_index):
        # NOTE: XLA drops `tf.debugging.Assert`. Under `jit_compile=True` (TensorFlow 2.21 on
        # CPU) an overlong input fails in the slice instead, with "Expected size[0] in [0, N]".
        sequence_length = tf.cast(sequence_length, "int32")
        start_index = tf.cast(start_index, "int32")
        values = ["sequence length:", sequence_length, "start_index:", start_index]

        non_negative = tf.debugging.Assert(
            start_index >= 0,
            ["`start_index` must be a non-negative integer.", *values],
        )
        within_table = tf.debugging.Assert(
            start_index + sequence_length <= self.max_length,
            [
                f"The sequence length exceeds max_length={self.max_length} of "
                f"{type(self).__name__} '{self.name}', because start_index + sequence length "
                f"must be at most {self.max_length}. Shorten the input, or create the layer "
                "with a larger max_length.",
                *values,
            ],
        )

        # In eager mode the assertions have run already and return None.
        checks = [check for check in (non_negative, within_table) if check is not None]
        with tf.control_dependencies(checks):
            return tf.identity(start_index)


def _is_static_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(name, value):
    """Return `value` as an int, or raise a `ValueError` naming the argument."""
    if not _is_static_int(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def check_non_negative_int(name, value):
    """Return `value` as an int, or raise a `ValueError` naming the argument."""
    if not _is_static_int(value) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer. Received: {name}={value!r}")
    return int(value)


def check_finite_float(name, value):
    """Return `value` as a float, or raise a `ValueError` naming the argument."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number. Received: {name}={value!r}")
    return float(value)


def check_positive_float(name, value):
    """Return `value` as a float, or raise a `ValueError` naming the argument."""
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"`{name}` must be a positive finite number. Received: {name}={value!r}")
    return float(value)


def check_range(minval, maxval):
    """Return `(minval, maxval)` as floats, or raise unless `minval < maxval` in float32 range."""
    minval = check_finite_float("minval", minval)
    maxval = check_finite_float("maxval", maxval)
    if not minval < maxval:
        raise ValueError(
            "`minval` must be less than `maxval`. "
            f"Received: minval={minval!r}, maxval={maxval!r}"
        )
    # The table is a float32 weight, so both ends and the width must be finite in float32.
    if max(abs(minval), abs(maxval), maxval - minval) > FLOAT32_MAX:
        raise ValueError(
            f"`minval` and `maxval` must span a range that float32 can store (|value| <= {FLOAT32_MAX:.3g}). "
            f"Received: minval={minval!r}, maxval={maxval!r}"
        )
    return minval, maxval


def _check_float_inputs(inputs, layer_name):
    dtype = keras.backend.standardize_dtype(inputs.dtype)
    if not dtype.startswith(("float", "bfloat")):
        raise TypeError(
            f"{layer_name} adds a float table, so it expects float inputs such as token "
            f"embeddings. Received inputs of dtype {dtype}. Embed or cast them first."
        )


def _check_start_index(start_index):
    """Reject a bool or fractional `start_index`; tensors pass and are checked later."""
    if isinstance(start_index, (bool, np.bool_)) or isinstance(start_index, (float, np.floating, str)):
        raise TypeError(
            f"`start_index` must be an integer or an integer tensor. Received: start_index={start_index!r}"
        )
    if hasattr(start_index, "dtype") and "int" not in keras.backend.standardize_dtype(start_index.dtype):
        raise TypeError(
            "`start_index` must be an integer or an integer tensor. "
            f"Received a tensor of dtype {keras.backend.standardize_dtype(start_index.dtype)}"
        )
    return start_index
