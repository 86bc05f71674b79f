"""Transformer builders of the zoo: an encoder classifier and a causal language model.

Both builders return functional Keras models that take int32 token ids of shape
`(batch_size, sequence_length)`, where id 0 is padding, so `vocabulary_size` counts the padding
id. The sequence length may vary from batch to batch. `max_length` bounds it for the
`"learned"` and `"beta"` schemes, whose position tables have `max_length` rows. The other
schemes also accept longer sequences, as length-generalization tests need.

Layout of both models, the same for every positional scheme (`zoo.positional`):
token embedding (`mask_zero=True`), the embedding-stage positional layer if the scheme has
one, dropout, `num_layers` pre-layer-norm `TransformerBlock`s (rotary and ALiBi act inside
their attention), a final layer norm, then the head. The logits layer of the head computes
in float32 and returns float32 logits under every global dtype policy, so a mixed-precision
policy (`mixed_float16`, `mixed_bfloat16`) applies to the layers before it only.
"""

import keras

from zoo.positional import (
    attention_positional,
    build_position_layer,
    validate_combine,
    validate_positional,
)
from zoo.transformer_block import TransformerBlock, check_head_dim

POOLING_MODES = ("mean",)

# The logits layers compute in float32 under any global dtype policy, so that with
# `mixed_float16` or `mixed_bfloat16` the softmax cross-entropy receives float32 logits.
LOGITS_DTYPE = "float32"

# Token embeddings start at the PyTorch `nn.Embedding` default, normal(0, 1), so token and
# sinusoidal or beta position vectors (entries in [-1, 1]) have comparable scale when summed.
# Keras's own `Embedding` default is uniform(-0.05, 0.05), which position vectors would drown.
# NOTE: on cmudict stress this start learns slower than uniform(-0.05, 0.05) (best validation
# accuracy 0.760 against 0.796 after 4 epochs in `python -m bench.run_all`), so the encoder
# trains slower than the keras-hub stack to equal accuracy.
DEFAULT_EMBEDDINGS_INITIALIZER = {
    "class_name": "RandomNormal",
    "config": {"mean": 0.0, "stddev": 1.0, "seed": None},
}


