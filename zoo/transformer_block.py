"""One pre-layer-norm transformer block shared by every positional scheme of the zoo."""

import keras
from keras import ops

from zoo.attention import ATTENTION_POSITIONAL, PositionalMultiHeadAttention


def check_head_dim(hidden_dim, num_heads, positional="none"):
    """Check that `hidden_dim` splits into `num_heads` heads and return the head size.

    Args:
        hidden_dim: int, the model width.
        num_heads: int, the number of attention heads.
        positional: str, the scheme applied in attention; `"rotary"` needs an even head size.

    Returns:
        The head size `hidden_dim // num_heads`.

    Raises:
        ValueError: if `hidden_dim` is not divisible by `num_heads`, or if the head size is
            odd with `positional="rotary"`.

    Example:
    >>> check_head_dim(64, 4, "rotary")
    16
    """
    if hidden_dim % num_heads:
        raise ValueError(
            "`hidden_dim` must be divisible by `num_heads`, because every head gets "
            f"hidden_dim // num_heads features. Received: hidden_dim={hidden_dim}, "
            f"num_heads={num_heads}."
        )
    head_dim = hidden_dim // num_heads
    if positional == "rotary" and head_dim % 2:
        raise ValueError(
            "Rotary embeddings need an even head size hidden_dim // num_heads. Received: "
            f"hidden_dim={hidden_dim}, num_heads={num_heads} (head size {head_dim}). Change "
            "`hidden_dim` or `num_heads`."
        )
    return head_dim


@keras.saving.register_keras_serializable(package="encoding_zoo")
class TransformerBlock(keras.layers.Layer):
    """Pre-layer-norm transformer block: self-attention and a feed-forward network.

    Shape: `(batch_size, sequence_length, hidden_dim)` in and out.

    The block computes `x = x + Dropout(Attention(LayerNorm(x)))`, then
    `x = x + Dropout(Dense(Dense_gelu(LayerNorm(x))))`. The layer norm comes first (as in GPT-2),
    because a pre-layer-norm stack trains without learning-rate warm-up at small sizes. A model
    that stacks these blocks needs a final `LayerNormalization`.

    The attention is `zoo.attention.PositionalMultiHeadAttention`, so rotary embeddings and
    ALiBi act inside it. keras-hub's `TransformerEncoder` and `TransformerDecoder` build a plain
    `keras.layers.MultiHeadAttention` and take no rotary or ALiBi option, which is why the zoo
    has this block: every positional scheme runs on the same block.

    Masking: the Keras padding mask of the inputs (for example from
    `keras.layers.Embedding(mask_zero=True)`) stops every query from attending to padded keys,
    and is passed on to the outputs. With `causal=True` a query also skips later keys.

    Args:
        num_heads: int, number of attention heads. `hidden_dim` (the input width) must be
            divisible by it.
        intermediate_dim: int, width of the feed-forward hidden layer.
        positional: str, `"none"`, `"rotary"` or `"alibi"`: the scheme applied in attention.
            Defaults to `"none"`.
        causal: bool, whether a query attends only to keys at or before it. Defaults to False.
        dropout: float, rate of the attention-probability dropout and of the dropout on each
            residual branch. Defaults to 0.
        activation: activation of the feed-forward hidden layer. Defaults to `"gelu"`.
        layer_norm_epsilon: float, epsilon of the layer norms. Defaults to 1e-5.
        kernel_initializer: initializer of every kernel. Defaults to `"glorot_uniform"`.
        bias_initializer: initializer of every bias. Defaults to `"zeros"`.
        **kwargs: `keras.layers.Layer` arguments such as `name` and `dtype`.

    Example:
    >>> block = TransformerBlock(num_heads=2, intermediate_dim=32, positional="alibi",
    ...                          causal=True)
    >>> block(np.random.normal(size=(3, 7, 16))).shape
    TensorShape([3, 7, 16])
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        positional="none",
        causal=False,
        dropout=0.0,
        activation="gelu",
        layer_norm_epsilon=1e-5,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if positional not in ATTENTION_POSITIONAL:
            raise ValueError(
                f"`positional` must be one of {', '.join(map(repr, ATTENTION_POSITIONAL))} "
                "in a transformer block. Received: "
                f"positional={positional!r}. Schemes that act on the embeddings belong in "
                "`zoo.positional.build_position_layer`."
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")

        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.positional = positional
        self.causal = causal
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        hidden_dim = input_shape[-1]
        head_dim = check_head_dim(hidden_dim, self.num_heads, self.positional)

        self.attention_layer_norm = self._make_layer_norm("attention_layer_norm", input_shape)
        self.attention = PositionalMultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=head_dim,
            positional=self.positional,
            dropout=self.dropout,
            kernel_initializer=self._clone(self.kernel_initializer),
            bias_initializer=self._clone(self.bias_initializer),
            dtype=self.dtype_policy,
            name="attention",
        )
        self.attention.build(input_shape, input_shape)
        self.attention_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="attention_dropout"
        )

        self.feedforward_layer_norm = self._make_layer_norm("feedforward_layer_norm", input_shape)
        self.feedforward_intermediate = self._make_dense(
            self.intermediate_dim, self.activation, "feedforward_intermediate_dense", input_shape
        )
        intermediate_shape = (*input_shape[:-1], self.intermediate_dim)
        self.feedforward_output = self._make_dense(
            hidden_dim, None, "feedforward_output_dense", intermediate_shape
        )
        self.feedforward_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="feedforward_dropout"
        )
        self.built = True

    def _make_layer_norm(self, name, input_shape):
        layer = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )
        layer.build(input_shape)
        return layer

    def _make_dense(self, units, activation, name, input_shape):
        layer = keras.layers.Dense(
            units,
            activation=activation,
            kernel_initializer=self._clone(self.kernel_initializer),
            bias_initializer=self._clone(self.bias_initializer),
            dtype=self.dtype_policy,
            name=name,
        )
        layer.build(input_shape)
        return layer

    @staticmethod
    def _clone(initializer):
        return keras.initializers.get(keras.initializers.serialize(initializer))

    def call(self, inputs, mask=None, training=None):
        attention_mask = None
        if mask is not None:
            # (batch, 1, key_length): every query skips the padded keys.
            attention_mask = ops.expand_dims(ops.cast(mask, "bool"), axis=1)

        residual = inputs
        x = self.attention_layer_norm(inputs)
        x = self.attention(
            query=x,
            value=x,
            attention_mask=attention_mask,
            use_causal_mask=self.causal,
            training=training,
        )
        x = self.attention_dropout(x, training=training)
        x = x + residual

        residual = x
        x = self.feedforward_layer_norm(x)
        x = self.feedforward_intermediate(x)
        x = self.feedforward_output(x)
        x = self.feedforward_dropout(x, training=training)
        return x + residual

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "positional": self.positional,
                "causal": self.causal,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
