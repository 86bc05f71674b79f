"""Registry-wide checks: every registered model builds, trains a step, saves, reloads, exports."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from recipes import cli
from tests.testing import REPOSITORY_ROOT
from zoo import models
from zoo.feedforward import adapt_feedforward

ALL_MODELS = zoo.list_models()


def _fit_one_step(spec, model, arguments):
    task = zoo.get_task(spec.dataset)
    inputs = task.example_inputs(arguments, batch_size=4, seed=0)
    targets = task.example_targets(arguments, batch_size=4, seed=0)
    if spec.family == "feedforward":
        adapt_feedforward(model, inputs)
    history = model.fit(inputs, targets, epochs=1, batch_size=4, verbose=0)
    return inputs, history


def _assert_outputs_close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=1e-5, rtol=1e-5)


def test_registry_covers_every_family():
    families = {zoo.get_spec(name).family for name in ALL_MODELS}
    assert families == {"convnet", "feedforward", "transformer"}


def test_registry_names_follow_pattern():
    for name in ALL_MODELS:
        spec = zoo.get_spec(name)
        assert name == f"{spec.family}-{spec.variant}.{spec.dataset}"
        assert zoo.get_task(spec.dataset).name == spec.dataset


def test_list_models_pattern_filters():
    names = zoo.list_models("convnet-*.fashion_mnist")
    assert "convnet-coords.fashion_mnist" in names
    assert all(name.startswith("convnet-") and name.endswith(".fashion_mnist") for name in names)


def test_unknown_name_suggests_close_matches():
    with pytest.raises(zoo.UnknownModelError) as error:
        zoo.create("convnet-coord.fashion_mnist")
    assert "convnet-coords.fashion_mnist" in str(error.value)


def test_unknown_override_names_accepted_arguments():
    with pytest.raises(TypeError, match="hidden_dimension"):
        zoo.create("transformer-encoder_rotary.cmudict_stress", hidden_dimension=8)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_registered_model_round_trip(name, tmp_path):
    spec = zoo.get_spec(name)
    task = zoo.get_task(spec.dataset)
    arguments = spec.resolve_arguments(tiny=True)
    keras.utils.set_random_seed(0)
    model = zoo.create(name, tiny=True)

    inputs, history = _fit_one_step(spec, model, arguments)
    assert np.isfinite(history.history["loss"][0])
    expected = model.predict_on_batch(inputs)

    keras_path = str(tmp_path / "model.keras")
    model.save(keras_path)
    reloaded = keras.saving.load_model(keras_path, safe_mode=True)
    _assert_outputs_close(reloaded.predict_on_batch(inputs), expected)

    export_path = str(tmp_path / "exported")
    signature = task.input_signature(arguments)
    model.export(export_path, format="tf_saved_model", input_signature=signature, verbose=False)
    serving = tf.saved_model.load(export_path)
    if isinstance(inputs, dict):
        served = serving.serve({key: tf.constant(value) for key, value in inputs.items()})
    else:
        served = serving.serve(tf.constant(inputs))
    _assert_outputs_close(served, expected)


def test_flights_cardinalities_match_loader():
    from zoo.data.flights import load_flights

    assert load_flights(seed=0).cardinalities == models.FLIGHTS_CARDINALITIES


def test_movielens_cardinalities_match_loader():
    from zoo.data.movielens import load_movielens

    assert load_movielens(seed=0).cardinalities == models.MOVIELENS_CARDINALITIES


def test_cmudict_sizes_match_loader():
    from zoo.data.cmudict_stress import load_cmudict_stress

    data = load_cmudict_stress(max_examples=100)
    assert data.vocabulary_size == models.CMUDICT_VOCABULARY_SIZE
    assert data.num_classes == models.CMUDICT_CLASSES
    assert data.max_length == models.CMUDICT_MAX_LENGTH


def test_cli_list_prints_every_model(capsys):
    assert cli.main(["list"]) == 0
    printed = capsys.readouterr().out
    for name in ALL_MODELS:
        assert name in printed


def test_cli_info_unknown_name_fails_with_hint(capsys):
    assert cli.main(["info", "transformer-encoder_rotery.cmudict_stress"]) == 1
    error = capsys.readouterr().err
    assert "transformer-encoder_rotary.cmudict_stress" in error
    assert "Traceback" not in error


def test_cli_unknown_recipe_fails_with_hint(capsys):
    assert cli.main(["train", "convnet_position"]) == 1
    assert "convnet_positions" in capsys.readouterr().err


def test_cli_info_prints_arguments(capsys):
    assert cli.main(["info", "convnet-coords.fashion_mnist"]) == 0
    printed = capsys.readouterr().out
    assert '"positional": "coords"' in printed


def test_models_doc_matches_registry():
    with open(os.path.join(REPOSITORY_ROOT, "docs", "models.md")) as file:
        document = file.read()
    table = cli.markdown_table(ALL_MODELS)
    assert table in document, "docs/models.md is stale: regenerate it with `zoo list --markdown`"
