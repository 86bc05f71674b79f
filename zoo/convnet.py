"""ConvNet builders with optional positional input channels.

A plain ConvNet learns where things are only through padding effects and, with a flattening
head, through the head's weights. CoordConv (Liu et al. 2018, arXiv 1807.03247) gives the
convolutions the position directly as extra input channels; `PositionalChannel2D` adds
those channels (coordinates, radius, sinusoidal or fixed Beta maps) before a convolution.
"""

import keras

from layers.positional_channel_2d import PositionalChannel2D

# Positional variants of the ConvNet family, mapped to `PositionalChannel2D` arguments.
POSITIONAL_CHANNELS = {
    "none": None,
    "coords": {},
    "coords_radius": {"with_radius": True},
    "sinusoidal": {"sinusoidal_frequencies": 3},
    "beta": {"beta_maps": 4},
}
HEADS = ("classification", "regression")
POOLINGS = ("avg", "max", "flatten")


def _validate(positional, head, pooling, filters, output_units):
    if positional not in POSITIONAL_CHANNELS:
        raise ValueError(
            f"Unknown ConvNet `positional` variant {positional!r}. "
            f"Use one of {sorted(POSITIONAL_CHANNELS)}."
        )
    if head not in HEADS:
        raise ValueError(f"`head` must be one of {HEADS}. Received: head={head!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"`pooling` must be one of {POOLINGS}. Received: pooling={pooling!r}")
    if not filters or any(not isinstance(f, int) or f <= 0 for f in filters):
        raise ValueError(
            f"`filters` must be a non-empty sequence of positive integers. Received: filters={filters!r}"
        )
    if not isinstance(output_units, int) or isinstance(output_units, bool) or output_units <= 0:
        raise ValueError(
            f"`output_units` must be a positive integer. Received: output_units={output_units!r}"
        )


def positional_channels(positional, image_shape, seed=0, name=None):
    """Build the `PositionalChannel2D` layer of a positional variant, or `None` for `"none"`.

    Args:
        positional: a key of `POSITIONAL_CHANNELS`.
        image_shape: (height, width, channels); fixed Beta maps need a known height and width.
        seed: seed of the fixed Beta maps.
        name: layer name.

    Example:
    >>> positional_channels("coords", (28, 28, 1))
    """
    arguments = POSITIONAL_CHANNELS[positional]
    if arguments is None:
        return None
    arguments = dict(arguments)
    if arguments.get("beta_maps"):
        height, width = image_shape[0], image_shape[1]
        if height is None or width is None:
            raise ValueError(
                "The `beta` ConvNet variant needs a fixed image height and width for its maps. "
                f"Received: image_shape={image_shape}"
            )
        arguments.update(max_height=height, max_width=width, seed=seed)
    return PositionalChannel2D(name=name, **arguments)


def build_convnet(
    image_shape=(28, 28, 1),
    output_units=10,
    positional="none",
    head="classification",
    filters=(32, 64),
    pooling="avg",
    positional_every_block=False,
    dropout=0.2,
    seed=0,
    name=None,
):
    """Build a small ConvNet for image classification or coordinate regression.

    Each block is Conv2D(3x3, ReLU) twice, then 2x2 max pooling except after the last
    block. Pixel values in [0, 255] are rescaled to [0, 1] inside the model, so the
    exported model serves raw pixel values.

    Args:
        image_shape: (height, width, channels), channels last; height and width may be
            `None` for a variable image size unless `pooling="flatten"` or `positional="beta"`.
        output_units: number of classes (logits) or of regression targets.
        positional: positional input channels, a key of `POSITIONAL_CHANNELS`: `"none"`,
            `"coords"` (x and y, CoordConv), `"coords_radius"`, `"sinusoidal"` or `"beta"`.
        head: `"classification"` (logits) or `"regression"` (linear outputs).
        filters: filters of each block.
        pooling: how the last feature map becomes a vector: `"avg"`, `"max"` (global
            pooling) or `"flatten"`.
        positional_every_block: add the positional channels before every block, not
            only before the first.
        dropout: dropout rate before the output layer.
        seed: seed of fixed random positional maps.
        name: model name; defaults to `convnet_<positional>`.

    Returns:
        A `keras.Model` from float32 images of shape (batch, *image_shape) to
        (batch, output_units).

    Example:
    >>> model = build_convnet((28, 28, 1), output_units=10, positional="coords")
    >>> model.output_shape
    (None, 10)
    """
    _validate(positional, head, pooling, tuple(filters), output_units)
    if pooling == "flatten" and None in tuple(image_shape[:2]):
        raise ValueError(
            f"`pooling='flatten'` needs a fixed image size. Received: image_shape={image_shape}. "
            "Use pooling='avg' for a variable image size."
        )

    images = keras.Input(shape=tuple(image_shape), dtype="float32", name="images")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(images)
    for block, block_filters in enumerate(filters):
        if block == 0 or positional_every_block:
            channels = positional_channels(positional, image_shape, seed, f"positional_{block}")
            if channels is not None:
                x = channels(x)
        for index in range(2):
            x = keras.layers.Conv2D(
                block_filters, 3, padding="same", activation="relu",
                kernel_initializer="he_normal", name=f"block{block}_conv{index}",
            )(x)
        if block < len(filters) - 1:
            x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)

    if pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(name="pool")(x)
    else:
        x = keras.layers.Flatten(name="pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(output_units, name="logits" if head == "classification" else "outputs")(x)
    return keras.Model(images, outputs, name=name or f"convnet_{positional}")
