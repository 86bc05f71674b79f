"""One-hot encoding of integer ids that rejects out-of-range ids."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from layers.id_validation import assert_ids_in_range
from layers.id_validation import validate_bool
from layers.id_validation import validate_id_dtype
from layers.id_validation import validate_id_rank
from layers.id_validation import validate_positive_int


@keras.saving.register_keras_serializable(package="encoding_zoo")
class OneHotInput(keras.layers.Layer):
    """Encode integer ids as one-hot vectors on a new last axis.

    `tf.one_hot` and `keras.ops.one_hot` return an all-zero row for an id outside
    [0, num_tokens). This layer raises `tf.errors.InvalidArgumentError` instead, with the
    offending ids, the valid range and the fix in the message. The check runs eagerly, inside
    `model.fit` and `model.predict`, and inside a SavedModel exported with `model.export`. With
    `oov_bucket=True`, every id outside [0, num_tokens), negative ids included, goes to an extra
    last column instead.

    With `standardize=True`, column j is returned as `(one_hot_j - p_j) / sqrt(p_j * (1 - p_j))`,
    where p_j is the frequency of column j. Over data with those frequencies each column then
    has mean 0 and variance 1. `adapt(data)` computes p from data and stores it as the
    non-trainable weight `frequencies`. Before `adapt`, p is uniform: 1 / depth for every
    column. A column whose p is 0 or 1 has zero variance and cannot be scaled to unit variance,
    so it is only centered, `one_hot_j - p_j` (scale 1, as scikit-learn's `StandardScaler`
    does). Such a column gives 0 on the adapted data and never inf or NaN. Standardized values
    are computed in float32 and then cast to the compute dtype. A float16 output overflows to
    inf only where p_j < 2.3e-10, that is after adapting on more than about 4.3e9 ids.

    With `sparse=True` the output is a `tf.SparseTensor` with one stored value per id, so the
    dense one-hot tensor is never built. `keras.layers.Dense` multiplies a rank-2 SparseTensor
    (from ids of shape `(batch,)`) with a sparse matmul. In Keras 3.15.1 `Dense` fails on a
    rank-3 SparseTensor (from ids of shape `(batch, length)`), because the TensorFlow backend's
    `matmul` maps a 2-D sparse matmul over the first axis of both operands and so pairs
    example i with kernel row i. Reshape to 2-D before `Dense` and back after it, e.g.
    `ops.reshape(dense(ops.reshape(x, (-1, depth))), (batch, length, units))`.

    Masking: with `mask_zero=True`, id 0 is padding and `compute_mask` returns `ids != 0`
    (as `keras.layers.Embedding` does). Padding positions still get the one-hot row of id 0.

    The layer needs the TensorFlow backend, because the range check uses
    `tf.debugging.Assert` (Keras has no assert op) and the sparse output is a
    `tf.SparseTensor`.

    Input shape:
        Integer ids of shape `(batch, ...)`, rank >= 1: `(batch,)` for one id per example,
        `(batch, length)` for sequences. int32 and int64 are the usual dtypes, and any
        integer dtype is accepted. Float, bool and string ids raise `TypeError`.

    Output shape:
        `(batch, ..., depth)` in the layer's compute dtype (float16 or bfloat16 under mixed
        precision), where `depth` is `num_tokens`, plus 1 with `oov_bucket=True`.

    Args:
        num_tokens: int. Number of valid ids, so ids lie in [0, num_tokens). With
            `mask_zero=True` it counts the padding id 0 and must be at least 2.
        oov_bucket: bool. If True, ids outside [0, num_tokens) go to an extra last column
            with index `num_tokens` instead of raising. Defaults to `False`.
        standardize: bool. If True, scale each column to zero mean and unit variance with the
            frequencies set by `adapt`. Cannot be combined with `sparse=True`, because a
            standardized one-hot tensor has no zero entries. Defaults to `False`.
        mask_zero: bool. If True, id 0 is padding and the layer returns the mask `ids != 0`.
            `adapt` then skips id 0. Defaults to `False`.
        sparse: bool. If True, return a `tf.SparseTensor` instead of a dense tensor. Defaults
            to `False`.
        **kwargs: other keyword arguments of `keras.layers.Layer`, such as `name` and `dtype`.

    Call arguments:
        inputs: integer ids, see Input shape.

    Example:

    ```python
    ids = keras.Input(shape=(None,), dtype="int32")
    one_hot = OneHotInput(num_tokens=100, mask_zero=True)(ids)
    outputs = keras.layers.GlobalAveragePooling1D()(keras.layers.Dense(16)(one_hot))
    model = keras.Model(ids, outputs)
    model(np.array([[5, 7, 0, 0]]))  # the mask skips the two padding ids

    layer = OneHotInput(num_tokens=10, standardize=True)
    layer.adapt(np.random.randint(0, 10, size=(1000, 8)))
    ```
    """

    def __init__(
        self,
        num_tokens,
        oov_bucket=False,
        standardize=False,
        mask_zero=False,
        sparse=False,
        **kwargs,
    ):
        validate_positive_int("num_tokens", num_tokens)
        for name, value in [
            ("oov_bucket", oov_bucket),
            ("standardize", standardize),
            ("mask_zero", mask_zero),
            ("sparse", sparse),
        ]:
            validate_bool(name, value)

        if mask_zero and num_tokens < 2:
            raise ValueError(
                "`num_tokens` must be at least 2 with `mask_zero=True`, because id 0 is padding "
                f"and at least one other id must be valid. Received: num_tokens={num_tokens}."
            )
        if sparse and standardize:
            raise ValueError(
                "`sparse=True` cannot be combined with `standardize=True`, because a "
                "standardized one-hot tensor has no zero entries, so a sparse one would store "
                "every entry. Set one of them to False."
            )

        super().__init__(**kwargs)
        self.num_tokens = num_tokens
        self.oov_bucket = oov_bucket
        self.standardize = standardize
        self.mask_zero = mask_zero
        self.sparse = sparse

        self.supports_masking = mask_zero
        # Keras must not cast the integer ids to the compute dtype.
        self.autocast = False
        # XLA would drop the range check and cannot compile sparse ops, so Keras must not
        # compile this layer with XLA.
        self.supports_jit = False

    @property
    def depth(self):
        """Size of the one-hot axis: `num_tokens`, plus 1 with `oov_bucket=True`."""
        return self.num_tokens + 1 if self.oov_bucket else self.num_tokens

    def build(self, input_shape=None):
        if self.standardize:
            self.frequencies = self.add_weight(
                shape=(self.depth,),
                initializer=keras.initializers.Constant(1.0 / self.depth),
                trainable=False,
                name="frequencies",
            )
        self.built = True

    def call(self, inputs):
        self._validate_ids(inputs.dtype, inputs.shape)
        ids = self._in_range_ids(inputs)

        if self.sparse:
            return self._sparse_one_hot(ids)

        if not self.standardize:
            return ops.one_hot(ids, self.depth, dtype=self.compute_dtype)

        one_hot = ops.one_hot(ids, self.depth, dtype="float32")
        return ops.cast(self._standardize_columns(one_hot), self.compute_dtype)

    def _validate_ids(self, dtype, shape):
        layer_name = f"{type(self).__name__} (layer {self.name})"
        validate_id_dtype(dtype, layer_name)
        validate_id_rank(shape, layer_name)

    def _in_range_ids(self, ids):
        """Map out-of-range ids to the extra column, or check that there are none."""
        if not self.oov_bucket:
            # Checked before the cast below, so the error lists the ids as received.
            ids = assert_ids_in_range(
                ids,
                self.num_tokens,
                layer_name=f"{type(self).__name__} (layer {self.name})",
                fix="Use a larger `num_tokens`, or `oov_bucket=True` to map such ids to one column.",
            )

        if keras.backend.standardize_dtype(ids.dtype) not in ("int32", "int64"):
            ids = ops.cast(ids, "int64")

        if self.oov_bucket:
            in_range = ops.logical_and(ids >= 0, ids < self.num_tokens)
            return ops.where(in_range, ids, ops.full_like(ids, self.num_tokens))
        return ids

    def _sparse_one_hot(self, ids):
        """Build the one-hot SparseTensor from the ids' coordinates, without a dense tensor."""
        # `tf.where` on an all-True tensor lists every coordinate of `ids` in row-major order.
        # Appending the id as the last coordinate keeps that order canonical.
        coordinates = tf.where(tf.ones_like(ids, dtype=tf.bool))
        columns = tf.reshape(tf.cast(ids, tf.int64), (-1, 1))
        indices = tf.concat([coordinates, columns], axis=1)

        values = tf.ones(tf.shape(columns)[:1], dtype=self.compute_dtype)
        dense_shape = tf.concat([tf.shape(ids, out_type=tf.int64), [self.depth]], axis=0)
        return tf.SparseTensor(indices, values, dense_shape)

    def _standardize_columns(self, one_hot):
        """Return `(one_hot - p) / sqrt(p * (1 - p))`, with scale 1 where the variance is 0."""
        frequencies = ops.cast(self.frequencies, "float32")
        variance = frequencies * (1.0 - frequencies)
        scale = ops.sqrt(ops.where(variance > 0.0, variance, ops.ones_like(variance)))
        return (one_hot - frequencies) / scale

    def adapt(self, data, steps=None):
        """Set the column frequencies used by `standardize=True` from the ids in `data`.

        Out-of-range ids raise `ValueError` unless `oov_bucket=True`, which counts them in the
        extra column. With `mask_zero=True`, the padding id 0 is not counted. The frequencies are
        stored in the non-trainable weight `frequencies`, so they are saved with the model.

        Args:
            data: integer ids as a NumPy array, a tensor, or a finite `tf.data.Dataset` whose
                elements are id batches (not `(features, labels)` tuples).
            steps: int or None. Number of dataset batches to read, used only with a dataset.
                Defaults to the whole dataset.

        Example:
        >>> layer = OneHotInput(num_tokens=10, standardize=True)
        >>> layer.adapt(np.random.randint(0, 10, size=(1000, 8)))
        """
        if not self.standardize:
            raise ValueError(
                f"{type(self).__name__}.adapt computes the column frequencies that "
                "`standardize=True` uses, but this layer has standardize=False. Create the layer "
                "with `standardize=True`."
            )

        counts = np.zeros(self.depth, dtype=np.int64)
        for batch in _iterate_id_batches(data, steps):
            counts += self._count_columns(batch)

        total = counts.sum()
        if total == 0:
            raise ValueError(
                f"{type(self).__name__}.adapt received no ids to count (padding id 0 is "
                "skipped with `mask_zero=True`). Pass data with at least one id."
            )

        if not self.built:
            self.build()
        self.frequencies.assign(counts / total)

    def _count_columns(self, ids):
        """Return how often each output column is hot for one batch of ids."""
        self._validate_ids(ids.dtype, ids.shape)
        ids = ids.astype(np.int64).ravel()
        in_range = (ids >= 0) & (ids < self.num_tokens)

        if self.oov_bucket:
            ids = np.where(in_range, ids, self.num_tokens)
        elif not in_range.all():
            raise ValueError(
                f"{type(self).__name__}.adapt received ids outside the valid range "
                f"[0, {self.num_tokens}): {ids[~in_range][:10].tolist()}. Use a larger "
                "`num_tokens`, or `oov_bucket=True` to count such ids in one column."
            )

        if self.mask_zero:
            ids = ids[ids != 0]
        return np.bincount(ids, minlength=self.depth)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        validate_id_rank(input_shape, f"{type(self).__name__} (layer {self.name})")
        return (*input_shape, self.depth)

    def compute_output_spec(self, inputs):
        self._validate_ids(inputs.dtype, inputs.shape)
        return keras.KerasTensor(
            self.compute_output_shape(inputs.shape),
            dtype=self.compute_dtype,
            sparse=self.sparse,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_tokens": self.num_tokens,
                "oov_bucket": self.oov_bucket,
                "standardize": self.standardize,
                "mask_zero": self.mask_zero,
                "sparse": self.sparse,
            }
        )
        return config


def _iterate_id_batches(data, steps):
    """Yield NumPy id batches from an array, a tensor or a `tf.data.Dataset`."""
    if not isinstance(data, tf.data.Dataset):
        yield np.asarray(data)
        return

    if steps is not None:
        data = data.take(steps)
    for element in data:
        if isinstance(element, (tuple, list, dict)):
            raise ValueError(
                "OneHotInput.adapt expects a dataset of id batches. Received a dataset whose "
                f"elements are {type(element).__name__}s. Keep only the ids, e.g. "
                "`dataset.map(lambda ids, labels: ids)`."
            )
        yield np.asarray(element)
