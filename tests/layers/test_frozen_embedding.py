"""Tests of FrozenEmbedding: freezing, pretrained matrices, range checks, masks, dtypes, saving."""

import json
import os
import textwrap

import keras
import numpy as np
import tensorflow as tf
from keras.src.trainers.trainer import model_supports_jit

from layers.frozen_embedding import FrozenEmbedding
from tests.testing import LayerTestCase, MaskToOutput
from tests.testing import run_python

INVALID_INTEGERS = [0, -1, 2.5, None, "10", True]
INVALID_BOOLS = [0, 1, None, "True", 2.5]

_CHECK_FROZEN_SCRIPT = """
import json
import sys

import keras
import numpy as np

import layers

model_path, ids_path, pretrained_path, report_path = sys.argv[1:5]
model = keras.saving.load_model(model_path, safe_mode=True)
layer = model.get_layer("frozen")
before = layer.embeddings.numpy().copy()
kernel_before = model.layers[-1].kernel.numpy().copy()

ids = np.load(ids_path)
model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
model.fit(ids, np.ones((len(ids), 1)), epochs=2, verbose=0)

report = {
    "trainable": layer.trainable,
    "trainable_weights": len(layer.trainable_weights),
    "pretrained_kept": bool(np.array_equal(before, np.load(pretrained_path))),
    "unchanged_by_fit": bool(np.array_equal(before, layer.embeddings.numpy())),
    "dense_trained": not bool(np.array_equal(kernel_before, model.layers[-1].kernel.numpy())),
}
with open(report_path, "w") as file:
    json.dump(report, file)
"""


def _ids(shape, input_dim, seed=0, dtype="int32"):
    return np.random.default_rng(seed).integers(0, input_dim, size=shape).astype(dtype)


def _pooled_model(embedding, seed=1):
    ids = keras.Input(shape=(None,), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()(embedding(ids))
    outputs = keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(seed))(
        pooled
    )
    return keras.Model(ids, outputs)


def _trainable_count(model):
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


