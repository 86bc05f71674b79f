"""The encoding zoo: model builders, the registry and pretrained loading.

Importing `zoo` registers the project's custom layers with Keras and every zoo model.

Example:
>>> import zoo
>>> zoo.list_models("convnet-*.fashion_mnist")
>>> model = zoo.create("transformer-encoder_rotary.cmudict_stress", num_layers=1)
>>> pretrained = zoo.load("convnet-coords.fashion_mnist")
"""

import layers  # noqa: F401  registers the custom layers for `.keras` loading
from zoo import attention, transformer_block  # noqa: F401  registers the zoo's own layers
from zoo import models  # noqa: F401  fills the registry
from zoo.pretrained import has_pretrained, load_pretrained, read_card, read_golden
from zoo.registry import UnknownModelError, get_spec
from zoo.registry import registered_names as _registered_names
from zoo.tasks import get_task

__all__ = [
    "UnknownModelError", "create", "get_spec", "get_task", "has_pretrained", "list_models",
    "load", "read_card", "read_golden",
]


def list_models(pattern=None, pretrained=None):
    """List registered model names.

    Args:
        pattern: optional shell-style pattern, e.g. `"transformer-*"`.
        pretrained: `True` lists only models with weights in saved_models/, `False` only
            those without, `None` all.

    Example:
    >>> list_models("feedforward-*.flights", pretrained=True)
    """
    names = _registered_names(pattern)
    if pretrained is None:
        return names
    return [name for name in names if has_pretrained(name) == bool(pretrained)]


def create(name, compile=True, tiny=False, **overrides):
    """Build a registered model with fresh weights.

    Args:
        name: registry name, e.g. `"convnet-coords.fashion_mnist"`.
        compile: compile with the task's loss, metrics and Adam optimizer.
        tiny: use the registry's tiny testing size.
        **overrides: builder arguments that replace the registered ones.

    Example:
    >>> model = create("feedforward-onehot.flights", hidden_units=(32,))
    """
    spec = get_spec(name)
    model = spec.builder(**spec.resolve_arguments(tiny=tiny, **overrides))
    if compile:
        get_task(spec.dataset).compile_model(model, spec.learning_rate)
    return model


def load(name, format="keras"):
    """Load a pretrained model from saved_models/.

    Args:
        name: registry name with pretrained weights (`list_models(pretrained=True)`).
        format: `"keras"` for the compiled Keras model, `"saved_model"` for the exported
            serving model (call its `serve` endpoint).

    Example:
    >>> model = load("convnet-coords.fashion_mnist")
    >>> serving = load("convnet-coords.fashion_mnist", format="saved_model")
    """
    return load_pretrained(name, format=format)
