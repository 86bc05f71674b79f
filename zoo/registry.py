"""The model registry: one table of named configurations that the API, CLI, docs and tests read.

Names have the form `family-variant.dataset`, for example `convnet-coords.fashion_mnist`:
the architecture family, the input or positional variant, and the data set whose input and
output shapes the configuration fits.
"""

import dataclasses
import difflib
import fnmatch
from typing import Callable


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A registered model configuration.

    Attributes:
        name: registry name, `family-variant.dataset`; the data set part names its task
            in `zoo.tasks`.
        builder: function returning an uncompiled `keras.Model` from keyword arguments.
        arguments: default keyword arguments of `builder`.
        tiny_arguments: overrides that make a tiny model for fast tests.
        description: one line on what the model is and what it tests.
        epochs: training epochs of the pretrained weights.
        batch_size: training batch size of the pretrained weights.
        learning_rate: Adam learning rate of the pretrained weights.
    """

    name: str
    builder: Callable
    arguments: dict
    tiny_arguments: dict
    description: str
    epochs: int = 3
    batch_size: int = 128
    learning_rate: float = 1e-3

    @property
    def family(self):
        return self.name.split("-", 1)[0]

    @property
    def variant(self):
        return self.name.split("-", 1)[1].rsplit(".", 1)[0]

    @property
    def dataset(self):
        return self.name.rsplit(".", 1)[1]

    @property
    def recipe(self):
        """The command that trains this model's pretrained weights."""
        return f"zoo train pretrained {self.name}"

    def resolve_arguments(self, tiny=False, **overrides):
        """Return the builder arguments: defaults, then the tiny size, then `overrides`."""
        arguments = dict(self.arguments)
        if tiny:
            arguments.update(self.tiny_arguments)
        unknown = sorted(set(overrides) - set(arguments))
        if unknown:
            raise TypeError(
                f"Unknown argument(s) {unknown} for model {self.name!r}. "
                f"It accepts: {sorted(arguments)}."
            )
        arguments.update(overrides)
        return arguments


_REGISTRY = {}


def register(spec):
    """Add a `ModelSpec` to the registry; a name can be registered once.

    Example:
    >>> register(ModelSpec(name="convnet-plain.fashion_mnist", ...))
    """
    _check_name(spec.name)
    if spec.name in _REGISTRY:
        raise ValueError(f"Model {spec.name!r} is already registered.")
    _REGISTRY[spec.name] = spec
    return spec


def _check_name(name):
    family, separator, rest = name.partition("-")
    if not family or not separator or "." not in rest or rest.startswith(".") or rest.endswith("."):
        raise ValueError(
            f"Registry names have the form 'family-variant.dataset'. Received: {name!r}"
        )


def get_spec(name):
    """Return the `ModelSpec` registered as `name`, or raise `UnknownModelError`."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(name, sorted(_REGISTRY)) from None


def registered_names(pattern=None):
    """Return the sorted registered names, filtered by a shell-style `pattern`."""
    names = sorted(_REGISTRY)
    if pattern:
        names = [name for name in names if fnmatch.fnmatchcase(name, pattern)]
    return names


class UnknownModelError(KeyError):
    """Raised for a model name that is not registered; the message lists close matches."""

    def __init__(self, name, known_names):
        matches = difflib.get_close_matches(name, known_names, n=3, cutoff=0.5)
        if matches:
            hint = "Did you mean " + " or ".join(repr(match) for match in matches) + "?"
        else:
            hint = "Run `zoo list` to see every registered model."
        super().__init__(name)
        self.message = f"Unknown model {name!r}. {hint}"

    def __str__(self):
        return self.message
