"""Save, export and reload trained models without leaving half-written files behind."""

import numpy as np
import tensorflow as tf

from recipes import atomic


def save_keras_model(model, path):
    """Save `model` in `.keras` format at `path`, atomically.

    Example:
    >>> save_keras_model(model, "runs/demo/model.keras")
    """
    with atomic.atomic_path(path) as temporary:
        model.save(temporary)


def export_saved_model(model, path, input_signature):
    """Export `model` as a TF SavedModel at `path`, atomically.

    The serving endpoint is `serve`. Only the dimensions that `input_signature` leaves as
    `None` stay variable, and its dtypes are kept (int32 ids stay int32).

    Args:
        model: a built Keras model.
        path: the destination folder.
        input_signature: list of `tf.TensorSpec`, one per model input.

    Example:
    >>> export_saved_model(model, "runs/demo/saved_model",
    ...                    [tf.TensorSpec([None, 28, 28, 1], tf.float32)])
    """
    with atomic.atomic_path(path) as temporary:
        model.export(
            temporary, format="tf_saved_model", input_signature=input_signature, verbose=False
        )


def predict_with_saved_model(path, inputs, batch_size=1024):
    """Run an exported SavedModel's `serve` endpoint over `inputs` in batches.

    Args:
        path: folder of a SavedModel written by `export_saved_model`.
        inputs: a NumPy array whose dtype matches the serving signature.
        batch_size: examples per serving call.

    Returns:
        The concatenated NumPy outputs.

    Example:
    >>> logits = predict_with_saved_model("runs/demo/saved_model", x_test)
    """
    serving = tf.saved_model.load(path)
    outputs = [
        serving.serve(tf.constant(inputs[start : start + batch_size])).numpy()
        for start in range(0, len(inputs), batch_size)
    ]
    return np.concatenate(outputs, axis=0)
