"""Interrupted experiment runs resume from their backup and end as uninterrupted runs do.

Each run is a separate process of the transformer experiment's cmudict stress encoder
(learned positions, dropout 0.1) on a small slice, started from a script that shrinks the
quick settings and can add one callback. That callback, placed after the run's backup,
writes a marker file at a chosen step and sleeps, so the test sends its signal at a known
point. It touches no random state.

A resumed run restores the weights, optimizer state, best-epoch tracking, epoch times and
dropout seed counters, and skips the shuffles of the finished epochs. So on this CPU its
metrics are expected to equal the uninterrupted run's exactly, and they are compared with `==`.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from recipes.callbacks import EpochTimer
from recipes.experiments.backup import ExperimentBackup
from recipes.experiments.runner import BestWeights
from tests.testing import PAUSE_FOR_SIGNAL, REPOSITORY_ROOT

VARIANT = "stress/learned"
EPOCHS = 4
RUN_TIMEOUT_SECONDS = 300
MARKER_TIMEOUT_SECONDS = 180
POLL_INTERVAL_SECONDS = 0.05
EXIT_TIMEOUT_SECONDS = 60

_PAUSING_EXPERIMENT = textwrap.dedent(
    f"""
    import sys
    import time

    import keras

    from recipes.experiments import runner, transformer_positions

    marker, pause_epoch, pause_batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    transformer_positions.SETTINGS["quick"]["stress"] = {{
        "max_examples": 1_500, "epochs": {EPOCHS}, "batch_size": 64, "tiny": True,
    }}


    {{PAUSE_FOR_SIGNAL}}


    experiment_callbacks = runner.experiment_callbacks


    def callbacks_with_pause(*args, **kwargs):
        return experiment_callbacks(*args, **kwargs) + [PauseForSignal()]


    runner.experiment_callbacks = callbacks_with_pause
    sys.exit(transformer_positions.main(sys.argv[4:]))
    """
).replace("{PAUSE_FOR_SIGNAL}", PAUSE_FOR_SIGNAL)


def _command(output, marker, pause_epoch=-1, pause_batch=-1, *flags):
    return [sys.executable, "-c", _PAUSING_EXPERIMENT, str(marker), str(pause_epoch), str(pause_batch),
            "--quick", "--seeds", "0", "--only", VARIANT, "--output", str(output), *flags]


def _child_env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def _run_folder(output):
    return output / "transformer_positions" / VARIANT / "seed0"


def _run_experiment(output, *flags):
    """Run the experiment to completion in a new process and return the run folder."""
    process = subprocess.run(
        _command(output, output.parent / "unused.marker", -1, -1, *flags), capture_output=True, text=True,
        timeout=RUN_TIMEOUT_SECONDS, cwd=REPOSITORY_ROOT, env=_child_env(), check=False,
    )
    assert process.returncode == 0, f"experiment failed:\n{process.stderr[-4000:]}"
    return _run_folder(output)


def _interrupt_experiment(output, signal_number, pause_epoch, pause_batch):
    """Start the experiment, send `signal_number` at the pause point, and return the exit status."""
    marker = output.parent / f"{output.name}.paused"
    process = subprocess.Popen(
        _command(output, marker, pause_epoch, pause_batch), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, cwd=REPOSITORY_ROOT, env=_child_env(),
    )
    try:
        deadline = time.monotonic() + MARKER_TIMEOUT_SECONDS
        while not marker.exists():
            if process.poll() is not None:
                pytest.fail(f"experiment exited before the pause point:\n{process.stderr.read()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"experiment did not reach the pause point within {MARKER_TIMEOUT_SECONDS} s")
            time.sleep(POLL_INTERVAL_SECONDS)
        process.send_signal(signal_number)
        return process.wait(timeout=EXIT_TIMEOUT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


def _read_json(path):
    with open(path) as file:
        return json.load(file)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """An uninterrupted run with seed 0."""
    return _run_experiment(tmp_path_factory.mktemp("reference") / "runs")


def _check_resumed_run(run, reference, resumed_after_epoch):
    expected = _read_json(reference / "metrics.json")
    metrics = _read_json(run / "metrics.json")

    assert metrics["resumed_after_epoch"] == resumed_after_epoch
    assert expected["resumed_after_epoch"] == 0
    assert metrics["test"] == expected["test"]
    assert metrics["validation"] == expected["validation"]
    assert metrics["best_epoch"] == expected["best_epoch"]
    assert metrics["history"] == expected["history"]
    assert len(metrics["history"]["loss"]) == EPOCHS
    assert len(metrics["epoch_seconds"]) == EPOCHS
    assert not (run / "backup").exists(), "a finished run keeps no backup"


def test_sigkill_mid_epoch_then_resume(reference_run, tmp_path):
    output = tmp_path / "runs"
    exit_status = _interrupt_experiment(output, signal.SIGKILL, 2, 3)
    run = _run_folder(output)
    assert exit_status == -signal.SIGKILL
    assert not (run / "metrics.json").exists()
    assert _read_json(run / "backup" / "training_metadata.json")["epoch"] == 2

    _run_experiment(output)

    _check_resumed_run(run, reference_run, resumed_after_epoch=2)


@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_signal_at_epoch_end_then_resume(reference_run, tmp_path, signal_number):
    output = tmp_path / "runs"
    exit_status = _interrupt_experiment(output, signal_number, 0, -1)
    run = _run_folder(output)
    assert exit_status != 0
    assert _read_json(run / "backup" / "training_metadata.json")["epoch"] == 1

    _run_experiment(output)

    _check_resumed_run(run, reference_run, resumed_after_epoch=1)


def test_overwrite_restarts_an_interrupted_run(reference_run, tmp_path):
    output = tmp_path / "runs"
    _interrupt_experiment(output, signal.SIGKILL, 1, 2)

    run = _run_experiment(output, "--overwrite")

    metrics = _read_json(run / "metrics.json")
    assert metrics["resumed_after_epoch"] == 0
    assert metrics["test"] == _read_json(reference_run / "metrics.json")["test"]


def _tiny_model(seed):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dropout(0.5), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    return model


def _fit_with_backup(model, backup_dir, epochs):
    best = BestWeights("val_loss", "min")
    timer = EpochTimer()
    backup = ExperimentBackup(str(backup_dir), best, timer)
    features = np.arange(48, dtype="float32").reshape(16, 3) / 48
    targets = np.ones((16, 2), dtype="float32")
    model.fit(features, targets, validation_data=(features, targets), epochs=epochs, shuffle=False,
              callbacks=[best, timer, backup], verbose=0)
    return best, timer, backup


def test_backup_keeps_last_two_states(tmp_path):
    _fit_with_backup(_tiny_model(0), tmp_path, epochs=4)

    states = sorted(name for name in os.listdir(tmp_path) if name.startswith("state_epoch"))
    assert states == ["state_epoch3.json", "state_epoch4.json"]
    best_files = [name for name in os.listdir(tmp_path) if name.startswith("best_epoch")]
    referenced = {f"best_epoch{_read_json(tmp_path / name)['best_epoch']}.npz" for name in states}
    assert set(best_files) == referenced


def test_backup_restores_best_and_seeds(tmp_path):
    from recipes.determinism import seed_generator_states

    model = _tiny_model(0)
    best, timer, _ = _fit_with_backup(model, tmp_path, epochs=2)
    counters = [state.numpy().tolist() for state in seed_generator_states(model)]

    resumed = _tiny_model(1)
    resumed_best, resumed_timer, backup = _fit_with_backup(resumed, tmp_path, epochs=2)

    assert backup.restored_epoch == 2
    assert resumed_best.best == best.best
    assert resumed_best.best_epoch == best.best_epoch
    for restored, saved in zip(resumed_best.weights, best.weights):
        np.testing.assert_array_equal(restored, saved)
    assert resumed_timer.epoch_seconds == timer.epoch_seconds
    assert [state.numpy().tolist() for state in seed_generator_states(resumed)] == counters


def test_backup_missing_state_raises(tmp_path):
    _fit_with_backup(_tiny_model(0), tmp_path, epochs=1)
    os.remove(tmp_path / "state_epoch1.json")

    with pytest.raises(FileNotFoundError, match="--overwrite"):
        _fit_with_backup(_tiny_model(0), tmp_path, epochs=2)