def build_encoder_classifier(
    vocabulary_size,
    num_classes,
    max_length,
    positional="sinusoidal",
    hidden_dim=64,
    num_heads=4,
    intermediate_dim=128,
    num_layers=2,
    dropout=0.1,
    combine="add",
    position_dim=None,
    pooling="mean",
    embeddings_initializer=DEFAULT_EMBEDDINGS_INITIALIZER,
    kernel_initializer="glorot_uniform",
    position_initializer="glorot_uniform",
    seed=0,
    name=None,
):
    """Build a bidirectional transformer encoder that classifies token sequences.

    The encoder pools the final token vectors with a masked mean (padding excluded) and
    returns `num_classes` logits. Without positions (`positional="none"`) the encoder is a
    bag-of-tokens model: permuting the real tokens of a sequence leaves its logits unchanged.

    Args:
        vocabulary_size: int, number of token ids including the padding id 0.
        num_classes: int, number of classes.
        max_length: int, the maximum sequence length (see the module docstring).
        positional: str, one of `zoo.positional.POSITIONAL_SCHEMES`. Defaults to
            `"sinusoidal"`.
        hidden_dim: int, the model width. Defaults to 64.
        num_heads: int, attention heads; must divide `hidden_dim`. Defaults to 4.
        intermediate_dim: int, the feed-forward hidden width. Defaults to 128.
        num_layers: int, number of transformer blocks. Defaults to 2.
        dropout: float, dropout rate after the embeddings and in every block. Defaults to 0.1.
        combine: str, `"add"` sums token and position vectors; `"concat"` concatenates a
            `position_dim`-wide position vector to a `hidden_dim - position_dim`-wide token
            embedding. Only for `"sinusoidal"`, `"learned"` and `"beta"`. Defaults to `"add"`.
        position_dim: int, width of the position vector with `combine="concat"`. Defaults to
            `hidden_dim // 2`.
        pooling: str, `"mean"`: the masked mean over real tokens.
        embeddings_initializer: initializer of the token embedding. Defaults to
            normal(0, 1), `DEFAULT_EMBEDDINGS_INITIALIZER`.
        kernel_initializer: initializer of every dense and attention kernel. Defaults to
            `"glorot_uniform"`.
        position_initializer: initializer of the `"learned"` position table. Defaults to
            `"glorot_uniform"`.
        seed: int, seed of the `"beta"` position table. Defaults to 0.
        name: str, model name. Defaults to `"encoder_classifier_<positional>"`.

    Returns:
        A `keras.Model` from int32 ids `(batch_size, sequence_length)` to float32 logits
        `(batch_size, num_classes)`.

    Example:
    >>> model = build_encoder_classifier(vocabulary_size=30, num_classes=3, max_length=12,
    ...                                  positional="rotary", hidden_dim=16, num_heads=2)
    >>> model(np.array([[5, 7, 2, 0, 0]], dtype="int32")).shape
    TensorShape([1, 3])
    """
    _check_positive_int("num_classes", num_classes)
    if pooling not in POOLING_MODES:
        raise ValueError(
            f"`pooling` must be one of {', '.join(map(repr, POOLING_MODES))}. "
            f"Received: pooling={pooling!r}"
        )
    token_ids, x = _embed_and_encode(
        vocabulary_size=vocabulary_size,
        max_length=max_length,
        positional=positional,
        hidden_dim=hidden_dim,
        num_heads=num_heads,
        intermediate_dim=intermediate_dim,
        num_layers=num_layers,
        dropout=dropout,
        combine=combine,
        position_dim=position_dim,
        embeddings_initializer=embeddings_initializer,
        kernel_initializer=kernel_initializer,
        position_initializer=position_initializer,
        seed=seed,
        causal=False,
    )

    # GlobalAveragePooling1D averages over the positions that the Keras mask marks as real.
    pooled = keras.layers.GlobalAveragePooling1D(name="masked_mean_pooling")(x)
    logits = keras.layers.Dense(
        num_classes,
        kernel_initializer=kernel_initializer,
        dtype=LOGITS_DTYPE,
        name="classifier_logits",
    )(pooled)
    return keras.Model(token_ids, logits, name=name or f"encoder_classifier_{positional}")


def build_causal_lm(
    vocabulary_size,
    max_length,
    positional="sinusoidal",
    hidden_dim=64,
    num_heads=4,
    intermediate_dim=128,
    num_layers=2,
    dropout=0.1,
    combine="add",
    position_dim=None,
    embeddings_initializer=DEFAULT_EMBEDDINGS_INITIALIZER,
    kernel_initializer="glorot_uniform",
    position_initializer="glorot_uniform",
    seed=0,
    name=None,
):
    """Build a decoder-only causal language model that returns logits at every position.

    The blocks use causal self-attention, so the logits at position `t` depend only on the
    tokens at positions `0..t`. The logits carry the Keras padding mask, so `fit` leaves padded
    positions out of the loss. Without positions (`positional="none"`) the causal mask still
    lets the model infer positions (Haviv et al. 2022, arXiv 2203.16634).

    Args:
        vocabulary_size: int, number of token ids including the padding id 0; also the number
            of logits per position.
        max_length: int, the maximum sequence length (see the module docstring).
        positional, hidden_dim, num_heads, intermediate_dim, num_layers, dropout, combine,
            position_dim, embeddings_initializer, kernel_initializer, position_initializer,
            seed: as in `build_encoder_classifier`.
        name: str, model name. Defaults to `"causal_lm_<positional>"`.

    Returns:
        A `keras.Model` from int32 ids `(batch_size, sequence_length)` to float32 logits
        `(batch_size, sequence_length, vocabulary_size)`.

    Example:
    >>> model = build_causal_lm(vocabulary_size=30, max_length=12, positional="alibi",
    ...                         hidden_dim=16, num_heads=2)
    >>> model(np.array([[5, 7, 2, 0, 0]], dtype="int32")).shape
    TensorShape([1, 5, 30])
    """
    token_ids, x = _embed_and_encode(
        vocabulary_size=vocabulary_size,
        max_length=max_length,
        positional=positional,
        hidden_dim=hidden_dim,
        num_heads=num_heads,
        intermediate_dim=intermediate_dim,
        num_layers=num_layers,
        dropout=dropout,
        combine=combine,
        position_dim=position_dim,
        embeddings_initializer=embeddings_initializer,
        kernel_initializer=kernel_initializer,
        position_initializer=position_initializer,
        seed=seed,
        causal=True,
    )
    logits = keras.layers.Dense(
        vocabulary_size,
        kernel_initializer=kernel_initializer,
        dtype=LOGITS_DTYPE,
        name="lm_logits",
    )(x)
    return keras.Model(token_ids, logits, name=name or f"causal_lm_{positional}")


