"""A densely connected layer that multiplies sparse inputs of any rank without densifying them."""

import keras
import tensorflow as tf
from keras import ops

from layers.id_validation import validate_bool
from layers.id_validation import validate_positive_int


@keras.saving.register_keras_serializable(package="encoding_zoo")
class SparseDense(keras.layers.Layer):
    """Apply `activation(inputs @ kernel + bias)` to a `tf.SparseTensor` of any rank.

    The layer computes what `keras.layers.Dense` computes, but for a sparse input it gathers
    the kernel rows of the stored entries, scales them by the stored values and sums them
    per row (`tf.math.unsorted_segment_sum`). It never builds the dense input, and the kernel
    gradient is a `tf.IndexedSlices` over the gathered rows, as for `keras.layers.Embedding`.
    Fed by `OneHotInput(sparse=True)`, it returns the one-hot-times-kernel product for a
    vocabulary of any size at the cost of an embedding lookup.

    A rank-3 input of shape `(batch, length, depth)` is flattened to `(batch * length, depth)`
    and the result is reshaped back. `keras.layers.Dense` in Keras 3.15.1 cannot take that
    input, because the TensorFlow backend's sparse `matmul` pairs example i with kernel row i.
    Dense inputs are multiplied with `ops.matmul`, as `Dense` does.

    Masking: the layer passes an incoming mask through unchanged, as `Dense` does.

    Mixed precision: the kernel and bias are stored in the variable dtype and cast to the
    compute dtype, and so are the sparse values, so the output has the compute dtype.

    Input shape:
        `(batch, ..., depth)`, rank >= 2, a `tf.SparseTensor` or a dense float tensor. The
        last dimension must be known when the layer is built.

    Output shape:
        `(batch, ..., units)`.

    Args:
        units: int. Width of the output.
        activation: activation function or its name. Defaults to `None` (linear).
        use_bias: bool. Whether to add a bias vector. Defaults to `True`.
        kernel_initializer: initializer of the `(depth, units)` kernel. Defaults to
            `"glorot_uniform"`, the `Dense` default.
        bias_initializer: initializer of the bias. Defaults to `"zeros"`.
        kernel_regularizer, bias_regularizer: optional regularizers.
        **kwargs: other keyword arguments of `keras.layers.Layer`, such as `name` and `dtype`.

    Call arguments:
        inputs: a `tf.SparseTensor` or a dense tensor, see Input shape.

    Example:

    ```python
    ids = keras.Input(shape=(None,), dtype="int32")
    one_hot = OneHotInput(num_tokens=50_000, sparse=True)(ids)
    vectors = SparseDense(64, use_bias=False)(one_hot)  # (batch, length, 64)
    model = keras.Model(ids, vectors)
    model(np.array([[5, 7, 49_999]]))
    ```
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        validate_positive_int("units", units)
        validate_bool("use_bias", use_bias)
        super().__init__(**kwargs)

        self.units = units
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

        self.supports_masking = True
        # Sparse values are cast in `call`, because Keras's input autocast skips SparseTensors.
        self.autocast = False

    def build(self, input_shape):
        depth = input_shape[-1]
        if len(input_shape) < 2 or depth is None:
            raise ValueError(
                f"{type(self).__name__} (layer {self.name}) needs an input of rank >= 2 with a "
                f"known last dimension. Received: input_shape={tuple(input_shape)}. Give the "
                "input a fixed last dimension, e.g. `OneHotInput(num_tokens)`."
            )

        self.kernel = self.add_weight(
            name="kernel",
            shape=(depth, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
            )
        self.built = True

    def call(self, inputs):
        kernel = ops.cast(self.kernel, self.compute_dtype)
        if isinstance(inputs, tf.SparseTensor):
            outputs = self._sparse_matmul(inputs, kernel)
        else:
            outputs = ops.matmul(ops.cast(inputs, self.compute_dtype), kernel)

        if self.use_bias:
            outputs = outputs + ops.cast(self.bias, self.compute_dtype)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _sparse_matmul(self, inputs, kernel):
        """Return `inputs @ kernel` for a SparseTensor, flattening leading axes to one row axis."""
        depth = tf.shape(kernel, out_type=tf.int64)[0]
        leading_shape = inputs.dense_shape[:-1]
        rows = tf.sparse.reshape(inputs, tf.stack([-1, depth]))
        num_rows = tf.reduce_prod(leading_shape)

        # Row r of the product is the sum over stored entries (r, c, v) of v * kernel[c].
        row_ids = rows.indices[:, 0]
        gathered = tf.gather(kernel, rows.indices[:, 1])
        values = tf.cast(rows.values, self.compute_dtype)
        products = gathered * values[:, tf.newaxis]
        outputs = tf.math.unsorted_segment_sum(products, row_ids, num_rows)

        output_shape = tf.concat([leading_shape, [self.units]], axis=0)
        outputs = tf.reshape(outputs, output_shape)
        # Keep the static shape that `tf.reshape` from a run-time shape loses.
        static_shape = inputs.shape[:-1].concatenate([self.units])
        return tf.ensure_shape(outputs, static_shape)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            }
        )
        return config
