"""Tests of SparseDense: the layer contract, equality with one-hot times Dense, no dense input."""

import keras
import numpy as np
import tensorflow as tf

from layers.one_hot_input import OneHotInput
from layers.sparse_dense import SparseDense
from tests.testing import LayerTestCase


def _ids(shape, num_tokens, seed=0):
    return np.random.default_rng(seed).integers(0, num_tokens, size=shape).astype("int32")


def _one_hot_model(num_tokens, units, sparse, mask_zero=False):
    """Return ids -> OneHotInput -> (Sparse)Dense, with a fixed kernel initializer seed."""
    ids = keras.Input(shape=(None,), dtype="int32")
    one_hot = OneHotInput(num_tokens, sparse=sparse, mask_zero=mask_zero)(ids)
    initializer = keras.initializers.GlorotUniform(seed=3)
    bias_initializer = keras.initializers.RandomNormal(seed=4)
    if sparse:
        dense = SparseDense(units, kernel_initializer=initializer, bias_initializer=bias_initializer)
    else:
        dense = keras.layers.Dense(
            units, kernel_initializer=initializer, bias_initializer=bias_initializer
        )
    return keras.Model(ids, dense(one_hot))


def _gradients(model, ids):
    """Return the dense gradients of sum(outputs * weights) for every trainable weight."""
    weights = np.linspace(-1.0, 1.0, model.output_shape[-1], dtype="float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(ids) * weights)
    return [tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, model.trainable_variables)]


