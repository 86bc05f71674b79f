"""Atomic writes: a failed or killed writer leaves the previous file or folder readable."""

import glob
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from recipes import atomic
from tests.testing import REPOSITORY_ROOT

MARKER_TIMEOUT_SECONDS = 180
POLL_INTERVAL_SECONDS = 0.05
EXIT_TIMEOUT_SECONDS = 60


class WriterFailure(RuntimeError):
    """Raised inside an `atomic_path` block to simulate a failing writer."""


def _leftovers(directory):
    """Return the temporary and set-aside entries that the writers create in `directory`."""
    return sorted(
        os.path.basename(path)
        for pattern in (".tmp-*", ".old-*")
        for path in glob.glob(os.path.join(str(directory), pattern))
    )


def _write_folder(path, files):
    os.makedirs(path)
    for name, text in files.items():
        with open(os.path.join(path, name), "w") as file:
            file.write(text)


def _read_folder(path):
    contents = {}
    for name in sorted(os.listdir(path)):
        with open(os.path.join(path, name)) as file:
            contents[name] = file.read()
    return contents


def test_write_json_writes_and_replaces(tmp_path):
    path = tmp_path / "metrics.json"
    atomic.write_json(path, {"accuracy": 0.5, "epochs": [1, 2]})
    atomic.write_json(path, {"accuracy": 0.9})

    assert json.loads(path.read_text()) == {"accuracy": 0.9}
    assert _leftovers(tmp_path) == []


def test_write_json_creates_parent_folders(tmp_path):
    path = tmp_path / "runs" / "demo" / "config.json"
    atomic.write_json(path, {"seed": 0})
    assert json.loads(path.read_text()) == {"seed": 0}


# NOTE: write_json creates its temporary with delete=False and removes it only by the
# final os.replace, so a failing json.dump leaves a `.tmp-*.json` file behind.
def test_write_json_failure_keeps_previous_file(tmp_path):
    path = tmp_path / "metrics.json"
    atomic.write_json(path, {"accuracy": 0.5})

    with pytest.raises(TypeError, match="not JSON serializable"):
        atomic.write_json(path, {"accuracy": object()})

    assert json.loads(path.read_text()) == {"accuracy": 0.5}
    assert _leftovers(tmp_path) == []


def test_atomic_path_replaces_file(tmp_path):
    path = tmp_path / "model.keras"
    path.write_text("old")
    with atomic.atomic_path(path) as temporary:
        assert not os.path.exists(temporary)
        assert os.path.dirname(os.path.dirname(temporary)) == str(tmp_path)
        with open(temporary, "w") as file:
            file.write("new")

    assert path.read_text() == "new"
    assert _leftovers(tmp_path) == []


def test_atomic_path_failure_keeps_file(tmp_path):
    path = tmp_path / "model.keras"
    path.write_text("old")
    with pytest.raises(WriterFailure):
        with atomic.atomic_path(path) as temporary:
            with open(temporary, "w") as file:
                file.write("half")
            raise WriterFailure("writer failed")

    assert path.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_atomic_path_replaces_folder(tmp_path):
    path = tmp_path / "saved_model"
    _write_folder(path, {"saved_model.pb": "old", "old_only.txt": "old"})
    with atomic.atomic_path(path) as temporary:
        _write_folder(temporary, {"saved_model.pb": "new"})

    assert _read_folder(path) == {"saved_model.pb": "new"}
    assert _leftovers(tmp_path) == []


def test_atomic_path_failure_keeps_folder(tmp_path):
    path = tmp_path / "saved_model"
    _write_folder(path, {"saved_model.pb": "old"})
    with pytest.raises(WriterFailure):
        with atomic.atomic_path(path) as temporary:
            _write_folder(temporary, {"saved_model.pb": "half"})
            raise WriterFailure("writer failed")

    assert _read_folder(path) == {"saved_model.pb": "old"}
    assert _leftovers(tmp_path) == []


def test_atomic_path_creates_new_folder(tmp_path):
    path = tmp_path / "runs" / "demo" / "saved_model"
    with atomic.atomic_path(path) as temporary:
        _write_folder(temporary, {"saved_model.pb": "new"})

    assert _read_folder(path) == {"saved_model.pb": "new"}
    assert _leftovers(path.parent) == []


def test_atomic_path_block_writing_nothing_raises(tmp_path):
    path = tmp_path / "model.keras"
    path.write_text("old")
    with pytest.raises(FileNotFoundError):
        with atomic.atomic_path(path):
            pass

    assert path.read_text() == "old"
    assert _leftovers(tmp_path) == []