class FrozenEmbeddingTest(LayerTestCase):
    def setUp(self):
        super().setUp()
        self.addCleanup(keras.config.set_dtype_policy, keras.config.dtype_policy())

    # Keras layer contract.

    def test_layer_contract_frozen(self):
        self.run_layer_test(
            FrozenEmbedding,
            init_kwargs={"input_dim": 9, "output_dim": 4},
            input_data=_ids((2, 5), 9),
            expected_output_shape=(2, 5, 4),
            expected_output_dtype="float32",
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=1,
            supports_masking=False,
        )

    def test_layer_contract_unfrozen_mask_zero(self):
        self.run_layer_test(
            FrozenEmbedding,
            init_kwargs={"input_dim": 9, "output_dim": 4, "mask_zero": True, "trainable": True},
            input_data=_ids((2, 5), 9, dtype="int64"),
            expected_output_shape=(2, 5, 4),
            expected_num_trainable_weights=1,
            expected_num_non_trainable_weights=0,
            supports_masking=True,
            expected_mask_shape=(2, 5),
        )

    def test_layer_contract_one_id_per_example(self):
        self.run_layer_test(
            FrozenEmbedding,
            init_kwargs={"input_dim": 9, "output_dim": 3},
            input_data=_ids((4,), 9),
            expected_output_shape=(4, 3),
        )

    def test_output_shape(self):
        layer = FrozenEmbedding(input_dim=9, output_dim=3)
        self.assertEqual(layer.compute_output_shape((None, 7)), (None, 7, 3))
        symbolic = layer(keras.Input(shape=(None,), dtype="int64"))
        self.assertEqual(symbolic.shape, (None, None, 3))

    # Initialization and pretrained matrices.

    def test_default_initializer_is_standard_normal(self):
        layer = FrozenEmbedding(input_dim=200, output_dim=50)
        layer.build()
        matrix = layer.embeddings.numpy()

        # 10,000 draws: the standard errors of the mean and the std are about 0.01.
        self.assertLess(abs(float(matrix.mean())), 0.05)
        self.assertLess(abs(float(matrix.std()) - 1.0), 0.05)

    def test_layers_start_from_different_matrices(self):
        first = FrozenEmbedding(input_dim=20, output_dim=4)
        second = FrozenEmbedding(input_dim=20, output_dim=4)
        first.build()
        second.build()
        self.assertNotAllClose(first.embeddings.numpy(), second.embeddings.numpy())

    def test_pretrained_matrix_is_initial_value(self):
        pretrained = np.random.default_rng(3).normal(size=(6, 3))
        layer = FrozenEmbedding(input_dim=6, output_dim=3, embeddings=pretrained)
        ids = np.array([[5, 0, 2]], dtype="int32")

        self.assertAllClose(layer.embeddings.numpy(), pretrained)
        self.assertAllClose(layer(ids), pretrained[ids])
        self.assertEqual(len(layer.non_trainable_weights), 1)

    def test_pretrained_matrix_with_lora(self):
        pretrained = np.random.default_rng(3).normal(size=(6, 3))
        layer = FrozenEmbedding(input_dim=6, output_dim=3, embeddings=pretrained, lora_rank=2)
        ids = np.array([[5, 0, 2]], dtype="int32")

        # Keras initializes the LoRA `b` matrix to zeros, so the delta starts at zero.
        self.assertAllClose(layer(ids), pretrained[ids])

    def test_pretrained_matrix_not_in_config(self):
        pretrained = np.random.default_rng(4).normal(size=(1000, 64))
        layer = FrozenEmbedding(input_dim=1000, output_dim=64, embeddings=pretrained)
        config = layer.get_config()
        config_json = json.dumps(config)

        self.assertNotIn("embeddings", config)
        self.assertLess(len(config_json), 1500)
        for value in config.values():
            self.assertNotIsInstance(value, (np.ndarray, list))

    def test_wrong_pretrained_shape_names_both_shapes(self):
        with self.assertRaises(ValueError) as context:
            FrozenEmbedding(input_dim=6, output_dim=3, embeddings=np.zeros((3, 6)))
        self.assertIn("(6, 3)", str(context.exception))
        self.assertIn("(3, 6)", str(context.exception))

    def test_non_numeric_pretrained_rejected(self):
        with self.assertRaisesRegex(ValueError, "real numbers"):
            FrozenEmbedding(input_dim=2, output_dim=1, embeddings=np.array([["a"], ["b"]]))

    def test_weights_argument_rejected(self):
        with self.assertRaisesRegex(ValueError, "embeddings=matrix"):
            FrozenEmbedding(input_dim=2, output_dim=1, weights=[np.zeros((2, 1))])

    # Freezing and unfreezing.

    def test_no_trainable_parameters(self):
        model = _pooled_model(FrozenEmbedding(input_dim=30, output_dim=8))
        dense_parameters = 8 + 1

        self.assertEqual(model.count_params(), 30 * 8 + dense_parameters)
        self.assertEqual(_trainable_count(model), dense_parameters)

        lines = []
        model.summary(print_fn=lambda line, **kwargs: lines.append(line))
        summary = "\n".join(lines)
        self.assertRegex(summary, rf"Trainable params: {dense_parameters} ")
        self.assertRegex(summary, rf"Non-trainable params: {30 * 8} ")

    def test_fit_leaves_matrix_unchanged(self):
        embedding = FrozenEmbedding(input_dim=30, output_dim=8)
        model = _pooled_model(embedding)
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
        matrix_before = embedding.embeddings.numpy().copy()
        kernel_before = model.layers[-1].kernel.numpy().copy()

        model.fit(_ids((16, 5), 30), np.ones((16, 1)), epochs=2, verbose=0)

        np.testing.assert_array_equal(embedding.embeddings.numpy(), matrix_before)
        self.assertNotAllClose(model.layers[-1].kernel.numpy(), kernel_before)

    def test_unfreeze_trains_matrix(self):
        for unfreeze in [
            lambda layer: layer.unfreeze(),
            lambda layer: setattr(layer, "trainable", True),
        ]:
            embedding = FrozenEmbedding(input_dim=30, output_dim=8)
            model = _pooled_model(embedding)
            unfreeze(embedding)
            model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
            matrix_before = embedding.embeddings.numpy().copy()

            model.fit(_ids((16, 5), 30), np.ones((16, 1)), epochs=2, verbose=0)

            self.assertTrue(embedding.trainable)
            self.assertEqual(_trainable_count(model), 30 * 8 + 9)
            self.assertNotAllClose(embedding.embeddings.numpy(), matrix_before)

    # Out-of-range ids and bad input.

    def test_out_of_range_raises_eagerly(self):
        layer = FrozenEmbedding(input_dim=10, output_dim=2)
        for bad_id in [10, 1000, -1]:
            for dtype in ["int32", "int64"]:
                ids = np.array([[1, bad_id]], dtype=dtype)
                with self.assertRaises(tf.errors.InvalidArgumentError) as context:
                    layer(ids)
                self.assertIn(str(bad_id), str(context.exception))
                self.assertIn("[0, 10)", str(context.exception))
                self.assertIn("input_dim", str(context.exception))

    def test_out_of_range_raises_in_predict(self):
        model = _pooled_model(FrozenEmbedding(input_dim=10, output_dim=2))
        for bad_id in [10, 77, -2]:
            ids = np.array([[1, 2], [bad_id, 3]], dtype="int32")
            with self.assertRaises(tf.errors.InvalidArgumentError) as context:
                model.predict(ids, verbose=0)
            self.assertIn(str(bad_id), str(context.exception))
            self.assertIn("[0, 10)", str(context.exception))

    def test_jit_compiled_model_keeps_range_check(self):
        model = _pooled_model(FrozenEmbedding(input_dim=10, output_dim=2))
        self.assertFalse(model_supports_jit(model))

        # Keras warns and compiles without XLA, because XLA would drop the check.
        model.compile(jit_compile=True)
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "12"):
            model.predict(np.array([[1, 12]], dtype="int32"), verbose=0)

    def test_int32_and_int64_ids_agree(self):
        layer = FrozenEmbedding(input_dim=10, output_dim=3)
        ids = _ids((3, 4), 10)
        self.assertAllClose(layer(ids.astype("int32")), layer(ids.astype("int64")))
        self.assertAllClose(layer(ids), layer.embeddings.numpy()[ids])

    def test_non_integer_ids_raise(self):
        layer = FrozenEmbedding(input_dim=4, output_dim=2)
        for ids, dtype in [
            (np.array([1.0], dtype="float32"), "float32"),
            (np.array([True]), "bool"),
            (np.array(["1"]), "string"),
        ]:
            with self.assertRaises(TypeError) as context:
                layer(ids)
            self.assertIn(dtype, str(context.exception))
            self.assertIn("int32", str(context.exception))

    def test_scalar_ids_raise(self):
        with self.assertRaisesRegex(ValueError, "rank >= 1"):
            FrozenEmbedding(input_dim=4, output_dim=2)(np.array(1, dtype="int32"))

    def test_invalid_dims_rejected(self):
        for name in ["input_dim", "output_dim"]:
            for value in INVALID_INTEGERS:
                arguments = {"input_dim": 4, "output_dim": 2, name: value}
                with self.assertRaises(ValueError) as context:
                    FrozenEmbedding(**arguments)
                self.assertIn(name, str(context.exception))
                self.assertIn(repr(value), str(context.exception))

    def test_invalid_flags_rejected(self):
        for name in ["mask_zero", "trainable"]:
            for value in INVALID_BOOLS:
                with self.assertRaises(ValueError) as context:
                    FrozenEmbedding(input_dim=4, output_dim=2, **{name: value})
                self.assertIn(name, str(context.exception))
                self.assertIn(repr(value), str(context.exception))

    def test_mask_zero_needs_two_ids(self):
        with self.assertRaisesRegex(ValueError, "input_dim=1"):
            FrozenEmbedding(input_dim=1, output_dim=2, mask_zero=True)

    # Masking.

    def test_compute_mask_matches_nonzero_ids(self):
        ids = np.array([[4, 1, 0], [0, 2, 0]], dtype="int32")
        mask = FrozenEmbedding(input_dim=5, output_dim=2, mask_zero=True).compute_mask(ids)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(mask), ids != 0)
        self.assertIsNone(FrozenEmbedding(input_dim=5, output_dim=2).compute_mask(ids))

    def test_mask_reaches_next_layer(self):
        ids_input = keras.Input(shape=(None,), dtype="int32")
        vectors = FrozenEmbedding(input_dim=5, output_dim=2, mask_zero=True)(ids_input)
        model = keras.Model(ids_input, MaskToOutput()(vectors))

        ids = np.array([[4, 1, 0], [0, 2, 0]], dtype="int32")
        np.testing.assert_array_equal(model.predict(ids, verbose=0), ids != 0)

    # Mixed precision.

    def test_mixed_precision_output_dtype(self):
        for policy in ["mixed_float16", "mixed_bfloat16"]:
            compute_dtype = policy.removeprefix("mixed_")
            keras.config.set_dtype_policy(policy)
            try:
                embedding = FrozenEmbedding(input_dim=8, output_dim=4)
                ids_input = keras.Input(shape=(None,), dtype="int32")
                vectors = embedding(ids_input)
                projected = keras.layers.Dense(4)(vectors)
                model = keras.Model(ids_input, keras.layers.Add()([vectors, projected]))

                ids = _ids((2, 3), 8)
                outputs = model(ids)
                self.assertEqual(vectors.dtype, compute_dtype)
                self.assertEqual(keras.backend.standardize_dtype(outputs.dtype), compute_dtype)
                self.assertEqual(embedding.embeddings.dtype, "float32")

                eager_sum = embedding(ids) + keras.layers.Dense(4)(embedding(ids))
                self.assertEqual(keras.backend.standardize_dtype(eager_sum.dtype), compute_dtype)
            finally:
                keras.config.set_dtype_policy("float32")

    def test_docstring_example_runs(self):
        example = FrozenEmbedding.__doc__.split("```python")[1].split("```")[0]
        namespace = {"keras": keras, "np": np, "FrozenEmbedding": FrozenEmbedding}
        exec(textwrap.dedent(example), namespace)

    # Serialization, saving and export.

    def test_class_serialization(self):
        for kwargs in [
            {"input_dim": 5, "output_dim": 2},
            {"input_dim": 5, "output_dim": 2, "mask_zero": True, "trainable": True},
            {
                "input_dim": 5,
                "output_dim": 2,
                "embeddings_initializer": keras.initializers.RandomUniform(seed=3),
            },
        ]:
            self.run_class_serialization_test(FrozenEmbedding(**kwargs))

    def test_config_keeps_arguments(self):
        layer = FrozenEmbedding(input_dim=7, output_dim=3, mask_zero=True)
        config = layer.get_config()

        arguments = {"input_dim": 7, "output_dim": 3, "mask_zero": True, "trainable": False}
        for name, value in arguments.items():
            self.assertEqual(config[name], value)
            self.assertEqual(getattr(layer, name), value)
        initializer = keras.initializers.deserialize(config["embeddings_initializer"])
        self.assertIsInstance(initializer, keras.initializers.RandomNormal)
        self.assertEqual(initializer.get_config()["stddev"], 1.0)

    def test_fresh_process_reload(self):
        pretrained = np.random.default_rng(5).normal(size=(12, 4)).astype("float32")
        embedding = FrozenEmbedding(
            input_dim=12, output_dim=4, embeddings=pretrained, mask_zero=True
        )
        model = _pooled_model(embedding)
        self.assert_fresh_process_reload(model, _ids((6, 5), 12, seed=6))

    def test_reload_stays_frozen(self):
        pretrained = np.random.default_rng(5).normal(size=(12, 4)).astype("float32")
        embedding = FrozenEmbedding(
            input_dim=12, output_dim=4, embeddings=pretrained, mask_zero=True, name="frozen"
        )
        model = _pooled_model(embedding)
        ids = _ids((6, 5), 12, seed=6)

        directory = self.get_temp_dir()
        names = ["model.keras", "ids.npy", "pretrained.npy"]
        paths = [os.path.join(directory, name) for name in names]
        report_path = os.path.join(directory, "report.json")
        model.save(paths[0])
        np.save(paths[1], ids)
        np.save(paths[2], pretrained)

        process = run_python(_CHECK_FROZEN_SCRIPT, *paths, report_path)
        self.assertEqual(process.returncode, 0, process.stderr[-3000:])
        with open(report_path) as file:
            report = json.load(file)
        self.assertFalse(report["trainable"])
        self.assertEqual(report["trainable_weights"], 0)
        self.assertTrue(report["pretrained_kept"])
        self.assertTrue(report["unchanged_by_fit"])
        self.assertTrue(report["dense_trained"])

    def test_export_roundtrip(self):
        model = _pooled_model(FrozenEmbedding(input_dim=12, output_dim=4))
        self.assert_export_roundtrip(
            model,
            [tf.TensorSpec([None, None], tf.int32)],
            [_ids((2, 3), 12, seed=7), _ids((5, 8), 12, seed=8)],
        )

    def test_exported_model_rejects_out_of_range(self):
        model = _pooled_model(FrozenEmbedding(input_dim=12, output_dim=4))
        serving = self.export_and_reload(model, [tf.TensorSpec([None, None], tf.int32)])

        for bad_id in [12, 500, -3]:
            ids = tf.constant([[1, bad_id]], dtype=tf.int32)
            with self.assertRaises(tf.errors.InvalidArgumentError) as context:
                serving.serve(ids)
            self.assertIn(str(bad_id), str(context.exception))
            self.assertIn("[0, 12)", str(context.exception))
