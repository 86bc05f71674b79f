"""Pretrained zoo models in saved_models/: locating, checking and loading them.

Each entry is a folder named after its registry name, holding:

    model.keras      the trained Keras model, loaded with `safe_mode=True`
    saved_model/     the exported TF SavedModel (serving endpoint `serve`)
    card.json        data set and split, metrics with seeds, the command that reproduces it,
                     git commit, versions, parameter count, training time and hardware
    golden.npz       a golden input batch (`inputs_<name>` arrays) and its `outputs`
"""

import json
import os

import keras
import numpy as np

import layers  # noqa: F401  registers the custom layers for `.keras` loading
from zoo import registry

ENVIRONMENT_VARIABLE = "ENCODING_ZOO_MODELS"
CARD_FILE = "card.json"
GOLDEN_FILE = "golden.npz"
KERAS_FILE = "model.keras"
SAVED_MODEL_DIR = "saved_model"
FORMATS = ("keras", "saved_model")


class PretrainedModelError(RuntimeError):
    """Raised when a pretrained entry is missing, incomplete or does not match its card."""


def models_dir():
    """Return the saved_models/ folder: `ENCODING_ZOO_MODELS`, else the repository's own."""
    default = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "saved_models")
    return os.environ.get(ENVIRONMENT_VARIABLE, default)


def entry_dir(name):
    return os.path.join(models_dir(), name)


def has_pretrained(name):
    """Return whether saved_models/ contains a card for `name`."""
    return os.path.isfile(os.path.join(entry_dir(name), CARD_FILE))


def read_card(name):
    """Read and check the card of a pretrained entry.

    Args:
        name: registry name of the model.

    Returns:
        The card as a dict.

    Example:
    >>> read_card("convnet-coords.fashion_mnist")["metrics"]
    """
    registry.get_spec(name)
    path = os.path.join(entry_dir(name), CARD_FILE)
    if not os.path.isfile(path):
        raise PretrainedModelError(
            f"No pretrained weights for {name!r}: {path} is missing. "
            f"Use zoo.create({name!r}) for a randomly initialized model, or train one with "
            f"`zoo train pretrained {name}`."
        )
    try:
        with open(path) as file:
            card = json.load(file)
    except json.JSONDecodeError as error:
        raise PretrainedModelError(
            f"The card {path} is not valid JSON ({error}). Restore it with `git checkout -- {path}` "
            f"or retrain with `zoo train pretrained {name}`."
        ) from None
    if card.get("name") != name:
        raise PretrainedModelError(
            f"The card {path} describes {card.get('name')!r}, not {name!r}. "
            "Restore the folder from the repository."
        )
    return card


def read_golden(name):
    """Return the golden `(inputs, outputs)` pair stored with a pretrained entry."""
    path = os.path.join(entry_dir(name), GOLDEN_FILE)
    with np.load(path, allow_pickle=False) as golden:
        inputs = {key[len("inputs_"):]: golden[key] for key in golden.files if key.startswith("inputs_")}
        outputs = golden["outputs"]
    if list(inputs) == [""]:
        inputs = inputs[""]
    return inputs, outputs


def _check_versions(card, name):
    saved = card.get("versions", {}).get("keras", "")
    if saved.split(".")[:1] != keras.__version__.split(".")[:1]:
        raise PretrainedModelError(
            f"{name!r} was saved with Keras {saved or 'of unknown version'}, which this Keras "
            f"{keras.__version__} cannot load. Install the Keras version in pyproject.toml, or "
            f"retrain with `zoo train pretrained {name}`."
        )


def load_pretrained(name, format="keras"):
    """Load a pretrained zoo model.

    Args:
        name: registry name, e.g. `"convnet-coords.fashion_mnist"`.
        format: `"keras"` returns the compiled `keras.Model` from `model.keras` (loaded with
            `safe_mode=True`, so files that would run arbitrary code are rejected);
            `"saved_model"` returns the exported serving model from `tf.saved_model.load`,
            whose `serve` endpoint takes the input signature stored in the card.

    Example:
    >>> model = load_pretrained("convnet-coords.fashion_mnist")
    """
    if format not in FORMATS:
        raise ValueError(f"`format` must be one of {FORMATS}. Received: format={format!r}")
    card = read_card(name)
    _check_versions(card, name)

    if format == "saved_model":
        import tensorflow as tf

        path = os.path.join(entry_dir(name), SAVED_MODEL_DIR)
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise PretrainedModelError(f"The SavedModel of {name!r} is missing at {path}. Restore saved_models/{name}.")
        return tf.saved_model.load(path)

    path = os.path.join(entry_dir(name), KERAS_FILE)
    if not os.path.isfile(path):
        raise PretrainedModelError(f"The Keras file of {name!r} is missing at {path}. Restore saved_models/{name}.")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except ValueError as error:
        if "safe_mode" in str(error):
            raise PretrainedModelError(
                f"{path} asks to run arbitrary Python code (a Lambda layer or a pickled "
                "function), which loading with safe_mode=True rejects. Zoo models never contain "
                "such code: treat the file as untrusted and restore the folder from the repository."
            ) from error
        raise PretrainedModelError(
            f"Loading {path} failed: {error}. The file is corrupted or was saved by an "
            f"incompatible version; restore it or retrain with `zoo train pretrained {name}`."
        ) from error
    except (OSError, KeyError) as error:
        raise PretrainedModelError(
            f"Loading {path} failed: {error}. The file is corrupted or was saved by an "
            f"incompatible version; restore it or retrain with `zoo train pretrained {name}`."
        ) from error
    if model.count_params() != card.get("parameters"):
        raise PretrainedModelError(
            f"{path} has {model.count_params():,} parameters but its card records "
            f"{card.get('parameters')}: the weights do not belong to this card. Restore the folder."
        )
    return model