def _embed_and_encode(
    vocabulary_size,
    max_length,
    positional,
    hidden_dim,
    num_heads,
    intermediate_dim,
    num_layers,
    dropout,
    combine,
    position_dim,
    embeddings_initializer,
    kernel_initializer,
    position_initializer,
    seed,
    causal,
):
    """Build the input, embedding stage and block stack, and return the input and last tensor."""
    _check_arguments(
        vocabulary_size, max_length, positional, hidden_dim, num_heads, intermediate_dim,
        num_layers, dropout, combine,
    )
    if combine == "concat":
        position_dim = hidden_dim // 2 if position_dim is None else position_dim
        _check_position_dim(position_dim, hidden_dim)
    token_dim = hidden_dim - position_dim if combine == "concat" else hidden_dim

    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(
        vocabulary_size,
        token_dim,
        mask_zero=True,
        embeddings_initializer=embeddings_initializer,
        name="token_embedding",
    )(token_ids)

    position_layer = build_position_layer(
        positional,
        max_length,
        combine=combine,
        position_dim=position_dim,
        initializer=position_initializer,
        seed=seed,
    )
    if position_layer is not None:
        x = position_layer(x)
    x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)

    for index in range(num_layers):
        x = TransformerBlock(
            num_heads=num_heads,
            intermediate_dim=intermediate_dim,
            positional=attention_positional(positional),
            causal=causal,
            dropout=dropout,
            kernel_initializer=kernel_initializer,
            name=f"transformer_block_{index}",
        )(x)

    x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_layer_norm")(x)
    return token_ids, x


def _check_arguments(
    vocabulary_size, max_length, positional, hidden_dim, num_heads, intermediate_dim,
    num_layers, dropout, combine,
):
    validate_positional(positional)
    validate_combine(combine, positional)
    for name, value in (
        ("vocabulary_size", vocabulary_size),
        ("max_length", max_length),
        ("hidden_dim", hidden_dim),
        ("num_heads", num_heads),
        ("intermediate_dim", intermediate_dim),
        ("num_layers", num_layers),
    ):
        _check_positive_int(name, value)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
    check_head_dim(hidden_dim, num_heads, attention_positional(positional))


def _check_position_dim(position_dim, hidden_dim):
    if isinstance(position_dim, bool) or not isinstance(position_dim, int):
        raise ValueError(
            f"`position_dim` must be an integer. Received: position_dim={position_dim!r}"
        )
    if not 0 < position_dim < hidden_dim:
        raise ValueError(
            "`position_dim` must be between 1 and hidden_dim - 1, so that token and position "
            f"vectors both get features. Received: position_dim={position_dim}, "
            f"hidden_dim={hidden_dim}."
        )


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
