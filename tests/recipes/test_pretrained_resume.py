"""An interrupted `zoo train pretrained` run resumes to the same model as an uninterrupted one."""

import json

import keras
import numpy as np
import pytest

from recipes import callbacks as run_callbacks
from recipes import train_pretrained

NAME = "feedforward-embedding_normal.flights"
FLAGS = ["--epochs", "3", "--max-examples", "6000", "--seed", "3"]


class InterruptAfterFirstEpoch(keras.callbacks.Callback):
    """Stop training with an exception right after epoch 0 and its backup are written."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt("simulated interruption after epoch 0")


def _train(tmp_path, folder, extra_flags=()):
    argv = [NAME, *FLAGS, "--runs-dir", str(tmp_path / folder / "runs"),
            "--models-dir", str(tmp_path / folder / "models"), *extra_flags]
    return train_pretrained.train_pretrained(train_pretrained.parse_args(argv))


def _card(tmp_path, folder):
    return json.loads((tmp_path / folder / "models" / NAME / "card.json").read_text())


def _weights(tmp_path, folder):
    model = keras.saving.load_model(str(tmp_path / folder / "models" / NAME / "model.keras"))
    return model.get_weights()


def test_resumed_pretrained_run_matches(tmp_path, monkeypatch):
    _train(tmp_path, "reference")

    original = run_callbacks.standard_callbacks
    monkeypatch.setattr(
        run_callbacks, "standard_callbacks",
        lambda *args, **kwargs: original(*args, **kwargs) + [InterruptAfterFirstEpoch()],
    )
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, "resumed")
    monkeypatch.setattr(run_callbacks, "standard_callbacks", original)
    _train(tmp_path, "resumed", ["--resume"])

    reference, resumed = _card(tmp_path, "reference"), _card(tmp_path, "resumed")
    assert resumed["metrics"]["test"] == reference["metrics"]["test"]
    assert resumed["metrics"]["history"] == reference["metrics"]["history"]
    assert len(resumed["metrics"]["history"]["loss"]) == 3
    for weights, expected in zip(_weights(tmp_path, "resumed"), _weights(tmp_path, "reference")):
        np.testing.assert_array_equal(weights, expected)


def _toy_fit(make_dataset, epochs, initial_epoch=0, weights=None, skip_epochs=0):
    """Seed, build the dataset and a small model, then fit; return the model and its losses."""
    from recipes.training import skip_finished_shuffles

    keras.utils.set_random_seed(0)
    dataset = make_dataset()
    skip_finished_shuffles(dataset, skip_epochs)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    if weights is not None:
        model.set_weights(weights)
    history = model.fit(dataset, epochs=epochs, initial_epoch=initial_epoch, verbose=0, shuffle=False)
    return model, history.history["loss"]


def test_keras_iterators_per_epoch():
    """`skip_finished_shuffles` relies on how many iterators `fit` opens per epoch."""
    import tensorflow as tf

    features = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
    labels = (features[:, 0] > 0).astype("float32")

    def make():
        dataset = tf.data.Dataset.from_tensor_slices((features, labels))
        return dataset.shuffle(256, seed=5, reshuffle_each_iteration=True).batch(32)

    _, reference = _toy_fit(make, epochs=4)
    first_part, _ = _toy_fit(make, epochs=2)
    weights = first_part.get_weights()

    _, resumed = _toy_fit(make, epochs=4, initial_epoch=2, weights=weights, skip_epochs=2)
    _, unaligned = _toy_fit(make, epochs=4, initial_epoch=2, weights=weights)

    assert resumed == reference[2:]
    assert unaligned != reference[2:]
