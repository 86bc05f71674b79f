"""Positional schemes of the transformer zoo: names, validation and the embedding-stage layer.

Six schemes place position information in two different spots of a transformer:

- Embedding stage, before the first block: `"sinusoidal"` (keras-hub `SinePositionEncoding`,
  Vaswani et al. 2017), `"learned"` (keras-hub `PositionEmbedding`, as in BERT and GPT-2) and
  `"beta"` (the project's `BetaPositionalEncoding`, a fixed table drawn from a U-shaped Beta
  distribution).
- Inside every attention layer: `"rotary"` (keras-hub `RotaryEmbedding` on queries and keys,
  Su et al. 2021, arXiv 2104.09864) and `"alibi"` (the symmetric distance bias
  `-m_h * |i - j|` added to the attention scores, Press et al. 2021, arXiv 2108.12409).
  `zoo.attention` applies them.
- `"none"` (NoPE) gives the model no position information at all.

`build_position_layer` returns the embedding-stage layer of a scheme, or `None` for the schemes
that act in attention or not at all.
"""

import keras
import tensorflow as tf
from keras import ops
from keras_hub.layers import PositionEmbedding, SinePositionEncoding

from layers.beta_positional_encoding import BetaPositionalEncoding

POSITIONAL_SCHEMES = ("none", "sinusoidal", "learned", "beta", "rotary", "alibi")
EMBEDDING_SCHEMES = ("sinusoidal", "learned", "beta")
ATTENTION_SCHEMES = ("rotary", "alibi")
COMBINE_MODES = ("add", "concat")


def validate_positional(positional):
    """Check that `positional` names a positional scheme and return it.

    Args:
        positional: str, one of `POSITIONAL_SCHEMES`.

    Returns:
        `positional` unchanged.

    Raises:
        ValueError: if `positional` is not one of `POSITIONAL_SCHEMES`.

    Example:
    >>> validate_positional("rotary")
    'rotary'
    """
    if positional not in POSITIONAL_SCHEMES:
        raise ValueError(
            f"`positional` must be one of {', '.join(map(repr, POSITIONAL_SCHEMES))}. "
            f"Received: positional={positional!r}"
        )
    return positional


def validate_combine(combine, positional):
    """Check that `combine` is a combine mode that `positional` supports and return it.

    Args:
        combine: str, `"add"` or `"concat"`.
        positional: str, a valid positional scheme.

    Returns:
        `combine` unchanged.

    Raises:
        ValueError: if `combine` is unknown, or if it is `"concat"` for a scheme without an
            embedding stage (`"none"`, `"rotary"`, `"alibi"`), which has no position vector to
            concatenate.

    Example:
    >>> validate_combine("concat", "learned")
    'concat'
    """
    if combine not in COMBINE_MODES:
        raise ValueError(
            f"`combine` must be one of {', '.join(map(repr, COMBINE_MODES))}. "
            f"Received: combine={combine!r}"
        )
    if combine == "concat" and positional not in EMBEDDING_SCHEMES:
        raise ValueError(
            "`combine='concat'` needs a scheme that acts on the embeddings "
            f"({', '.join(map(repr, EMBEDDING_SCHEMES))}). Received: "
            f"positional={positional!r}. Use combine='add' with this scheme."
        )
    return combine


def acts_in_attention(positional):
    """Return whether `positional` acts inside the attention layers (rotary and ALiBi).

    Example:
    >>> acts_in_attention("alibi"), acts_in_attention("sinusoidal")
    (True, False)
    """
    return validate_positional(positional) in ATTENTION_SCHEMES


def attention_positional(positional):
    """Map a model's positional scheme to the scheme its attention layers apply.

    Returns `positional` for `"rotary"` and `"alibi"` and `"none"` for every other scheme.

    Example:
    >>> attention_positional("learned")
    'none'
    """
    return positional if acts_in_attention(positional) else "none"


def build_position_layer(
    positional,
    max_length,
    combine="add",
    position_dim=None,
    initializer="glorot_uniform",
    seed=0,
    name="positional_encoding",
):
    """Build the embedding-stage layer of a positional scheme.

    Args:
        positional: str, one of `POSITIONAL_SCHEMES`.
        max_length: int, the number of rows of a learned or beta position table.
        combine: str, `"add"` or `"concat"` (see `PositionalEncodingStage`).
        position_dim: int, width of the concatenated position vector. Required with
            `combine="concat"`, unused with `"add"`.
        initializer: initializer of the learned position table (keras-hub's default,
            `"glorot_uniform"`, named here on purpose).
        seed: int, seed of the beta position table.
        name: str, layer name.

    Returns:
        A `PositionalEncodingStage` for `"sinusoidal"`, `"learned"` and `"beta"`, or `None`
        for `"none"`, `"rotary"` and `"alibi"`.

    Example:
    >>> layer = build_position_layer("sinusoidal", max_length=128)
    >>> build_position_layer("rotary", max_length=128) is None
    True
    """
    validate_positional(positional)
    validate_combine(combine, positional)
    if positional not in EMBEDDING_SCHEMES:
        return None

    return PositionalEncodingStage(
        positional=positional,
        max_length=max_length,
        combine=combine,
        position_dim=position_dim,
        initializer=initializer,
        seed=seed,
        name=name,
    )


