"""End-to-end check of the main job on a small slice of the real images."""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from recipes import convnet_positions
from recipes.run_folder import RunFolderExistsError

SMALL_RUN = [
    "--epochs", "2", "--max-train-examples", "512", "--validation-size", "256",
    "--batch-size", "64", "--filters", "8,16",
]


def _event_tags(log_dir):
    tags = {}
    for path in glob.glob(os.path.join(log_dir, "**", "events.out.tfevents.*"), recursive=True):
        accumulator = event_accumulator.EventAccumulator(path, size_guidance={"tensors": 0})
        accumulator.Reload()
        run = os.path.relpath(os.path.dirname(path), log_dir)
        tags.setdefault(run, set()).update(accumulator.Tags()["tensors"])
    return tags


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory):
    output = tmp_path_factory.mktemp("runs") / "convnet"
    exit_code = convnet_positions.main(SMALL_RUN + ["--output", str(output)])
    return exit_code, output


def test_main_job_writes_run_folders(finished_runs):
    exit_code, output = finished_runs
    assert exit_code == 0
    for variant in ("none", "coords"):
        run = output / variant
        for name in ("config.json", "metrics.json", "model.keras", "checkpoint.weights.h5"):
            assert (run / name).is_file(), f"{name} missing in {run}"
        assert (run / "saved_model" / "saved_model.pb").is_file()
        assert not (run / "backup").exists(), "a finished run keeps no backup"
        assert not glob.glob(str(run / ".tmp-*")), "temporary export paths left behind"


def test_main_job_metrics_and_config(finished_runs):
    _, output = finished_runs
    metrics = json.loads((output / "coords" / "metrics.json").read_text())
    config = json.loads((output / "coords" / "config.json").read_text())
    assert config["variant"] == "coords"
    assert config["epochs"] == 2
    assert len(metrics["history"]["loss"]) == 2
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert metrics["parameters"] > 0
    assert metrics["fit_seconds"] > 0


def test_coords_variant_has_more_input_channels(finished_runs):
    _, output = finished_runs
    plain = json.loads((output / "none" / "metrics.json").read_text())
    coords = json.loads((output / "coords" / "metrics.json").read_text())
    # Two coordinate channels add 2 * 3 * 3 * 8 weights to the first convolution.
    assert coords["parameters"] - plain["parameters"] == 2 * 3 * 3 * 8


def test_tensorboard_logs_scalars_and_hparams(finished_runs):
    _, output = finished_runs
    tags = _event_tags(str(output / "coords" / "logs"))
    assert "epoch_loss" in tags["train"]
    assert "epoch_accuracy" in tags["validation"]
    assert "_hparams_/session_start_info" in tags["."]


def test_exported_model_matches_keras_model(finished_runs):
    import keras

    import layers  # noqa: F401  registers the custom layers

    _, output = finished_runs
    run = output / "coords"
    model = keras.saving.load_model(str(run / "model.keras"), safe_mode=True)
    serving = tf.saved_model.load(str(run / "saved_model"))
    images = np.random.default_rng(0).uniform(0, 255, (4, 28, 28, 1)).astype("float32")
    expected = model.predict_on_batch(images)
    served = serving.serve(tf.constant(images)).numpy()
    np.testing.assert_allclose(served, expected, atol=1e-5)


def test_existing_run_folder_is_rejected(finished_runs):
    _, output = finished_runs
    with pytest.raises(RunFolderExistsError, match="--resume"):
        convnet_positions.main(SMALL_RUN + ["--output", str(output), "--variants", "none"])


def test_bad_variant_flag_exits_with_message(capsys):
    with pytest.raises(SystemExit) as exit_info:
        convnet_positions.parse_args(["--variants", "coordz"])
    assert exit_info.value.code == 2
    assert "coordz" in capsys.readouterr().err
