"""End-to-end tests of the claim experiments on tiny slices, and of the shared runner."""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from recipes import report
from recipes.experiments import convnet_positions_claims, input_encoding, runner, transformer_positions

TINY_ENCODING = {"max_examples": 3_000, "epochs": 2, "batch_size": 512}
TINY_STRESS = {"max_examples": 1_500, "epochs": 2, "batch_size": 128, "tiny": True}
TINY_LENGTH = {"max_train_length": 4, "num_train": 200, "num_validation": 40, "num_test_per_length": 5,
               "epochs": 1, "batch_size": 64, "tiny": True}
TINY_CONVNET = {"variants": ("none", "coords"), "canvas_size": 16, "square_size": 4, "filters": (4,), "epochs": 2,
                "batch_size": 64, "heatmap": {"variants": ("none", "coords"), "filters": (4,), "epochs": 2},
                "placed": {"variants": ("none", "coords"), "canvas_size": 32, "num_train": 64, "num_validation": 16,
                           "num_test": 32, "epochs": 1}}


def read_metrics(root, experiment, variant, seed=0):
    with open(os.path.join(root, experiment, variant, f"seed{seed}", "metrics.json")) as file:
        return json.load(file)


def summary_tags(folder):
    """Return {tag: plugin name} of every summary in the event files under `folder`."""
    tags = {}
    for path in glob.glob(os.path.join(folder, "**", "events.out.tfevents.*"), recursive=True):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags[value.tag] = value.metadata.plugin_data.plugin_name
    return tags


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Run one or two variants of each experiment family for one seed into a temporary folder."""
    root = str(tmp_path_factory.mktemp("experiments"))
    patch = pytest.MonkeyPatch()
    patch.setitem(input_encoding.SETTINGS, "quick", TINY_ENCODING)
    patch.setitem(transformer_positions.SETTINGS["quick"], "stress", TINY_STRESS)
    patch.setitem(transformer_positions.SETTINGS["quick"], "length", TINY_LENGTH)
    patch.setitem(convnet_positions_claims.SETTINGS, "quick", TINY_CONVNET)
    common = ["--quick", "--seeds", "0", "--output", root]
    try:
        assert input_encoding.main(common + ["--only", "movielens/embedding_normal"]) == 0
        assert transformer_positions.main(common + ["--only", "stress/none,stress/learned,copy/none"]) == 0
        assert convnet_positions_claims.main(common + ["--only", "regression_quadrant/coords,heatmap_uniform/none"]) == 0
    finally:
        patch.undo()
    return root


def test_run_folder_contents(tiny_runs):
    folder = os.path.join(tiny_runs, "input_encoding", "movielens", "embedding_normal", "seed0")
    for name in ("config.json", "metrics.json", "logs"):
        assert os.path.exists(os.path.join(folder, name)), name
    metrics = read_metrics(tiny_runs, "input_encoding", "movielens/embedding_normal")
    assert metrics["mode"] == "quick"
    assert metrics["epochs"] == TINY_ENCODING["epochs"]
    assert len(metrics["history"]["val_auc"]) == TINY_ENCODING["epochs"]
    assert metrics["parameters"] > 0
    assert metrics["wall_seconds"] > 0
    assert "--only movielens/embedding_normal" in metrics["command"]


def test_metrics_taken_at_best_epoch(tiny_runs):
    metrics = read_metrics(tiny_runs, "input_encoding", "movielens/embedding_normal")
    curve = metrics["history"]["val_auc"]
    assert metrics["best_epoch"] == int(np.argmax(curve)) + 1
    assert metrics["validation"]["auc"] == max(curve)
    assert metrics["validation"]["loss"] == metrics["history"]["val_loss"][metrics["best_epoch"] - 1]
    assert 1 <= metrics["epochs_to_95_percent"] <= metrics["best_epoch"]


def test_first_layer_activation_stats(tiny_runs):
    metrics = read_metrics(tiny_runs, "input_encoding", "movielens/embedding_normal")
    activations = metrics["first_layer_activations"]
    assert activations["layer"] == "hidden_0"
    assert activations["std"] > 0
    # hidden_0 is a ReLU layer, so its mean is positive and some outputs are exactly zero.
    assert activations["mean"] > 0
    assert 0 < activations["fraction_zero"] < 1


def test_nope_encoder_ignores_letter_order(tiny_runs):
    nope = read_metrics(tiny_runs, "transformer_positions", "stress/none")
    assert nope["test"]["shuffled_prediction_change"] == 0.0
    assert nope["test"]["shuffled_max_logit_change"] < 1e-4
    learned = read_metrics(tiny_runs, "transformer_positions", "stress/learned")
    assert learned["test"]["shuffled_max_logit_change"] > 1e-4


def test_stress_scores_include_macro_f1(tiny_runs):
    metrics = read_metrics(tiny_runs, "transformer_positions", "stress/learned")
    assert 0 <= metrics["test"]["macro_f1"] <= 1
    assert metrics["test"]["accuracy_sklearn"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-6)


def test_length_buckets_are_longer_lengths(tiny_runs):
    metrics = read_metrics(tiny_runs, "transformer_positions", "copy/none")
    length = TINY_LENGTH["max_train_length"]
    assert sorted(map(int, metrics["test"]["test_exact_match_by_length"])) == list(range(length + 1, 2 * length + 1))
    assert sorted(map(int, metrics["test"]["validation_exact_match_by_length"]))[-1] <= length
    assert 0 <= metrics["test"]["exact_match"] <= 1


def test_convnet_runs_report_pixels(tiny_runs):
    regression = read_metrics(tiny_runs, "convnet_positions_claims", "regression_quadrant/coords")
    canvas = TINY_CONVNET["canvas_size"]
    assert regression["test"]["mean_absolute_error_pixels"] > 0
    # The pixel error averages |error| over x and y like the Keras metric, scaled by (canvas - 1) / 2.
    assert regression["test"]["mean_absolute_error_pixels"] == pytest.approx(
        regression["test"]["mean_absolute_error"] * (canvas - 1) / 2, rel=1e-3)
    heatmap = read_metrics(tiny_runs, "convnet_positions_claims", "heatmap_uniform/none")
    assert 0 <= heatmap["test"]["accuracy"] <= 1


def test_tensorboard_images_and_hparams(tiny_runs):
    experiment_tags = summary_tags(os.path.join(tiny_runs, "transformer_positions"))
    assert experiment_tags.get("_hparams_/experiment") == "hparams"
    learned_logs = os.path.join(tiny_runs, "transformer_positions", "stress", "learned", "seed0", "logs")
    assert summary_tags(learned_logs).get("positional_table/learned") == "images"
    coords_logs = os.path.join(tiny_runs, "convnet_positions_claims", "regression_quadrant", "coords", "seed0", "logs")
    assert summary_tags(coords_logs).get("coordinate_channels/0") == "images"
    encoding_logs = os.path.join(tiny_runs, "input_encoding", "movielens", "embedding_normal", "seed0", "logs")
    assert summary_tags(encoding_logs).get("activations/hidden_0") == "histograms"


def test_report_on_tiny_runs(tiny_runs, tmp_path):
    output = tmp_path / "RESULTS.md"
    sections = report.build_report(tiny_runs, str(output))
    text = output.read_text()
    assert "quick mode" in text
    assert "| movielens/embedding_normal |" in text
    assert "| stress/none |" in text
    # One seed per variant cannot give a standard error.
    assert all("undetermined" in section.verdict for section in sections)
    assert len(list((tmp_path / "results").glob("*.png"))) >= 5


def test_finished_runs_are_skipped(tiny_runs):
    path = os.path.join(tiny_runs, "input_encoding", "movielens", "embedding_normal", "seed0", "metrics.json")
    before = os.path.getmtime(path)
    patch = pytest.MonkeyPatch()
    patch.setitem(input_encoding.SETTINGS, "quick", TINY_ENCODING)
    try:
        input_encoding.main(["--quick", "--seeds", "0", "--output", tiny_runs, "--only", "movielens/embedding_normal"])
    finally:
        patch.undo()
    assert os.path.getmtime(path) == before


def _seeded_model(seed):
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dropout(0.3)(keras.layers.Dense(8, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mean_squared_error")
    return model


def test_cached_model_matches_fresh_model():
    features = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    targets = features.sum(axis=1, keepdims=True)
    cache = runner.TracedModelCache()
    first = cache.take("variant", _seeded_model(0))
    first.fit(features, targets, epochs=2, batch_size=16, shuffle=False, verbose=0)

    reused = cache.take("variant", _seeded_model(1))
    assert reused is first
    cached_losses = reused.fit(features, targets, epochs=2, batch_size=16, shuffle=False, verbose=0).history["loss"]
    fresh = _seeded_model(1)
    fresh_losses = fresh.fit(features, targets, epochs=2, batch_size=16, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(cached_losses, fresh_losses, rtol=1e-5)
    assert cache.take("other variant", fresh) is fresh


def test_epochs_to_reach():
    assert runner.epochs_to_reach([0.5, 0.78, 0.8]) == 2
    assert runner.epochs_to_reach([0.96, 0.97, 1.0]) == 1
    assert runner.epochs_to_reach([0.9, 0.95, 1.0]) == 2
    assert runner.epochs_to_reach([2.0, 1.2, 1.0], mode="min") == 3
    assert runner.epochs_to_reach([]) is None


@pytest.mark.parametrize("text", ["", "a,b", "-1", ","])
def test_parse_seeds_rejects_bad_input(text):
    with pytest.raises(Exception, match="--seeds"):
        runner.parse_seeds(text)


def test_only_without_match_raises(tmp_path):
    with pytest.raises(ValueError, match="selects no variant"):
        input_encoding.main(["--quick", "--output", str(tmp_path), "--only", "nonexistent"])
