"""Tests of BetaPositionalEncoding: the table, its seed, lengths, masks, dtypes and saving."""

import os

import keras
import numpy as np
import scipy.stats
import tensorflow as tf

from layers.beta_positional_encoding import BetaPositionalEncoding
from layers.beta_positional_encoding import RandomBeta
from tests.testing import LayerTestCase, MaskToOutput
from tests.testing import run_python

_DRAW_TABLE_SCRIPT = """
import sys
import numpy as np
from layers.beta_positional_encoding import BetaPositionalEncoding

seed, output_path = int(sys.argv[1]), sys.argv[2]
layer = BetaPositionalEncoding(max_length=64, seed=seed)
layer.build((None, None, 16))
np.save(output_path, layer.positional_encoding.numpy())
"""


def _table(layer):
    return keras.ops.convert_to_numpy(layer.positional_encoding)


def _built_layer(hidden_dim=4, **kwargs):
    layer = BetaPositionalEncoding(**kwargs)
    layer.build((None, None, hidden_dim))
    return layer


class BetaPositionalEncodingTest(LayerTestCase):
    def setUp(self):
        super().setUp()
        self.addCleanup(keras.config.set_dtype_policy, keras.config.dtype_policy())

    def test_layer_contract(self):
        self.run_layer_test(
            BetaPositionalEncoding,
            init_kwargs={"max_length": 8, "alpha": 0.5, "beta": 0.5, "seed": 3},
            input_shape=(2, 5, 4),
            expected_output_shape=(2, 5, 4),
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=1,
            supports_masking=True,
        )

    def test_class_serialization(self):
        layer = BetaPositionalEncoding(
            max_length=12, alpha=2.0, beta=3.0, seed=7, minval=-2.0, maxval=0.5
        )
        self.run_class_serialization_test(layer)

    def test_config_keeps_arguments_not_table(self):
        arguments = {
            "max_length": 12,
            "alpha": 2.0,
            "beta": 3.0,
            "seed": 7,
            "minval": -2.0,
            "maxval": 0.5,
        }
        layer = BetaPositionalEncoding(**arguments)
        layer.build((None, None, 4))
        config = layer.get_config()

        for name, value in arguments.items():
            self.assertEqual(config[name], value)
            self.assertEqual(getattr(layer, name), value)
        for value in config.values():
            self.assertNotIsInstance(value, (list, np.ndarray))

    def test_output_adds_table_slice(self):
        layer = _built_layer(max_length=10, seed=5)
        inputs = np.random.default_rng(0).normal(size=(2, 4, 4)).astype("float32")
        table = _table(layer)

        outputs = layer(inputs)
        self.assertAllClose(outputs, inputs + table[:4], atol=1e-6, rtol=0)

        shifted = layer(inputs, start_index=6)
        self.assertAllClose(shifted, inputs + table[6:10], atol=1e-6, rtol=0)

    def test_table_is_non_trainable_weight(self):
        layer = _built_layer(max_length=10, seed=5)

        self.assertEqual(layer.trainable_weights, [])
        self.assertLen(layer.non_trainable_weights, 1)
        self.assertEqual(tuple(layer.non_trainable_weights[0].shape), (10, 4))

    def test_table_matches_numpy_draw(self):
        layer = _built_layer(max_length=20, seed=11, alpha=0.7, beta=1.5, minval=2.0, maxval=5.0)

        draws = np.random.default_rng(11).beta(0.7, 1.5, size=(20, 4))
        expected = (2.0 + 3.0 * draws).astype("float32")
        self.assertEqual(_table(layer).tobytes(), expected.tobytes())

    def test_table_within_range(self):
        for minval, maxval in [(-1.0, 1.0), (0.0, 1.0), (3.0, 3.5)]:
            table = _table(_built_layer(max_length=50, minval=minval, maxval=maxval))
            self.assertGreaterEqual(table.min(), minval)
            self.assertLessEqual(table.max(), maxval)

    def test_seed_reproducible_across_processes(self):
        path = os.path.join(self.get_temp_dir(), "table.npy")
        process = run_python(_DRAW_TABLE_SCRIPT, 42, path)
        self.assertEqual(process.returncode, 0, process.stderr[-3000:])

        other_process = np.load(path)
        this_process = _table(_built_layer(hidden_dim=16, max_length=64, seed=42))
        self.assertEqual(other_process.dtype, this_process.dtype)
        self.assertEqual(other_process.tobytes(), this_process.tobytes())

    def test_different_seeds_differ(self):
        first = _table(_built_layer(max_length=32, seed=0))
        second = _table(_built_layer(max_length=32, seed=1))

        self.assertFalse(np.array_equal(first, second))

    def test_histogram_matches_beta_bin_masses(self):
        bin_count = 10
        for alpha, beta in [(0.5, 0.5), (2.0, 2.0), (0.5, 2.0)]:
            layer = _built_layer(
                hidden_dim=100, max_length=1000, alpha=alpha, beta=beta, seed=2
            )
            table = _table(layer).astype("float64")
            sample_size = table.size

            counts, edges = np.histogram(table, bins=bin_count, range=(-1.0, 1.0))
            observed = counts / sample_size
            # Bin edges mapped back from [minval, maxval] = [-1, 1] to the Beta support [0, 1].
            expected = np.diff(scipy.stats.beta.cdf((edges + 1.0) / 2.0, alpha, beta))

            # A bin's observed mass has standard deviation sqrt(p * (1 - p) / n). In the normal
            # approximation, six standard deviations keep the chance that any of the 30 bins
            # fails by luck below 1e-7.
            tolerance = 6.0 * np.sqrt(expected * (1.0 - expected) / sample_size)
            np.testing.assert_array_less(np.abs(observed - expected), tolerance)

    def test_histogram_shape_u_and_hump(self):
        u_shaped = _table(_built_layer(hidden_dim=100, max_length=500, seed=4))
        u_counts, _ = np.histogram(u_shaped, bins=10, range=(-1.0, 1.0))
        for middle in u_counts[1:-1]:
            self.assertGreater(u_counts[0], 2 * middle)
            self.assertGreater(u_counts[-1], 2 * middle)

        hump = _table(_built_layer(hidden_dim=100, max_length=500, seed=4, alpha=2.0, beta=2.0))
        hump_counts, _ = np.histogram(hump, bins=10, range=(-1.0, 1.0))
        for middle in hump_counts[4:6]:
            self.assertGreater(middle, 2 * hump_counts[0])
            self.assertGreater(middle, 2 * hump_counts[-1])

    def test_mask_passes_through(self):
        token_ids = keras.Input(shape=(None,), dtype="int32")
        embedded = keras.layers.Embedding(10, 4, mask_zero=True)(token_ids)
        encoded = BetaPositionalEncoding(max_length=8)(embedded)
        model = keras.Model(token_ids, MaskToOutput()(encoded))

        batch = np.array([[3, 1, 0, 0], [2, 5, 7, 0]], dtype="int32")
        received_mask = model.predict_on_batch(batch)
        self.assertAllEqual(received_mask, (batch != 0).astype("float32"))

    def test_compute_mask_returns_input_mask(self):
        layer = _built_layer(max_length=8)
        mask = np.array([[True, False, True]])

        self.assertIs(layer.compute_mask(np.zeros((1, 3, 4)), mask), mask)

    def test_variable_length_functional_model(self):
        inputs = keras.Input(shape=(None, 4))
        layer = BetaPositionalEncoding(max_length=9, seed=8)
        model = keras.Model(inputs, layer(inputs))

        for length in (2, 9):
            batch = np.ones((3, length, 4), dtype="float32")
            expected = batch + _table(layer)[:length]
            self.assertAllClose(model.predict_on_batch(batch), expected, atol=1e-6, rtol=0)

    def test_start_index_tensor_in_graph(self):
        layer = _built_layer(max_length=10, seed=6)
        signature = [tf.TensorSpec([None, None, 4]), tf.TensorSpec([], tf.int32)]
        encode = tf.function(lambda x, start: layer(x, start_index=start), input_signature=signature)
        inputs = np.zeros((1, 3, 4), dtype="float32")

        self.assertAllClose(encode(inputs, 7), _table(layer)[7:10][None], atol=0, rtol=0)
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "max_length=10"):
            encode(inputs, 8)
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "non-negative"):
            encode(inputs, -1)

    def test_too_long_raises_when_static(self):
        layer = BetaPositionalEncoding(max_length=256)
        with self.assertRaisesRegex(ValueError, "sequence length 300 exceeds max_length=256"):
            layer(np.zeros((1, 300, 4), dtype="float32"))

        with self.assertRaisesRegex(ValueError, "sequence length 300 exceeds max_length=256"):
            BetaPositionalEncoding(max_length=256)(keras.Input(shape=(300, 4)))

        built = _built_layer(max_length=256)
        with self.assertRaisesRegex(ValueError, r"\(10 \+ 250 = 260\) exceeds max_length=256"):
            built(np.zeros((1, 250, 4), dtype="float32"), start_index=10)
        with self.assertRaisesRegex(ValueError, "start_index=-1"):
            built(np.zeros((1, 2, 4), dtype="float32"), start_index=-1)

    def test_too_long_raises_at_run_time(self):
        layer = _built_layer(max_length=256)
        encode = tf.function(layer, input_signature=[tf.TensorSpec([None, None, 4])])

        self.assertEqual(tuple(encode(np.zeros((1, 256, 4), dtype="float32")).shape), (1, 256, 4))
        with self.assertRaisesRegex(
            tf.errors.InvalidArgumentError, r"max_length=256(.|\n)*sequence length:\] \[300\]"
        ):
            encode(np.zeros((1, 300, 4), dtype="float32"))

    def test_export_roundtrip_variable_length(self):
        inputs = keras.Input(shape=(None, 4))
        model = keras.Model(inputs, BetaPositionalEncoding(max_length=16, seed=9)(inputs))
        rng = np.random.default_rng(1)
        batches = [rng.normal(size=shape).astype("float32") for shape in [(2, 3, 4), (1, 16, 4)]]

        self.assert_export_roundtrip(model, [tf.TensorSpec([None, None, 4], tf.float32)], batches)

    def test_export_rejects_too_long(self):
        inputs = keras.Input(shape=(None, 4))
        model = keras.Model(inputs, BetaPositionalEncoding(max_length=16)(inputs))
        serving = self.export_and_reload(model, [tf.TensorSpec([None, None, 4], tf.float32)])

        with self.assertRaisesRegex(
            tf.errors.InvalidArgumentError, r"max_length=16(.|\n)*sequence length:\] \[17\]"
        ):
            serving.serve(tf.zeros((1, 17, 4)))

    def test_fresh_process_reload(self):
        inputs = keras.Input(shape=(None, 4))
        model = keras.Model(inputs, BetaPositionalEncoding(max_length=8, seed=12)(inputs))
        batch = np.random.default_rng(2).normal(size=(2, 5, 4)).astype("float32")

        self.assert_fresh_process_reload(model, batch)

    def test_mixed_precision_policies(self):
        for policy, compute_dtype in [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")]:
            keras.config.set_dtype_policy(policy)
            inputs = keras.Input(shape=(None, 4))
            hidden = keras.layers.Dense(4)(inputs)
            layer = BetaPositionalEncoding(max_length=8, seed=3)
            model = keras.Model(inputs, layer(hidden))

            batch = np.ones((2, 6, 4), dtype="float32")
            outputs = model(batch)
            self.assertEqual(keras.backend.standardize_dtype(outputs.dtype), compute_dtype)
            self.assertEqual(layer.positional_encoding.dtype, "float32")

            hidden_values = keras.ops.convert_to_numpy(model.layers[1](batch)).astype("float32")
            expected = hidden_values + _table(layer)[:6]
            self.assertAllClose(
                keras.ops.convert_to_numpy(outputs).astype("float32"), expected, atol=0.05, rtol=0
            )

    def test_float16_input_with_mixed_layer(self):
        layer = BetaPositionalEncoding(max_length=8, dtype="mixed_float16")
        outputs = layer(np.zeros((1, 3, 4), dtype="float16"))

        self.assertEqual(keras.backend.standardize_dtype(outputs.dtype), "float16")

    def test_bad_constructor_arguments(self):
        bad_arguments = [
            ("max_length", 0),
            ("max_length", -3),
            ("max_length", 2.5),
            ("max_length", None),
            ("max_length", True),
            ("alpha", 0.0),
            ("alpha", -1.0),
            ("alpha", float("inf")),
            ("alpha", float("nan")),
            ("alpha", "0.5"),
            ("beta", 0),
            ("beta", None),
            ("seed", -1),
            ("seed", 1.5),
            ("seed", "1"),
            ("minval", float("nan")),
            ("maxval", float("inf")),
            ("maxval", -1.0),
            ("maxval", -2.0),
        ]
        for name, value in bad_arguments:
            arguments = {"max_length": 8, name: value}
            with self.subTest(name=name, value=value):
                with self.assertRaisesRegex(ValueError, f"`{name}`.*Received: .*{name}="):
                    BetaPositionalEncoding(**arguments)

    def test_bad_input_shapes(self):
        for shape in [(2, 4), (2, 3, 4, 5)]:
            with self.subTest(shape=shape):
                with self.assertRaisesRegex(ValueError, "batch_size, sequence_length, hidden_dim"):
                    BetaPositionalEncoding(max_length=8)(np.zeros(shape, dtype="float32"))

        with self.assertRaisesRegex(ValueError, "hidden_dim"):
            BetaPositionalEncoding(max_length=8).build((None, 3, None))

    def test_random_beta_initializer_config(self):
        initializer = RandomBeta(alpha=2.0, beta=0.3, minval=0.0, maxval=4.0, seed=5)
        restored = RandomBeta.from_config(initializer.get_config())

        first = keras.ops.convert_to_numpy(initializer((3, 4)))
        second = keras.ops.convert_to_numpy(restored((3, 4)))
        self.assertEqual(first.tobytes(), second.tobytes())