# A child process that exports a new model over an existing SavedModel with
# `recipes.export.export_saved_model` and stops at a chosen point, where it creates the
# marker file and sleeps until it is killed:
#   "exported": the new SavedModel is complete in the temporary path, before any rename.
#   "set_aside": the old SavedModel has been moved to its `.old-` folder, before the new
#                one is renamed into place.
_INTERRUPTED_EXPORT = textwrap.dedent(
    """
    import os
    import sys
    import time

    import keras
    import tensorflow as tf

    from recipes import atomic, export

    marker, path, stop_point = sys.argv[1:4]


    def pause():
        with open(marker, "w") as file:
            file.write(stop_point)
        time.sleep(600)


    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])

    if stop_point == "exported":
        export_now = model.export

        def export_then_pause(filepath, **kwargs):
            export_now(filepath, **kwargs)
            pause()

        model.export = export_then_pause
    else:
        replace_now = os.replace

        def replace_then_pause(source, destination):
            replace_now(source, destination)
            if os.path.basename(os.path.dirname(destination)).startswith(".old-"):
                pause()

        atomic.os.replace = replace_then_pause

    export.export_saved_model(model, path, [tf.TensorSpec([None, 3], tf.float32)])
    """
)


def _export_then_kill(path, marker, stop_point):
    """Run `_INTERRUPTED_EXPORT` and send SIGKILL once it reaches `stop_point`."""
    process = subprocess.Popen(
        [sys.executable, "-c", _INTERRUPTED_EXPORT, str(marker), str(path), stop_point],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPOSITORY_ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    try:
        deadline = time.monotonic() + MARKER_TIMEOUT_SECONDS
        while not marker.exists():
            if process.poll() is not None:
                pytest.fail(f"export exited before the stop point:\n{process.stderr.read()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"export did not reach the stop point within {MARKER_TIMEOUT_SECONDS} s")
            time.sleep(POLL_INTERVAL_SECONDS)

        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=EXIT_TIMEOUT_SECONDS) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


@pytest.fixture
def good_export(tmp_path):
    """A SavedModel at `tmp_path/saved_model`, the inputs it is checked on and its outputs."""
    import keras
    import tensorflow as tf

    from recipes import export

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = tmp_path / "saved_model"
    export.export_saved_model(model, path, [tf.TensorSpec([None, 3], tf.float32)])

    inputs = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    return path, inputs, _serve(path, inputs)


def _serve(path, inputs):
    import tensorflow as tf

    # Keep the loaded object referenced while `serve` runs: it owns the variables.
    serving = tf.saved_model.load(str(path))
    return serving.serve(tf.constant(inputs)).numpy()


def test_export_killed_before_rename_keeps_export(good_export, tmp_path):
    path, inputs, outputs = good_export
    _export_then_kill(path, tmp_path / "stopped", "exported")

    np.testing.assert_array_equal(_serve(path, inputs), outputs)
    assert not glob.glob(str(tmp_path / ".old-*")), "the old export was moved aside"
    # The killed writer never reached its cleanup, so its finished temporary export remains.
    new_exports = glob.glob(str(tmp_path / ".tmp-saved_model-*" / "saved_model"))
    assert len(new_exports) == 1
    assert not np.array_equal(_serve(new_exports[0], inputs), outputs)


def test_export_killed_between_renames_keeps_old_copy(good_export, tmp_path):
    path, inputs, outputs = good_export
    _export_then_kill(path, tmp_path / "stopped", "set_aside")

    # os.replace cannot swap two folders in one step, so between the two renames the old
    # export is only in its `.old-` folder and nothing is at `path`.
    set_aside = glob.glob(str(tmp_path / ".old-saved_model-*" / "saved_model"))
    assert len(set_aside) == 1
    np.testing.assert_array_equal(_serve(set_aside[0], inputs), outputs)


def test_recover_restores_previous_folder(tmp_path):
    destination = tmp_path / "saved_model"
    old = tmp_path / ".old-saved_model-abc"
    (old / "saved_model").mkdir(parents=True)
    (old / "saved_model" / "weights").write_text("previous")
    stale = tmp_path / ".tmp-saved_model-xyz"
    stale.mkdir()

    atomic.recover_interrupted(destination)

    assert (destination / "weights").read_text() == "previous"
    assert not old.exists()
    assert not stale.exists()


def test_recover_keeps_current_folder(tmp_path):
    destination = tmp_path / "saved_model"
    destination.mkdir()
    (destination / "weights").write_text("current")
    old = tmp_path / ".old-saved_model-abc"
    (old / "saved_model").mkdir(parents=True)

    atomic.recover_interrupted(destination)

    assert (destination / "weights").read_text() == "current"
    assert not old.exists()
