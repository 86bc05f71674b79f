"""Experiment for claim 6: positional input channels in ConvNets (CoordConv).

Three groups of runs, each on the "uniform" and the "quadrant" split of positions (the
quadrant split holds out every position in the bottom-right quadrant):

- "regression": Not-so-Clevr, image of one square to its centre (x, y) in [-1, 1], with the
  zoo's ConvNet (`zoo.convnet.build_convnet`, global average pooling, He-normal kernels).
  Scored by the mean absolute error of the centre, also given in pixels.
- "heatmap": Not-so-Clevr, image to the pixel of the square's centre, as a softmax over all
  canvas pixels from a fully convolutional network (no pooling, a 1x1 convolution gives one
  logit per pixel). Scored by test accuracy. A dense head over position ids could not name
  a position it never saw in training, which every test position is.
- "placed": Fashion-MNIST items pasted on a larger canvas (`zoo.data.placed_items`),
  image to the item's centre, as in "regression".

Each group compares the plain ConvNet ("none") with coordinate channels ("coords") and the
other channels of `zoo.convnet.POSITIONAL_CHANNELS`, at equal epochs and learning rate.

Run time on the project's 2-core CPU machine, summed over the runs' wall times: quick mode
(54 runs, 3 seeds) 1.6 min; full mode (90 runs) 45.5 min, of which regression 27.2,
heatmap 8.7 and placed items 9.6 min. Part of the regression runs shared the cores with
other jobs.

Example:
    python -m recipes.experiments.convnet_positions_claims --quick --seeds 0,1,2
"""

import functools

import keras
import numpy as np

from recipes.experiments import runner
from recipes.tensorboard_views import log_coordinate_channels
from zoo.convnet import POSITIONAL_CHANNELS, build_convnet, positional_channels
from zoo.data.not_so_clevr import load_not_so_clevr
from zoo.data.placed_items import load_placed_items
from zoo.data.splits import to_tf_dataset

EXPERIMENT = "convnet_positions_claims"
SPLITS = ("uniform", "quadrant")
SETTINGS = {
    "quick": {
        "variants": ("none", "coords", "beta"),
        "canvas_size": 32, "square_size": 5, "filters": (8, 16), "epochs": 8, "batch_size": 32,
        "heatmap": {"variants": ("none", "coords", "beta"), "filters": (8, 16), "epochs": 8},
        "placed": {"variants": ("none", "coords", "beta"), "canvas_size": 40, "num_train": 800,
                   "num_validation": 200, "num_test": 400, "epochs": 3},
    },
    "full": {
        "variants": tuple(POSITIONAL_CHANNELS),
        "canvas_size": 64, "square_size": 9, "filters": (16, 32), "epochs": 20, "batch_size": 32,
        # The heatmap network keeps full resolution in every layer, so it is narrower and
        # trains fewer epochs than the regressor, to fit a similar time. Placed items likewise.
        "heatmap": {"variants": tuple(POSITIONAL_CHANNELS), "filters": (8, 16), "epochs": 10},
        "placed": {"variants": tuple(POSITIONAL_CHANNELS), "canvas_size": 64, "num_train": 3_000,
                   "num_validation": 500, "num_test": 1_000, "epochs": 8},
    },
}
LEARNING_RATE = 1e-3


@functools.lru_cache(maxsize=None)
def load_squares(split, canvas_size, square_size):
    """Generate Not-so-Clevr once per process (split seed 0 for every run)."""
    return load_not_so_clevr(split, canvas_size=canvas_size, square_size=square_size, seed=0)


@functools.lru_cache(maxsize=None)
def load_placed(split, canvas_size, num_train, num_validation, num_test):
    """Generate placed items once per process (seed 0 for every run)."""
    return load_placed_items(split, canvas_size=canvas_size, num_train=num_train,
                             num_validation=num_validation, num_test=num_test, seed=0)


def build_regressor(image_shape, positional, filters, seed):
    """Build and compile the zoo ConvNet that regresses a centre (x, y)."""
    model = build_convnet(image_shape, output_units=2, positional=positional, head="regression",
                          filters=filters, pooling="avg", seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="mean_squared_error",
                  metrics=[keras.metrics.MeanAbsoluteError(name="mean_absolute_error")])
    return model


def build_heatmap_locator(image_shape, positional, filters, seed):
    """Build a fully convolutional network with one logit per pixel for the centre pixel.

    Layout: rescaling to [0, 1], the positional channels of `positional`, two 3x3 ReLU
    convolutions per entry of `filters` at full resolution (He-normal kernels), then a 1x1
    convolution to one channel, flattened to `height * width` logits.

    Example:
    >>> model = build_heatmap_locator((32, 32, 1), "coords", (8, 16), seed=0)
    >>> model.output_shape
    (None, 1024)
    """
    images = keras.Input(shape=tuple(image_shape), dtype="float32", name="images")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(images)
    channels = positional_channels(positional, image_shape, seed, "positional_0")
    if channels is not None:
        x = channels(x)
    for block, block_filters in enumerate(filters):
        for index in range(2):
            x = keras.layers.Conv2D(block_filters, 3, padding="same", activation="relu",
                                    kernel_initializer="he_normal", name=f"block{block}_conv{index}")(x)
    x = keras.layers.Conv2D(1, 1, name="pixel_logits")(x)
    logits = keras.layers.Flatten(name="flatten_logits")(x)
    model = keras.Model(images, logits, name=f"heatmap_{positional}")
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def _images(split):
    return split.images.astype(np.float32)


