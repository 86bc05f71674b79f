"""TensorBoard views of the experiments: the HParams table, activation histograms, images.

- `write_hparams_config` writes one HParams experiment config per experiment folder, so
  the HParams dashboard shows every variant and seed of the experiment in one table.
- `ActivationHistogram` logs the distribution of one layer's activations on a fixed batch
  after each epoch, and keeps the last mean and standard deviation.
- `log_positional_tables` and `log_coordinate_channels` log position tables (sinusoidal,
  beta, learned) and the channels of `PositionalChannel2D` as images (`tf.summary.image`).

Example:
    write_hparams_config("runs/experiments/input_encoding", {"variant": ["onehot", "frozen"]},
                         [("epoch_auc", "validation")])
    tensorboard --logdir runs/experiments/input_encoding
"""

import keras
import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api


def write_hparams_config(log_dir, domains, metrics):
    """Write the HParams experiment config: the hparam domains and the metrics to compare.

    Args:
        log_dir: the experiment folder; TensorBoard reads it as the logdir root.
        domains: dict hparam name -> list of the values it takes (str, int, float or bool).
        metrics: list of `(tag, group)` pairs, e.g. `("epoch_auc", "validation")`, where
            `group` is the subfolder of each run's log folder that contains the scalar.

    Example:
    >>> write_hparams_config(folder, {"variant": ["none", "coords"], "seed": [0, 1, 2]},
    ...                      [("epoch_loss", "validation")])
    """
    hparams = [
        hparams_api.HParam(name, hparams_api.Discrete(sorted(set(values))))
        for name, values in sorted(domains.items())
    ]
    metric_list = [
        hparams_api.Metric(tag, group=group, display_name=f"{group} {tag}") for tag, group in metrics
    ]
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        hparams_api.hparams_config(hparams=hparams, metrics=metric_list)
    writer.close()


class ActivationHistogram(keras.callbacks.Callback):
    """Log one layer's activations on a fixed batch as a histogram after each epoch.

    The callback also writes the mean and standard deviation as scalars and keeps the
    values of the last epoch in `stats` (`{"mean": ..., "std": ..., "fraction_zero": ...}`).

    Args:
        layer_name: name of the layer whose output is logged, e.g. `"hidden_0"`.
        inputs: one input batch in the model's input structure.
        log_dir: folder of the event file (a `activations/` subfolder of a run's logs).

    Example:
    >>> callback = ActivationHistogram("hidden_0", validation_batch, run.join("logs", "activations"))
    """

    def __init__(self, layer_name, inputs, log_dir):
        super().__init__()
        self.layer_name = layer_name
        self.inputs = inputs
        self.log_dir = log_dir
        self.stats = {}
        self._probe = None
        self._writer = None

    def _activations(self):
        if self._probe is None:
            layer = self.model.get_layer(self.layer_name)
            self._probe = keras.Model(self.model.inputs, layer.output)
        return np.asarray(self._probe(self.inputs, training=False))

    def current_stats(self, values=None):
        """Return the mean, standard deviation and share of zeros of the layer's activations now."""
        values = self._activations() if values is None else values
        return {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "fraction_zero": float(np.mean(values == 0)),
        }

    def on_epoch_end(self, epoch, logs=None):
        values = self._activations()
        self.stats = self.current_stats(values)
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.histogram(f"activations/{self.layer_name}", values, step=epoch)
            tf.summary.scalar(f"activations/{self.layer_name}_mean", self.stats["mean"], step=epoch)
            tf.summary.scalar(f"activations/{self.layer_name}_std", self.stats["std"], step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def to_image(table):
    """Scale a 2-D array linearly to [0, 1] and shape it as one grayscale image (1, H, W, 1).

    A constant table becomes all zeros.
    """
    table = np.asarray(table, dtype=np.float32)
    if table.ndim != 2:
        raise ValueError(f"`table` must be 2-D (rows, columns). Received: shape={table.shape}")
    span = float(table.max() - table.min())
    scaled = (table - table.min()) / span if span > 0 else np.zeros_like(table)
    return scaled[None, :, :, None]


def log_positional_tables(log_dir, tables, step=0):
    """Log position tables (rows = positions, columns = features) as grayscale images.

    Args:
        log_dir: folder of the event file.
        tables: dict name -> 2-D array, e.g. `{"beta": ..., "sinusoidal": ...}`.
        step: summary step.

    Example:
    >>> log_positional_tables(folder, {"sinusoidal": position_table("sinusoidal", 16, 32)})
    """
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        for name, table in tables.items():
            tf.summary.image(f"positional_table/{name}", to_image(table), step=step)
    writer.close()


def position_table(positional, length, dim, seed=0, layer=None):
    """Return the (length, dim) position vectors that an embedding-stage scheme adds to tokens.

    Args:
        positional: `"sinusoidal"`, `"beta"` or `"learned"`.
        length: number of positions.
        dim: vector width.
        seed: seed of the beta table.
        layer: an existing `PositionalEncodingStage` (e.g. a trained model's
            `"positional_encoding"` layer) to read instead of a new one; needed for
            `"learned"`, whose table is only meaningful after training.

    Example:
    >>> position_table("beta", 16, 32).shape
    (16, 32)
    """
    from zoo.positional import build_position_layer

    if layer is None:
        layer = build_position_layer(positional, length, seed=seed)
    zeros = np.zeros((1, length, dim), dtype=np.float32)
    # With `combine="add"` the stage returns `tokens + pe`, so zero tokens give pe itself.
    return np.asarray(layer(zeros))[0]


def log_coordinate_channels(log_dir, layer, image_shape, step=0):
    """Log each channel that a `PositionalChannel2D` layer adds as a grayscale image.

    Args:
        log_dir: folder of the event file.
        layer: a `PositionalChannel2D` layer (channels last).
        image_shape: (height, width, channels) of the images the layer receives.
        step: summary step.

    Returns:
        The added channels, an array of shape (height, width, num_added).

    Example:
    >>> log_coordinate_channels(folder, positional_channels("coords", (64, 64, 1)), (64, 64, 1))
    """
    zeros = np.zeros((1,) + tuple(image_shape), dtype=np.float32)
    added = np.asarray(layer(zeros))[0, :, :, image_shape[-1]:]
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        for index in range(added.shape[-1]):
            tf.summary.image(f"coordinate_channels/{index}", to_image(added[:, :, index]), step=step)
    writer.close()
    return added
