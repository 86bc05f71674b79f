"""Shared test helpers: Keras's layer-testing case plus fresh-process and export checks.

`keras.src.testing.TestCase` is private Keras API. The Keras version is pinned in
pyproject.toml, so this thin wrapper is the one place to adapt if that API moves.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap

import keras
import numpy as np
import tensorflow as tf
from keras.src.testing import TestCase

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_RELOAD_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import keras
    import layers  # registers the project layers, as a user's fresh process would

    model_path, inputs_path, outputs_path = sys.argv[1:4]
    model = keras.saving.load_model(model_path, safe_mode=True)
    inputs = np.load(inputs_path, allow_pickle=False)
    outputs = model.predict_on_batch(inputs)
    np.save(outputs_path, np.asarray(outputs))
    """
)


def run_python(code, *args, timeout=300, env=None):
    """Run `code` in a fresh Python interpreter and return its completed process.

    Args:
        code: Python source to run with `python -c`.
        *args: command-line arguments passed to the script.
        timeout: seconds before the subprocess is killed.
        env: extra environment variables.

    Example:
    >>> run_python("print(1 + 1)").stdout.strip()
    '2'
    """
    child_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPOSITORY_ROOT,
        env=child_env,
        check=False,
    )


class MaskToOutput(keras.layers.Layer):
    """Return the incoming mask as float32, so a model's output shows what mask arrived."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        return keras.ops.cast(mask, "float32")

    def compute_output_shape(self, input_shape):
        return input_shape[:-1]


class LayerTestCase(TestCase):
    """Keras `TestCase` with the project's round-trip checks for layers and models."""

    def reload_in_fresh_process(self, model, inputs):
        """Save `model` as `.keras`, reload it in a new process, return its outputs there.

        Args:
            model: a built Keras model.
            inputs: a NumPy array fed to the reloaded model's `predict_on_batch`.

        Example:
        >>> outputs = self.reload_in_fresh_process(model, ids)
        """
        directory = tempfile.mkdtemp(dir=self.get_temp_dir())
        model_path = os.path.join(directory, "model.keras")
        inputs_path = os.path.join(directory, "inputs.npy")
        outputs_path = os.path.join(directory, "outputs.npy")
        model.save(model_path)
        np.save(inputs_path, np.asarray(inputs))

        process = run_python(_RELOAD_SCRIPT, model_path, inputs_path, outputs_path)
        self.assertEqual(
            process.returncode, 0, f"reload in a fresh process failed:\n{process.stderr[-3000:]}"
        )
        return np.load(outputs_path)

    def assert_fresh_process_reload(self, model, inputs, atol=1e-6):
        """Check that a `.keras` reload in a new process gives the same outputs."""
        expected = keras.ops.convert_to_numpy(model.predict_on_batch(inputs))
        reloaded = self.reload_in_fresh_process(model, inputs)
        self.assertAllClose(expected, reloaded, atol=atol, rtol=0)

    def export_and_reload(self, model, input_signature):
        """Export `model` as a TF SavedModel and load it back with `tf.saved_model.load`.

        Args:
            model: a built Keras model.
            input_signature: list of `tf.TensorSpec` for the serving endpoint.

        Returns:
            The loaded SavedModel object; call its `serve` endpoint.

        Example:
        >>> serving = self.export_and_reload(model, [tf.TensorSpec([None, None], tf.int32)])
        """
        path = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), "exported")
        model.export(path, format="tf_saved_model", input_signature=input_signature, verbose=False)
        return tf.saved_model.load(path)

    def assert_export_roundtrip(self, model, input_signature, inputs_list, atol=1e-6):
        """Export, reload, and compare the serving outputs with the model's for each input.

        The serving function's input dtypes must still match `input_signature`, so int32 ids
        stay int32 after export.

        Args:
            model: a built Keras model.
            input_signature: list of `tf.TensorSpec` with `None` for variable dimensions.
            inputs_list: inputs of different shapes fed one at a time.
            atol: absolute tolerance of the comparison.
        """
        serving = self.export_and_reload(model, input_signature)
        serve_specs = serving.signatures["serve"].structured_input_signature[1]
        for spec, expected_spec in zip(serve_specs.values(), input_signature):
            self.assertEqual(spec.dtype, expected_spec.dtype)
            self.assertEqual(spec.shape.as_list(), expected_spec.shape.as_list())

        for inputs in inputs_list:
            expected = keras.ops.convert_to_numpy(model(inputs))
            served = serving.serve(tf.constant(inputs, dtype=input_signature[0].dtype))
            self.assertAllClose(expected, served.numpy(), atol=atol, rtol=0)


def load_json(path):
    """Read a JSON file."""
    with open(path) as file:
        return json.load(file)


# Source of a callback for test scripts that interrupt a training process at a known point.
# The script defines `marker`, `pause_epoch` and `pause_batch` and imports `keras` and
# `time`. At the pause point the callback writes the epoch to the marker file and sleeps
# until the test's signal ends the process. A negative batch pauses at the end of the epoch.
PAUSE_FOR_SIGNAL = """
class PauseForSignal(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == pause_epoch and batch == pause_batch:
            self.pause()

    def on_epoch_end(self, epoch, logs=None):
        if epoch == pause_epoch and pause_batch < 0:
            self.pause()

    def pause(self):
        with open(marker, "w") as file:
            file.write(f"{self.epoch}\\n")
        time.sleep(600)
"""
