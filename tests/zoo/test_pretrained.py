"""Checks of every shipped pretrained model: fresh-process golden outputs, card metrics, size."""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.testing import run_python
from zoo import pretrained

SHIPPED = zoo.list_models(pretrained=True)
REQUIRED_FAMILIES = {"convnet", "feedforward", "transformer"}
MAX_TOTAL_BYTES = 40 * 1024 * 1024

_GOLDEN_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
import zoo

report = {}
for name in zoo.list_models(pretrained=True):
    card = zoo.read_card(name)
    inputs, outputs = zoo.read_golden(name)
    model = zoo.load(name)
    serving = zoo.load(name, format="saved_model")
    keras_outputs = model.predict_on_batch(inputs)
    if isinstance(inputs, dict):
        served = serving.serve({key: tf.constant(value) for key, value in inputs.items()})
    else:
        served = serving.serve(tf.constant(inputs))
    report[name] = {
        "keras_error": float(np.max(np.abs(np.asarray(keras_outputs) - outputs))),
        "saved_model_error": float(np.max(np.abs(np.asarray(served) - outputs))),
        "atol": card["golden"]["atol"],
    }
print("REPORT" + json.dumps(report))
"""


def _folder_bytes(path):
    return sum(
        os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names
    )


def test_every_family_ships_a_model():
    families = {zoo.get_spec(name).family for name in SHIPPED}
    assert REQUIRED_FAMILIES <= families, f"shipped: {SHIPPED}"


def test_saved_models_fit_size_budget():
    total = _folder_bytes(pretrained.models_dir())
    assert total < MAX_TOTAL_BYTES, f"saved_models/ holds {total / 2**20:.1f} MiB"


@pytest.mark.parametrize("name", SHIPPED)
def test_card_has_required_fields(name):
    card = zoo.read_card(name)
    for field in ("data_set", "metrics", "recipe", "git_commit", "versions", "parameters", "training", "hardware", "golden"):
        assert field in card, f"{name} card lacks {field!r}"
    assert card["metrics"]["primary"] in card["metrics"]["test"]
    assert card["recipe"].startswith(f"zoo train pretrained {name}")
    assert card["versions"]["keras"] and card["versions"]["tensorflow"]


def test_golden_outputs_in_fresh_process():
    process = run_python(_GOLDEN_SCRIPT, timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    report = json.loads(process.stdout.split("REPORT", 1)[1])
    assert sorted(report) == SHIPPED
    for name, errors in report.items():
        assert errors["keras_error"] <= errors["atol"], f"{name}: {errors}"
        assert errors["saved_model_error"] <= errors["atol"], f"{name}: {errors}"


@pytest.mark.parametrize("name", SHIPPED)
def test_card_metric_reproduces(name):
    card = zoo.read_card(name)
    spec = zoo.get_spec(name)
    task = zoo.get_task(spec.dataset)
    data = task.load(seed=card["metrics"]["seed"], max_examples=card["data_set"]["max_examples"])
    model = zoo.load(name)

    measured = task.test_metrics(model, data)
    primary = card["metrics"]["primary"]
    assert measured[primary] == pytest.approx(card["metrics"]["test"][primary], abs=card["metric_atol"])


def test_load_rejects_truncated_keras_file(tmp_path, monkeypatch):
    name = SHIPPED[0]
    copy = tmp_path / name
    shutil.copytree(pretrained.entry_dir(name), copy)
    keras_file = copy / pretrained.KERAS_FILE
    keras_file.write_bytes(keras_file.read_bytes()[:1000])
    monkeypatch.setenv(pretrained.ENVIRONMENT_VARIABLE, str(tmp_path))

    with pytest.raises(pretrained.PretrainedModelError, match="corrupted"):
        zoo.load(name)


def test_load_rejects_card_of_other_model(tmp_path, monkeypatch):
    name = SHIPPED[0]
    copy = tmp_path / name
    shutil.copytree(pretrained.entry_dir(name), copy)
    card = json.loads((copy / pretrained.CARD_FILE).read_text())
    card["parameters"] += 1
    (copy / pretrained.CARD_FILE).write_text(json.dumps(card))
    monkeypatch.setenv(pretrained.ENVIRONMENT_VARIABLE, str(tmp_path))

    with pytest.raises(pretrained.PretrainedModelError, match="do not belong"):
        zoo.load(name)


def test_load_without_weights_suggests_create(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.ENVIRONMENT_VARIABLE, str(tmp_path))
    with pytest.raises(pretrained.PretrainedModelError, match="zoo.create"):
        zoo.load("convnet-coords.fashion_mnist")


def test_saved_model_serves_int32_ids():
    sequence_models = [name for name in SHIPPED if zoo.get_spec(name).family == "transformer"]
    assert sequence_models, "no transformer is shipped"
    serving = zoo.load(sequence_models[0], format="saved_model")
    spec = serving.signatures["serve"].structured_input_signature[1]
    (tensor_spec,) = spec.values()
    assert tensor_spec.dtype == tf.int32
    assert tensor_spec.shape.as_list() == [None, None]
    assert np.all(np.isfinite(serving.serve(tf.constant([[3, 4, 5, 0]], tf.int32)).numpy()))


def _copy_entry(name, destination, monkeypatch):
    copy = destination / name
    shutil.copytree(pretrained.entry_dir(name), copy)
    monkeypatch.setenv(pretrained.ENVIRONMENT_VARIABLE, str(destination))
    return copy


def test_load_rejects_incompatible_keras_version(tmp_path, monkeypatch):
    name = SHIPPED[0]
    copy = _copy_entry(name, tmp_path, monkeypatch)
    card = json.loads((copy / pretrained.CARD_FILE).read_text())
    card["versions"]["keras"] = "2.15.0"
    (copy / pretrained.CARD_FILE).write_text(json.dumps(card))

    with pytest.raises(pretrained.PretrainedModelError, match="Keras 2.15.0"):
        zoo.load(name)


def test_load_rejects_lambda_layer(tmp_path, monkeypatch):
    import keras

    name = "convnet-none.fashion_mnist"
    copy = _copy_entry(name, tmp_path, monkeypatch)
    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    keras.Model(inputs, outputs).save(str(copy / pretrained.KERAS_FILE))

    with pytest.raises(pretrained.PretrainedModelError, match="arbitrary Python code"):
        zoo.load(name)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_has_no_code(name):
    import zipfile

    with zipfile.ZipFile(os.path.join(pretrained.entry_dir(name), pretrained.KERAS_FILE)) as archive:
        config = archive.read("config.json").decode()
    assert '"Lambda"' not in config
    assert "__lambda__" not in config
    assert "pickle" not in config.lower()
