"""Reproducibility of the main job: equal seeds give equal runs, and resumed runs match.

Every run is a separate `python -m recipes.convnet_positions` process on a small slice of
Fashion-MNIST. An interrupted run is the same job started from a script that adds one
callback: it writes a marker file at a chosen training step and then sleeps, so the test
sends its signal at a known point instead of racing the (sub-second) epochs. The callback
touches no random state, so the interrupted run trains exactly as the plain one would.

With op determinism and `recipes.determinism.EpochSeeds`, a resumed run is expected to
reproduce the uninterrupted run bit for bit, so metrics are compared with `==`.
"""

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
from tensorboard.backend.event_processing import event_accumulator

from tests.testing import PAUSE_FOR_SIGNAL, REPOSITORY_ROOT

EPOCHS = 3
SMALL_RUN = [
    "--epochs", str(EPOCHS), "--max-train-examples", "512", "--validation-size", "256",
    "--batch-size", "64", "--filters", "8,16", "--variants", "coords",
]
VARIANT = "coords"
RUN_TIMEOUT_SECONDS = 300
MARKER_TIMEOUT_SECONDS = 180
POLL_INTERVAL_SECONDS = 0.05
EXIT_TIMEOUT_SECONDS = 60

# The main job, with a callback placed after the standard ones (so after
# `BackupAndRestore`, `ModelCheckpoint` and `TensorBoard` have handled the same step) and
# before `EpochTimer`. At the pause point it creates the marker file and sleeps until a
# signal ends the process. A negative batch pauses at the end of the epoch.
_PAUSING_MAIN = textwrap.dedent(
    """
    import sys
    import time

    import keras

    from recipes import callbacks, convnet_positions

    marker, pause_epoch, pause_batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


    {PAUSE_FOR_SIGNAL}


    standard_callbacks = callbacks.standard_callbacks


    def callbacks_with_pause(*args, **kwargs):
        built = standard_callbacks(*args, **kwargs)
        return built[:-1] + [PauseForSignal(), built[-1]]


    callbacks.standard_callbacks = callbacks_with_pause
    sys.exit(convnet_positions.main(sys.argv[4:]))
    """
).replace("{PAUSE_FOR_SIGNAL}", PAUSE_FOR_SIGNAL)


def _child_env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def _run_main(output, *flags):
    """Run the main job to completion in a new process and return its run folder."""
    process = subprocess.run(
        [sys.executable, "-m", "recipes.convnet_positions", *SMALL_RUN, "--output", str(output), *flags],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, cwd=REPOSITORY_ROOT,
        env=_child_env(), check=False,
    )
    assert process.returncode == 0, f"main job failed:\n{process.stderr[-4000:]}"
    return output / VARIANT


def _interrupt_main(output, signal_number, pause_epoch, pause_batch, *flags):
    """Start the main job, send `signal_number` at the pause point and wait for it to exit.

    Returns:
        The run folder and the process's exit status.
    """
    marker = output.parent / f"{output.name}.paused"
    process = subprocess.Popen(
        [sys.executable, "-c", _PAUSING_MAIN, str(marker), str(pause_epoch), str(pause_batch),
         *SMALL_RUN, "--output", str(output), *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPOSITORY_ROOT,
        env=_child_env(),
    )
    try:
        deadline = time.monotonic() + MARKER_TIMEOUT_SECONDS
        while not marker.exists():
            if process.poll() is not None:
                pytest.fail(f"main job exited before the pause point:\n{process.stderr.read()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"main job did not reach the pause point within {MARKER_TIMEOUT_SECONDS} s")
            time.sleep(POLL_INTERVAL_SECONDS)

        process.send_signal(signal_number)
        exit_status = process.wait(timeout=EXIT_TIMEOUT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    return output / VARIANT, exit_status


def _read_json(path):
    with open(path) as file:
        return json.load(file)


def _epoch_scalar_steps(log_dir, tag="epoch_loss"):
    """Return the steps of every `tag` event in `log_dir`, over all its event files.

    Each file is read on its own with `purge_orphaned_data=False`: a single accumulator
    over the folder would drop the older copy of a step written again after a restart,
    which would hide exactly the duplicates this looks for.
    """
    steps = []
    for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))):
        accumulator = event_accumulator.EventAccumulator(
            path, size_guidance={"tensors": 0}, purge_orphaned_data=False
        )
        accumulator.Reload()
        if tag in accumulator.Tags()["tensors"]:
            steps.extend(event.step for event in accumulator.Tensors(tag))
    return sorted(steps)


def _model_weights(run):
    import keras

    import layers  # noqa: F401  registers the custom layers

    model = keras.saving.load_model(str(run / "model.keras"), safe_mode=True)
    return model.get_weights()


def _labels_per_epoch(epoch_seeds, labels, epochs, initial_epoch=0):
    """Fit a tiny model on `labels` with `epoch_seeds` and return the label order of each epoch."""
    import keras
    import tensorflow as tf

    from zoo.data.image_pipeline import image_dataset

    seen = {}

    def record(batch_labels):
        seen.setdefault(int(epoch_seeds.epoch.numpy()), []).extend(batch_labels.numpy().tolist())
        return batch_labels

    images = labels.astype("uint8").reshape(-1, 1, 1)
    dataset = epoch_seeds.dataset((images, labels), lambda x, y: image_dataset(x, y, 4))
    dataset = dataset.map(lambda x, y: (x, tf.ensure_shape(tf.py_function(record, [y], tf.int64), [None])))

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((1, 1, 1)), keras.layers.Flatten(), keras.layers.Dropout(0.5), keras.layers.Dense(len(labels)),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(dataset, epochs=epochs, initial_epoch=initial_epoch, callbacks=[epoch_seeds], shuffle=False, verbose=0)
    return seen, model


