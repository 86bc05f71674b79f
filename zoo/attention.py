"""Multi-head self-attention that can apply rotary embeddings or ALiBi inside attention."""

import keras
from keras import ops
from keras_hub.layers import AlibiBias, RotaryEmbedding

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
    - `positional="alibi"`: keras-hub `AlibiBias` adds a per-head linear bias to the attention
      scores before the softmax (Press et al. 2021, arXiv 2108.12409).

    Positions count from 0 at the first token, so right padding leaves the positions of the
    real tokens unchanged.

    NOTE: keras-hub's `AlibiBias` (keras-hub 0.32.0) adds `slope * (j - (S - 1))` for key
    position `j` out of `S` keys, the same for every query. Under a causal mask this equals
    ALiBi's `-slope * (i - j)` up to a per-query constant that the softmax cancels. In a
    bidirectional encoder it is not the symmetric `-slope * |i - j|`: it favours later keys
    for every query.

    Args:
        num_heads: int, number of attention heads.
        key_dim: int, size of each head for queries and keys.
        positional: str, `"none"`, `"rotary"` or `"alibi"`. Defaults to `"none"`.
        rotary_max_wavelength: int, the longest wavelength of the rotary embedding.
            Defaults to 10000, the keras-hub default.
        alibi_bias_max: int, sets the ALiBi slopes: with a power-of-two number of heads `N`,
            head `h` (counted from 1) gets the slope `2 ** (-alibi_bias_max * h / N)`.
            Defaults to 8, the keras-hub default.
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

        self.positional = positional
        self.rotary_max_wavelength = rotary_max_wavelength
        self.alibi_bias_max = alibi_bias_max

        self._rotary_embedding = None
        self._alibi_bias = None
        if positional == "rotary":
            self._rotary_embedding = RotaryEmbedding(
                max_wavelength=rotary_max_wavelength,
                dtype=self.dtype_policy,
                name="rotary_embedding",
            )
        if positional == "alibi":
            self._alibi_bias = AlibiBias(
                alibi_bias_max=alibi_bias_max, dtype=self.dtype_policy, name="alibi_bias"
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
        scores = self._alibi_bias(scores)

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