def _squares_spec(group, split, positional, seed, settings):
    canvas, square = settings["canvas_size"], settings["square_size"]
    image_shape = (canvas, canvas, 1)

    def data():
        return load_squares(split, canvas, square)

    def datasets():
        if group == "regression":
            targets = [part.centres for part in (data().train, data().validation, data().test)]
        else:
            targets = [part.centre_pixel_ids for part in (data().train, data().validation, data().test)]
        parts = (data().train, data().validation, data().test)
        return tuple(
            to_tf_dataset(_images(part), target, batch_size=settings["batch_size"] if index == 0 else 512,
                          shuffle=index == 0, seed=seed)
            for index, (part, target) in enumerate(zip(parts, targets))
        )

    if group == "regression":
        build = functools.partial(build_regressor, image_shape, positional, settings["filters"], seed)
        monitor, mode = "mean_absolute_error", "min"
    else:
        build = functools.partial(build_heatmap_locator, image_shape, positional, settings["heatmap"]["filters"], seed)
        monitor, mode = "accuracy", "max"
    epochs = settings["epochs"] if group == "regression" else settings["heatmap"]["epochs"]
    return runner.RunSpec(
        experiment=EXPERIMENT, variant=f"{group}_{split}/{positional}", seed=seed, build_model=build,
        datasets=datasets, epochs=epochs, monitor=monitor, monitor_mode=mode,
        hparams={"group": group, "split": split, "positional": positional, "canvas_size": canvas},
        evaluate=(lambda model: pixel_error(model, data().test, canvas)) if group == "regression" else None,
        finish=functools.partial(_log_channels, positional, image_shape, seed),
    )


def pixel_error(model, split, canvas_size):
    """Return the test mean absolute error of the centre in pixels (x and y averaged)."""
    predicted = runner.predict_batches(model, _images(split))
    # Centres are normalized so that the canvas spans [-1, 1]: one pixel is 2 / (canvas - 1).
    error = np.mean(np.abs(predicted - split.centres)) * (canvas_size - 1) / 2.0
    return {"mean_absolute_error_pixels": float(error)}


def _log_channels(positional, image_shape, seed, model, run, metrics):
    layer = positional_channels(positional, image_shape, seed)
    if layer is not None:
        log_coordinate_channels(run.join("logs", "images"), layer, image_shape)


def _placed_spec(split, positional, seed, settings):
    placed = settings["placed"]
    canvas = placed["canvas_size"]

    def data():
        return load_placed(split, canvas, placed["num_train"], placed["num_validation"], placed["num_test"])

    def datasets():
        parts = (data().train, data().validation, data().test)
        return tuple(
            to_tf_dataset(_images(part), part.centres, batch_size=settings["batch_size"] if index == 0 else 512,
                          shuffle=index == 0, seed=seed)
            for index, part in enumerate(parts)
        )

    image_shape = (canvas, canvas, 1)
    return runner.RunSpec(
        experiment=EXPERIMENT, variant=f"placed_{split}/{positional}", seed=seed,
        build_model=functools.partial(build_regressor, image_shape, positional, settings["filters"], seed),
        datasets=datasets, epochs=placed["epochs"], monitor="mean_absolute_error", monitor_mode="min",
        hparams={"group": "placed", "split": split, "positional": positional, "canvas_size": canvas},
        evaluate=lambda model: pixel_error(model, data().test, canvas),
        finish=functools.partial(_log_channels, positional, image_shape, seed),
    )


def make_specs(args):
    """Return the run specs of every group, split and variant, the seeds of a variant together."""
    settings = SETTINGS[args.mode]
    specs = []
    for split in SPLITS:
        for positional in settings["variants"]:
            specs.extend(_squares_spec("regression", split, positional, seed, settings) for seed in args.seeds)
        for positional in settings["heatmap"]["variants"]:
            specs.extend(_squares_spec("heatmap", split, positional, seed, settings) for seed in args.seeds)
        for positional in settings["placed"]["variants"]:
            specs.extend(_placed_spec(split, positional, seed, settings) for seed in args.seeds)
    return specs


def main(argv=None):
    """Run the experiment from the command line; return the exit status."""
    args = runner.parse_args(EXPERIMENT, argv, description=__doc__.splitlines()[0])
    metrics = [("epoch_mean_absolute_error", "validation"), ("epoch_accuracy", "validation"),
               ("epoch_loss", "validation")]
    runner.run_experiment(EXPERIMENT, make_specs(args), args, metrics)
    return 0


if __name__ == "__main__":
    runner.main_guard(main)
