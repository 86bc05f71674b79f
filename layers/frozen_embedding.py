"""Embedding lookup that starts normal(0, 1) and is not trained unless unfrozen."""

import keras
import numpy as np

from layers.id_validation import assert_ids_in_range
from layers.id_validation import validate_bool
from layers.id_validation import validate_id_dtype
from layers.id_validation import validate_id_rank
from layers.id_validation import validate_positive_int


@keras.saving.register_keras_serializable(package="encoding_zoo")
class FrozenEmbedding(keras.layers.Embedding):
    """Look up a fixed embedding vector for each integer id.

    A `keras.layers.Embedding` with two different defaults: the matrix starts from
    normal(mean 0, stddev 1) instead of Keras's uniform(-0.05, 0.05), and the layer is created
    with `trainable=False`, so `model.fit` leaves the matrix unchanged and `model.summary()`
    counts it as non-trainable. `trainable` is part of the config, so a reloaded layer is
    still frozen. Set `layer.trainable = True`, or call `unfreeze()`, to fine-tune it, then
    compile the model again.

    A pretrained matrix passed as `embeddings` becomes the initial value of the weight. It is
    saved with the weights and never in `get_config`, so the config stays small and a
    `.keras` file reloads the pretrained values from its weights.

    Ids outside [0, input_dim) raise `tf.errors.InvalidArgumentError` with the offending ids
    in the message, eagerly, inside `model.fit` and `model.predict`, and inside an exported
    SavedModel. `tf.gather` on CPU also rejects such ids but returns zeros on GPU, so the
    layer checks them itself.

    Masking: with `mask_zero=True`, id 0 is padding and `compute_mask` returns `ids != 0`.
    Padding positions still get row 0 of the matrix.

    Mixed precision: the matrix is stored in the variable dtype (float32) and, as in
    `keras.layers.Embedding`, the looked-up vectors are cast to the compute dtype, so the
    output is float16 or bfloat16 under a mixed policy.

    The layer needs the TensorFlow backend for its range check.

    Input shape:
        int32 or int64 ids of shape `(batch, ...)`, rank >= 1. Float, bool and string ids
        raise `TypeError`.

    Output shape:
        `(batch, ..., output_dim)` in the layer's compute dtype.

    Args:
        input_dim: int. Vocabulary size, so ids lie in [0, input_dim). With `mask_zero=True`
            it counts the padding id 0 and must be at least 2.
        output_dim: int. Size of each embedding vector.
        embeddings_initializer: initializer of the matrix. Defaults to
            `keras.initializers.RandomNormal(mean=0.0, stddev=1.0)`, a new instance per layer.
        embeddings: optional NumPy array of shape `(input_dim, output_dim)`, the initial value
            of the matrix instead of the initializer's draw. Stored as a weight, never in the
            config. After construction, `layer.embeddings` is the weight variable.
        mask_zero: bool. If True, id 0 is padding and the layer returns the mask `ids != 0`.
            Defaults to `False`.
        trainable: bool. Whether the optimizer updates the matrix. Defaults to `False`.
        **kwargs: other keyword arguments of `keras.layers.Embedding`, such as
            `embeddings_regularizer`, `embeddings_constraint`, `name` and `dtype`.

    Call arguments:
        inputs: integer ids, see Input shape.

    Example:

    ```python
    ids = keras.Input(shape=(None,), dtype="int32")
    vectors = FrozenEmbedding(input_dim=1000, output_dim=32, mask_zero=True)(ids)
    outputs = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(vectors))
    model = keras.Model(ids, outputs)  # only the Dense layer is trainable

    pretrained = np.random.default_rng(0).normal(size=(1000, 32))
    layer = FrozenEmbedding(1000, 32, embeddings=pretrained)
    layer.unfreeze()  # fine-tune; compile the model again afterwards
    ```
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer=None,
        embeddings=None,
        mask_zero=False,
        trainable=False,
        **kwargs,
    ):
        validate_positive_int("input_dim", input_dim)
        validate_positive_int("output_dim", output_dim)
        validate_bool("mask_zero", mask_zero)
        validate_bool("trainable", trainable)
        if mask_zero and input_dim < 2:
            raise ValueError(
                "`input_dim` must be at least 2 with `mask_zero=True`, because id 0 is padding "
                f"and at least one other id must be valid. Received: input_dim={input_dim}."
            )
        if "weights" in kwargs:
            raise ValueError(
                "FrozenEmbedding takes its pretrained matrix as `embeddings`, not `weights`. "
                "Pass `embeddings=matrix`."
            )
        embeddings = _validate_embeddings(embeddings, input_dim, output_dim)

        # A default initializer instance would be shared by every layer, and a
        # `RandomNormal(seed=None)` instance fixes its seed when created, so every layer
        # of the same shape would start from the same matrix.
        if embeddings_initializer is None:
            embeddings_initializer = keras.initializers.RandomNormal(mean=0.0, stddev=1.0)

        super().__init__(
            input_dim,
            output_dim,
            embeddings_initializer=embeddings_initializer,
            mask_zero=mask_zero,
            trainable=trainable,
            **kwargs,
        )
        # XLA would drop the range check, so Keras must not compile this layer with XLA.
        self.supports_jit = False

        if embeddings is not None:
            self.build()
            # `_embeddings` is the variable behind `keras.layers.Embedding.embeddings`. With
            # `lora_rank` set, `embeddings` returns the matrix plus the LoRA delta instead.
            self._embeddings.assign(embeddings)

    def unfreeze(self):
        """Make the matrix trainable for fine-tuning.

        Compile the model again afterwards, because a compiled training step keeps the
        trainable weights it was built with.
        """
        self.trainable = True

    def call(self, inputs):
        layer_name = f"{type(self).__name__} (layer {self.name})"
        validate_id_dtype(inputs.dtype, layer_name)
        validate_id_rank(inputs.shape, layer_name)

        ids = assert_ids_in_range(
            inputs,
            self.input_dim,
            layer_name=layer_name,
            fix="Use a larger `input_dim`, or map unknown ids to a reserved id before this layer.",
        )
        return super().call(ids)

    def compute_output_spec(self, inputs):
        layer_name = f"{type(self).__name__} (layer {self.name})"
        validate_id_dtype(inputs.dtype, layer_name)
        validate_id_rank(inputs.shape, layer_name)
        return super().compute_output_spec(inputs)

    def compute_output_shape(self, input_shape):
        validate_id_rank(input_shape, f"{type(self).__name__} (layer {self.name})")
        return super().compute_output_shape(input_shape)


def _validate_embeddings(embeddings, input_dim, output_dim):
    """Return `embeddings` as a NumPy array, or None, after checking its shape and dtype."""
    if embeddings is None:
        return None

    matrix = np.asarray(embeddings)
    if matrix.shape != (input_dim, output_dim):
        raise ValueError(
            f"`embeddings` must have shape (input_dim, output_dim) = ({input_dim}, "
            f"{output_dim}). Received an array of shape {matrix.shape}. Pass a matching "
            "matrix, or change `input_dim` and `output_dim`."
        )
    is_real = np.issubdtype(matrix.dtype, np.number) and not np.issubdtype(
        matrix.dtype, np.complexfloating
    )
    if not is_real:
        raise ValueError(
            f"`embeddings` must contain real numbers. Received an array of dtype {matrix.dtype}."
        )
    return matrix
