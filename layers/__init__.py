"""Custom Keras layers of the encoding zoo.

Importing this package registers every layer with `keras.saving`, so a `.keras` file that
uses them loads in a fresh process after `import layers`.
"""

from layers.beta_positional_encoding import BetaPositionalEncoding
from layers.frozen_embedding import FrozenEmbedding
from layers.one_hot_input import OneHotInput
from layers.positional_channel_2d import PositionalChannel2D
from layers.sparse_dense import SparseDense

__all__ = [
    "BetaPositionalEncoding",
    "FrozenEmbedding",
    "OneHotInput",
    "PositionalChannel2D",
    "SparseDense",
]