class SparseDenseTest(LayerTestCase):
    def test_layer_contract_dense_input(self):
        self.run_layer_test(
            SparseDense,
            init_kwargs={"units": 3, "activation": "relu"},
            input_shape=(2, 4, 5),
            expected_output_shape=(2, 4, 3),
            expected_num_trainable_weights=2,
            supports_masking=True,
        )

    def test_layer_contract_sparse_input(self):
        self.run_layer_test(
            SparseDense,
            init_kwargs={"units": 3, "use_bias": False},
            input_shape=(2, 4, 5),
            input_sparse=True,
            expected_output_shape=(2, 4, 3),
            expected_num_trainable_weights=1,
            supports_masking=True,
        )

    def test_matches_one_hot_dense_outputs(self):
        ids = _ids((3, 7), 50, seed=1)
        sparse_model = _one_hot_model(50, 4, sparse=True)
        dense_model = _one_hot_model(50, 4, sparse=False)
        np.testing.assert_allclose(sparse_model.get_weights()[0], dense_model.get_weights()[0])

        sparse_outputs = sparse_model(ids).numpy()
        dense_outputs = dense_model(ids).numpy()
        self.assertEqual(sparse_outputs.shape, (3, 7, 4))
        np.testing.assert_allclose(sparse_outputs, dense_outputs, rtol=1e-6, atol=1e-6)

    def test_matches_one_hot_dense_gradients(self):
        ids = _ids((3, 7), 50, seed=2)
        sparse_gradients = _gradients(_one_hot_model(50, 4, sparse=True), ids)
        dense_gradients = _gradients(_one_hot_model(50, 4, sparse=False), ids)
        self.assertEqual(len(sparse_gradients), 2)
        for sparse_gradient, dense_gradient in zip(sparse_gradients, dense_gradients):
            self.assertEqual(sparse_gradient.shape, dense_gradient.shape)
            np.testing.assert_allclose(sparse_gradient, dense_gradient, rtol=1e-5, atol=1e-6)

    def test_kernel_gradient_is_indexed_slices(self):
        model = _one_hot_model(50, 4, sparse=True)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(_ids((2, 3), 50)))
        kernel_gradient = tape.gradient(loss, model.trainable_variables)[0]
        self.assertIsInstance(kernel_gradient, tf.IndexedSlices)

    def test_matches_matmul_for_general_sparse_values(self):
        dense = np.zeros((2, 3, 6), dtype="float32")
        dense[0, 1, [2, 5]] = [0.5, -2.0]
        dense[1, 2, 0] = 3.0
        layer = SparseDense(4, kernel_initializer=keras.initializers.GlorotUniform(seed=0))
        outputs = layer(tf.sparse.from_dense(dense)).numpy()
        expected = dense @ layer.kernel.numpy() + layer.bias.numpy()
        np.testing.assert_allclose(outputs, expected, rtol=1e-6, atol=1e-6)

    def test_rank_two_sparse_input(self):
        ids = _ids((5,), 20, seed=3)
        one_hot = OneHotInput(20, sparse=True)(ids)
        layer = SparseDense(3, use_bias=False)
        outputs = layer(one_hot).numpy()
        np.testing.assert_allclose(outputs, layer.kernel.numpy()[ids], rtol=1e-6)

    def test_no_dense_one_hot_tensor_in_graph(self):
        batch, length, vocabulary = 2, 5, 50_000
        dense_one_hot_size = batch * length * vocabulary

        def largest_tensor(sparse):
            model = _one_hot_model(vocabulary, 4, sparse=sparse)

            @tf.function(input_signature=[tf.TensorSpec((batch, length), tf.int32)])
            def loss_and_gradients(ids):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_sum(model(ids))
                return tape.gradient(loss, model.trainable_variables)

            graph = loss_and_gradients.get_concrete_function().graph
            return max(_num_elements(tensor) for op in graph.get_operations() for tensor in op.outputs)

        self.assertLess(largest_tensor(sparse=True), dense_one_hot_size)
        # The check can fail: the dense one-hot path builds a (2, 5, 50000) tensor.
        self.assertGreaterEqual(largest_tensor(sparse=False), dense_one_hot_size)

    def test_mask_passes_through(self):
        ids = np.array([[3, 4, 0, 0]], dtype="int32")
        one_hot = OneHotInput(10, sparse=True, mask_zero=True)
        layer = SparseDense(2)
        mask = one_hot.compute_mask(ids)
        self.assertIs(layer.compute_mask(one_hot(ids), mask), mask)

        model = _one_hot_model(10, 2, sparse=True, mask_zero=True)
        pooled = keras.layers.GlobalAveragePooling1D()(model.output)
        pooled_model = keras.Model(model.input, pooled)
        expected = model(ids).numpy()[0, :2].mean(axis=0)
        np.testing.assert_allclose(pooled_model(ids).numpy()[0], expected, rtol=1e-6)

    def test_mixed_bfloat16_output_dtype(self):
        layer = SparseDense(3, dtype="mixed_bfloat16")
        outputs = layer(OneHotInput(8, sparse=True)(_ids((2, 4), 8)))
        self.assertEqual(keras.backend.standardize_dtype(outputs.dtype), "bfloat16")
        self.assertEqual(keras.backend.standardize_dtype(layer.kernel.dtype), "float32")

    def test_trains_in_fit(self):
        model = _one_hot_model(30, 2, sparse=True)
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mean_squared_error")
        ids = _ids((16, 5), 30, seed=5)
        targets = np.ones((16, 5, 2), dtype="float32")
        history = model.fit(ids, targets, epochs=5, verbose=0)
        self.assertLess(history.history["loss"][-1], history.history["loss"][0])

    def test_fresh_process_reload(self):
        model = _one_hot_model(40, 3, sparse=True, mask_zero=True)
        self.assert_fresh_process_reload(model, _ids((2, 6), 40, seed=6))

    def test_export_roundtrip(self):
        model = _one_hot_model(40, 3, sparse=True)
        self.assert_export_roundtrip(
            model,
            [tf.TensorSpec((None, None), tf.int32)],
            [_ids((1, 3), 40, seed=7), _ids((4, 9), 40, seed=8)],
        )

    def test_config_roundtrip(self):
        self.run_class_serialization_test(
            SparseDense(5, activation="tanh", use_bias=False, kernel_regularizer="l2")
        )

    def test_invalid_arguments_rejected(self):
        for units in [0, -2, 1.5, None, True]:
            with self.assertRaisesRegex(ValueError, "units"):
                SparseDense(units)
        for use_bias in [1, None, "yes"]:
            with self.assertRaisesRegex(ValueError, "use_bias"):
                SparseDense(2, use_bias=use_bias)

    def test_unknown_last_dimension_rejected(self):
        with self.assertRaisesRegex(ValueError, "known last dimension"):
            SparseDense(2).build((None, None))


def _num_elements(tensor):
    shape = tensor.shape
    if shape.rank is None or not shape.is_fully_defined():
        return 0
    return shape.num_elements()