@keras.saving.register_keras_serializable(package="encoding_zoo")
class PositionalEncodingStage(keras.layers.Layer):
    """Combine token embeddings with the position vectors of an embedding-stage scheme.

    Input shape: `(batch_size, sequence_length, token_dim)`.
    Output shape: the same with `combine="add"`, and
    `(batch_size, sequence_length, token_dim + position_dim)` with `combine="concat"`.

    With `combine="add"` the position vector has the token width and is summed with the token
    embedding (`x + pe`). With `combine="concat"` a `position_dim`-wide position vector is
    appended to the token embedding, so a model of width `hidden_dim` uses a token embedding of
    width `hidden_dim - position_dim` and both variants have the same width in every block.
    A dense layer applied to `[token, pe]` computes `W1 token + W2 pe`, a sum of separately
    projected parts. The variants differ in the token width and in the residual stream, where
    concatenated positions keep coordinates of their own.

    The layer passes the Keras padding mask through unchanged. Sequences may have any length
    up to `max_length`. For `"learned"` and `"beta"` a longer sequence raises an error (a
    `ValueError` when the length is known while tracing, a TensorFlow `InvalidArgumentError`
    when it is only known at run time). `"sinusoidal"` accepts any length.

    Args:
        positional: str, `"sinusoidal"`, `"learned"` or `"beta"`.
        max_length: int, the maximum sequence length.
        combine: str, `"add"` (default) or `"concat"`.
        position_dim: int, width of the position vector with `combine="concat"`.
        initializer: initializer of the learned position table. Defaults to
            `"glorot_uniform"`, the keras-hub default.
        seed: int, seed of the beta position table. Defaults to 0.
        **kwargs: `keras.layers.Layer` arguments such as `name` and `dtype`.

    Example:
    >>> stage = PositionalEncodingStage("learned", max_length=16)
    >>> stage(np.zeros((2, 10, 8))).shape
    TensorShape([2, 10, 8])
    """

    def __init__(
        self,
        positional,
        max_length,
        combine="add",
        position_dim=None,
        initializer="glorot_uniform",
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if positional not in EMBEDDING_SCHEMES:
            raise ValueError(
                "`positional` must be a scheme that acts on the embeddings, one of "
                f"{', '.join(map(repr, EMBEDDING_SCHEMES))}. Received: positional={positional!r}"
            )
        validate_combine(combine, positional)
        _check_positive_int("max_length", max_length)
        if combine == "concat":
            _check_positive_int("position_dim", position_dim)

        self.positional = positional
        self.max_length = max_length
        self.combine = combine
        self.position_dim = position_dim if combine == "concat" else None
        self.initializer = keras.initializers.get(initializer)
        self.seed = seed
        self.supports_masking = True

    def build(self, input_shape):
        position_dim = self.position_dim if self.combine == "concat" else input_shape[-1]
        self.position_layer = self._make_position_layer()
        self.position_layer.build((None, None, position_dim))
        self.built = True

    def _make_position_layer(self):
        if self.positional == "sinusoidal":
            return SinePositionEncoding(dtype=self.dtype_policy, name="sine_position_encoding")

        if self.positional == "learned":
            return PositionEmbedding(
                sequence_length=self.max_length,
                initializer=keras.initializers.get(
                    keras.initializers.serialize(self.initializer)
                ),
                dtype=self.dtype_policy,
                name="position_embedding",
            )

        return BetaPositionalEncoding(
            max_length=self.max_length,
            seed=self.seed,
            dtype=self.dtype_policy,
            name="beta_positional_encoding",
        )

    def call(self, inputs, mask=None):
        # BetaPositionalEncoding checks the length itself; PositionEmbedding does not.
        if self.positional == "learned":
            inputs = self._check_length(inputs)

        positions = self._position_vectors(inputs)
        if self.combine == "add":
            return inputs + positions
        return ops.concatenate([inputs, positions], axis=-1)

    def _position_vectors(self, inputs):
        shape = ops.shape(inputs)
        width = self.position_dim if self.combine == "concat" else shape[2]
        zeros = ops.zeros((shape[0], shape[1], width), dtype=self.compute_dtype)

        # Each position layer maps a zero tensor to the bare position vectors: the keras-hub
        # layers return `pe` and BetaPositionalEncoding returns `0 + pe`. The zero tensor also
        # carries no Keras mask, which the keras-hub layers do not support.
        return ops.cast(self.position_layer(zeros), inputs.dtype)

    def _check_length(self, inputs):
        length = ops.shape(inputs)[1]
        if isinstance(length, int):
            if length > self.max_length:
                raise ValueError(
                    f"The sequence length must be at most `max_length` for positional="
                    f"{self.positional!r}, because its position table has max_length="
                    f"{self.max_length} rows. Received: sequence length {length}. Truncate the "
                    "sequences or build the model with a larger `max_length`."
                )
            return inputs

        # The length is only known at run time, as in an exported serving function with a
        # `None` length. This path uses TensorFlow, the backend the zoo exports with.
        # NOTE: XLA (`jit_compile=True`) drops this assertion, and a too-long input then fails
        # in the slice with "Expected size[0] in [0, max_length]" (seen with TF 2.21 on CPU).
        check = tf.debugging.assert_less_equal(
            length,
            self.max_length,
            message=(
                f"The sequence length must be at most max_length={self.max_length} for "
                f"positional={self.positional!r}. Truncate the sequences or build the model "
                "with a larger `max_length`."
            ),
        )
        with tf.control_dependencies([check]):
            return tf.identity(inputs)

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        if self.combine == "add":
            return tuple(input_shape)
        width = None if input_shape[-1] is None else input_shape[-1] + self.position_dim
        return (*input_shape[:-1], width)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "positional": self.positional,
                "max_length": self.max_length,
                "combine": self.combine,
                "position_dim": self.position_dim,
                "initializer": keras.initializers.serialize(self.initializer),
                "seed": self.seed,
            }
        )
        return config


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