def test_epoch_seeds_order_depends_on_epoch():
    from recipes.determinism import EpochSeeds

    labels = np.arange(12)
    orders, _ = _labels_per_epoch(EpochSeeds(seed=0), labels, epochs=3)
    resumed, _ = _labels_per_epoch(EpochSeeds(seed=0), labels, epochs=3, initial_epoch=2)
    other_seed, _ = _labels_per_epoch(EpochSeeds(seed=1), labels, epochs=1)

    assert sorted(orders) == [0, 1, 2]
    for epoch, order in orders.items():
        assert sorted(order) == labels.tolist(), f"epoch {epoch} is not a permutation"
    assert len({tuple(order) for order in orders.values()}) == 3, "epochs repeat an order"
    assert resumed == {2: orders[2]}
    assert other_seed[0] != orders[0]


def test_epoch_seeds_sets_dropout_counter():
    from recipes.determinism import EpochSeeds

    epoch_seeds = EpochSeeds(seed=0)
    _, model = _labels_per_epoch(epoch_seeds, np.arange(12), epochs=1)
    states = epoch_seeds.seed_generator_states()
    assert [state.path for state in states] == [model.layers[1].seed_generator.state.path]

    initial_seed = states[0].numpy()[0]
    epoch_seeds.on_epoch_begin(5)
    assert states[0].numpy().tolist() == [initial_seed, 5 * EpochSeeds.COUNTER_STRIDE]


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_epoch_seeds_rejects_bad_seed(seed):
    from recipes.determinism import EpochSeeds, seed_everything

    with pytest.raises(ValueError, match="`seed` must be a non-negative integer"):
        EpochSeeds(seed)
    with pytest.raises(ValueError, match="Received: seed="):
        seed_everything(seed)


def test_deterministic_flag_parses():
    from recipes import convnet_positions

    assert convnet_positions.parse_args([]).deterministic is True
    assert convnet_positions.parse_args(["--no-deterministic"]).deterministic is False


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """An uninterrupted run with seed 0."""
    return _run_main(tmp_path_factory.mktemp("reference") / "convnet")


def test_config_records_determinism(reference_run):
    config = _read_json(reference_run / "config.json")
    assert config["deterministic"] is True
    assert config["seed"] == 0


def test_same_seed_gives_identical_runs(reference_run, tmp_path):
    repeat = _run_main(tmp_path / "convnet")
    expected = _read_json(reference_run / "metrics.json")
    metrics = _read_json(repeat / "metrics.json")

    assert metrics["test"] == expected["test"]
    assert metrics["history"] == expected["history"]
    for weights, expected_weights in zip(_model_weights(repeat), _model_weights(reference_run)):
        np.testing.assert_array_equal(weights, expected_weights)


@pytest.mark.slow
def test_different_seed_gives_different_run(reference_run, tmp_path):
    other = _run_main(tmp_path / "convnet", "--seed", "1")
    expected = _read_json(reference_run / "metrics.json")
    metrics = _read_json(other / "metrics.json")

    assert metrics["test"]["loss"] != expected["test"]["loss"]
    assert metrics["history"]["loss"] != expected["history"]["loss"]


def _check_resumed_run(run, reference, epochs_before_interruption):
    """Compare a resumed run with the uninterrupted reference run."""
    expected = _read_json(reference / "metrics.json")
    metrics = _read_json(run / "metrics.json")
    config = _read_json(run / "config.json")

    assert config["resumed"] is True
    assert metrics["epochs_run_in_last_process"] == EPOCHS - epochs_before_interruption
    assert metrics["test"] == expected["test"]
    # history.csv spans both processes, so the resumed history equals the uninterrupted one.
    for name, values in expected["history"].items():
        assert metrics["history"][name] == values, name
    assert len(metrics["history"]["loss"]) == EPOCHS
    for weights, expected_weights in zip(_model_weights(run), _model_weights(reference)):
        np.testing.assert_array_equal(weights, expected_weights)
    assert not (run / "backup").exists(), "a finished run keeps no backup"


def _check_epoch_scalars(run):
    for writer in ("train", "validation"):
        steps = _epoch_scalar_steps(str(run / "logs" / writer))
        assert steps == list(range(EPOCHS)), f"epoch_loss steps in logs/{writer}: {steps}"


def test_sigkill_mid_epoch_then_resume(reference_run, tmp_path):
    output = tmp_path / "convnet"
    run, exit_status = _interrupt_main(output, signal.SIGKILL, 1, 2)
    assert exit_status == -signal.SIGKILL
    assert not (run / "metrics.json").exists()
    assert _read_json(run / "backup" / "training_metadata.json")["epoch"] == 1

    _run_main(output, "--resume")

    _check_resumed_run(run, reference_run, epochs_before_interruption=1)
    _check_epoch_scalars(run)


@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_signal_at_epoch_end_then_resume(reference_run, tmp_path, signal_number):
    output = tmp_path / "convnet"
    run, exit_status = _interrupt_main(output, signal_number, 1, -1)
    assert exit_status != 0
    assert not (run / "metrics.json").exists()
    assert _read_json(run / "backup" / "training_metadata.json")["epoch"] == 2

    _run_main(output, "--resume")

    _check_resumed_run(run, reference_run, epochs_before_interruption=2)
    _check_epoch_scalars(run)

