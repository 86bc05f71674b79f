"""Multi-head self-attention that can apply rotary embeddings or ALiBi inside attention."""

import math
import numbers

import keras
from keras import ops
from keras_hub.layers import RotaryEmbedding

from zoo.positional import ATTENTION_SCHEMES

ATTENTION_POSITIONAL = ("none", *ATTENTION_SCHEMES)


@keras.saving.register_keras_serializable(package="encoding_zoo")
class PositionalMultiHeadAttention(keras.layers.MultiHeadAttention):
    """`keras.layers.MultiHeadAttention` with rotary embeddings or ALiBi inside attention.

    The layer overrides `_compute_attention`, the hook that Keras provides for custom attention,
    so Keras still builds the attention mask: the Keras padding masks of query and value, an
    explicit `attention_mask` and `use_causal_mask=True` combine as in the parent class.

    - `positional="none"`: plain multi-head attention (the parent's computation).
    - `positional="rotary"`: keras-hub `RotaryEmbedding` rotates the projected queries and keys
      of every head by their position, so the score of a query and a key depends on their
      distance (Su et al. 2021, arXiv 2104.09864). The head size `key_dim` must be even.
    - `positional="alibi"`: adds the ALiBi bias `-slope_h * |i - j|` to the score of query
      position `i` and key position `j` in head `h` before the softmax (Press et al. 2021,
      arXiv 2108.12409). The bias depends on the distance only, so it is correct both in a
      bidirectional encoder and under a causal mask, where it equals the paper's
      `-slope_h * (i - j)`. `alibi_slopes` gives the slopes.

    The layer computes the ALiBi bias itself because keras-hub's `AlibiBias` (keras-hub 0.32.0)
    is causal-only: it adds `slope_h * (j - (S - 1))` for `S` keys, the same for every query.
    Under a causal mask that differs from ALiBi by a per-query constant that the softmax
    cancels. In a bidirectional encoder it would favour later keys for every query.

    Positions count from 0 at the first token, for queries and keys alike, so right padding
    leaves the positions of the real tokens unchanged. The ALiBi bias depends on distances only,
    so in a bidirectional encoder whose only position information is ALiBi, reversing the real
    tokens reverses the outputs, and a mean-pooled encoder gives a sequence and its reverse the
    same result.

    Args:
        num_heads: int, number of attention heads.
        key_dim: int, size of each head for queries and keys.
        positional: str, `"none"`, `"rotary"` or `"alibi"`. Defaults to `"none"`.
        rotary_max_wavelength: int, the longest wavelength of the rotary embedding.
            Defaults to 10000, the keras-hub default.
        alibi_bias_max: positive number, sets the ALiBi slopes: with a power-of-two number of
            heads `N`, head `h` (counted from 1) gets the slope `2 ** (-alibi_bias_max * h / N)`.
            `alibi_slopes` gives the rule for other `N`. Defaults to 8, the value of the paper
            and of keras-hub.
        **kwargs: other `keras.layers.MultiHeadAttention` arguments.

    Example:
    >>> attention = PositionalMultiHeadAttention(num_heads=2, key_dim=4, positional="rotary")
    >>> x = np.random.normal(size=(3, 5, 8))
    >>> attention(x, x, use_causal_mask=True).shape
    TensorShape([3, 5, 8])
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        positional="none",
        rotary_max_wavelength=10000,
        alibi_bias_max=8,
        **kwargs,
    ):
        super().__init__(num_heads=num_heads, key_dim=key_dim, **kwargs)
        if positional not in ATTENTION_POSITIONAL:
            raise ValueError(
                f"`positional` must be one of {', '.join(map(repr, ATTENTION_POSITIONAL))} "
                "inside attention. Received: "
                f"positional={positional!r}. Schemes that act on the embeddings "
                "belong in `zoo.positional.build_position_layer`."
            )
        if positional == "rotary" and key_dim % 2:
            raise ValueError(
                "Rotary embeddings rotate pairs of features, so the head size `key_dim` must "
                f"be even. Received: key_dim={key_dim}. Choose `hidden_dim` and `num_heads` "
                "so that hidden_dim // num_heads is even."
            )
        _check_alibi_bias_max(alibi_bias_max)

        self.positional = positional
        self.rotary_max_wavelength = rotary_max_wavelength
        self.alibi_bias_max = alibi_bias_max

        self._rotary_embedding = None
        if positional == "rotary":
            self._rotary_embedding = RotaryEmbedding(
                max_wavelength=rotary_max_wavelength,
                dtype=self.dtype_policy,
                name="rotary_embedding",
            )

    def _compute_attention(
        self,
        query,
        key,
        value,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
        use_causal_mask=False,
    ):
        # Keras passes `use_causal_mask=True` only to the parent's own `_compute_attention`.
        # For a subclass it merges the causal mask into `attention_mask` before this call.
        if self.positional == "rotary":
            query = self._rotary_embedding(query)
            key = self._rotary_embedding(key)

        if self.positional == "alibi":
            return self._compute_alibi_attention(query, key, value, attention_mask, training)

        return super()._compute_attention(
            query,
            key,
            value,
            attention_mask=attention_mask,
            training=training,
            return_attention_scores=return_attention_scores,
        )

    def _compute_alibi_attention(self, query, key, value, attention_mask, training):
        query = ops.multiply(query, ops.cast(self._inverse_sqrt_key_dim, query.dtype))

        # Scores have shape (batch, num_heads, query_length, key_length).
        scores = ops.einsum(self._dot_product_equation, key, query)
        shape = ops.shape(scores)
        bias = alibi_bias(
            alibi_slopes(self._num_heads, self.alibi_bias_max), shape[-2], shape[-1]
        )
        scores = ops.add(scores, ops.cast(bias, scores.dtype))

        probabilities = self._masked_softmax(scores, attention_mask)
        dropped = self._dropout_layer(probabilities, training=training)

        output = ops.einsum(self._combine_equation, dropped, value)
        return output, probabilities

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "positional": self.positional,
                "rotary_max_wavelength": self.rotary_max_wavelength,
                "alibi_bias_max": self.alibi_bias_max,
            }
        )
        return config


def alibi_slopes(num_heads, alibi_bias_max=8):
    """Return the ALiBi slope of every head as a list of `num_heads` floats.

    With a power-of-two number of heads `N`, head `h` (counted from 1) gets the slope
    `2 ** (-alibi_bias_max * h / N)`. For other `N`, the first `P` heads take the slopes of
    `P` heads, where `P` is the largest power of two below `N`, and the other `N - P` heads take
    every second slope of `2 * P` heads, starting with the first. This is the rule of the ALiBi
    authors' code (Press et al. 2021, arXiv 2108.12409), which keras-hub's `AlibiBias`
    (keras-hub 0.32.0) follows, so both give the same slopes.

    Args:
        num_heads: int, the number of attention heads.
        alibi_bias_max: positive number, the exponent scale of the slopes. Defaults to 8.

    Example:
    >>> alibi_slopes(4)
    [0.25, 0.0625, 0.015625, 0.00390625]
    """
    if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads <= 0:
        raise ValueError(
            f"`num_heads` must be a positive integer. Received: num_heads={num_heads!r}"
        )
    _check_alibi_bias_max(alibi_bias_max)

    power_of_two = 2 ** math.floor(math.log2(num_heads))
    slopes = _geometric_slopes(power_of_two, alibi_bias_max)
    interleaved = _geometric_slopes(2 * power_of_two, alibi_bias_max)[0::2]
    return slopes + interleaved[: num_heads - power_of_two]


def alibi_bias(slopes, query_length, key_length):
    """Return the float32 ALiBi bias `-slopes[h] * |i - j|`, shape `(1, heads, queries, keys)`.

    Args:
        slopes: sequence of floats, the slope of every head (see `alibi_slopes`).
        query_length: int or scalar tensor, the number of query positions `i`.
        key_length: int or scalar tensor, the number of key positions `j`.

    Example:
    >>> keras.ops.convert_to_numpy(alibi_bias([0.5], 2, 3))[0, 0]
    array([[ 0. , -0.5, -1. ],
           [-0.5,  0. , -0.5]], dtype=float32)
    """
    query_positions = ops.arange(query_length, dtype="float32")
    key_positions = ops.arange(key_length, dtype="float32")
    distances = ops.abs(
        ops.subtract(ops.expand_dims(query_positions, 1), ops.expand_dims(key_positions, 0))
    )

    slopes = ops.reshape(ops.convert_to_tensor(slopes, dtype="float32"), (-1, 1, 1))
    bias = ops.multiply(slopes, ops.subtract(0.0, distances))
    return ops.expand_dims(bias, 0)


def _geometric_slopes(num_heads, alibi_bias_max):
    return [2.0 ** (-alibi_bias_max * head / num_heads) for head in range(1, num_heads + 1)]


def _check_alibi_bias_max(alibi_bias_max):
    is_number = isinstance(alibi_bias_max, numbers.Real) and not isinstance(alibi_bias_max, bool)
    if not is_number or not alibi_bias_max > 0:
        raise ValueError(
            "`alibi_bias_max` must be a positive number, the exponent scale of the ALiBi "
            f"slopes. Received: alibi_bias_max={alibi_bias_max!r}. The paper uses 8."
        )
