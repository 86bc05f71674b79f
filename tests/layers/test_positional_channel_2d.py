"""Tests of PositionalChannel2D: channel values, layouts, sizes, dtypes and saving."""

import math

import keras
import numpy as np
import tensorflow as tf

from layers.beta_positional_encoding import RandomBeta
from layers.positional_channel_2d import PositionalChannel2D
from tests.testing import LayerTestCase

BETA_OPTIONS = {"beta_maps": 2, "max_height": 8, "max_width": 8, "seed": 4}


def _coordinates(size):
    """Return the expected normalized coordinates of an axis of `size` pixels."""
    if size == 1:
        return np.zeros(1, dtype="float32")
    return np.linspace(-1.0, 1.0, size, dtype="float32")


def _coordinate_grids(height, width):
    """Return the expected x and y channels, each of shape (height, width)."""
    y, x = np.meshgrid(_coordinates(height), _coordinates(width), indexing="ij")
    return x, y


def _random_images(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


class PositionalChannel2DTest(LayerTestCase):
    def setUp(self):
        super().setUp()
        self.addCleanup(keras.config.set_dtype_policy, keras.config.dtype_policy())
        self.addCleanup(keras.config.set_image_data_format, keras.config.image_data_format())

    def test_layer_contract_all_channels(self):
        self.run_layer_test(
            PositionalChannel2D,
            init_kwargs={
                "with_radius": True,
                "sinusoidal_frequencies": 2,
                "data_format": "channels_last",
                **BETA_OPTIONS,
            },
            input_shape=(2, 4, 6, 3),
            expected_output_shape=(2, 4, 6, 3 + 2 + 1 + 8 + 2),
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=1,
            supports_masking=True,
        )

    def test_layer_contract_channels_first(self):
        self.run_layer_test(
            PositionalChannel2D,
            init_kwargs={"data_format": "channels_first"},
            input_shape=(2, 3, 4, 6),
            expected_output_shape=(2, 5, 4, 6),
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=0,
            supports_masking=True,
        )

    def test_class_serialization(self):
        layer = PositionalChannel2D(
            with_radius=True,
            sinusoidal_frequencies=3,
            beta_alpha=2.0,
            beta_beta=0.25,
            data_format="channels_first",
            **BETA_OPTIONS,
        )
        self.run_class_serialization_test(layer)

    def test_config_keeps_arguments(self):
        arguments = {
            "with_radius": True,
            "sinusoidal_frequencies": 3,
            "beta_maps": 2,
            "beta_alpha": 2.0,
            "beta_beta": 0.25,
            "seed": 9,
            "max_height": 10,
            "max_width": 12,
            "data_format": "channels_first",
        }
        layer = PositionalChannel2D(**arguments)
        config = layer.get_config()

        for name, value in arguments.items():
            self.assertEqual(config[name], value)
            self.assertEqual(getattr(layer, name), value)

    def test_coordinates_channels_last(self):
        images = _random_images((2, 3, 5, 2))
        outputs = _numpy(PositionalChannel2D(data_format="channels_last")(images))

        self.assertEqual(outputs.shape, (2, 3, 5, 4))
        self.assertAllEqual(outputs[..., :2], images)
        for row in range(3):
            self.assertAllEqual(outputs[1, row, :, 2], [-1.0, -0.5, 0.0, 0.5, 1.0])
        for column in range(5):
            self.assertAllEqual(outputs[1, :, column, 3], [-1.0, 0.0, 1.0])

    def test_coordinates_channels_first(self):
        images = _random_images((2, 2, 3, 5))
        outputs = _numpy(PositionalChannel2D(data_format="channels_first")(images))

        self.assertEqual(outputs.shape, (2, 4, 3, 5))
        self.assertAllEqual(outputs[:, :2], images)
        for row in range(3):
            self.assertAllEqual(outputs[0, 2, row, :], [-1.0, -0.5, 0.0, 0.5, 1.0])
        for column in range(5):
            self.assertAllEqual(outputs[0, 3, :, column], [-1.0, 0.0, 1.0])

    def test_coordinates_many_sizes(self):
        for height, width in [(1, 1), (1, 4), (2, 1), (7, 3), (4, 9)]:
            with self.subTest(height=height, width=width):
                images = np.zeros((1, height, width, 1), dtype="float32")
                outputs = _numpy(PositionalChannel2D(data_format="channels_last")(images))

                x, y = _coordinate_grids(height, width)
                self.assertAllClose(outputs[0, ..., 1], x, atol=1e-6, rtol=0)
                self.assertAllClose(outputs[0, ..., 2], y, atol=1e-6, rtol=0)

    def test_radius_values(self):
        images = np.zeros((1, 5, 5, 1), dtype="float32")
        layer = PositionalChannel2D(with_radius=True, data_format="channels_last")
        radius = _numpy(layer(images))[0, ..., 3]

        self.assertAlmostEqual(float(radius[2, 2]), 0.0)
        for corner in [(0, 0), (0, 4), (4, 0), (4, 4)]:
            self.assertAlmostEqual(float(radius[corner]), math.sqrt(2.0), decimal=6)
        self.assertAlmostEqual(float(radius[2, 4]), 1.0, decimal=6)
        self.assertAlmostEqual(float(radius[1, 3]), math.sqrt(0.5), decimal=6)

    def test_radius_non_square(self):
        images = np.zeros((1, 3, 6, 2), dtype="float32")
        layer = PositionalChannel2D(with_radius=True, data_format="channels_first")
        outputs = _numpy(layer(np.transpose(images, (0, 3, 1, 2))))

        x, y = _coordinate_grids(3, 6)
        self.assertAllClose(outputs[0, 4], np.sqrt(x**2 + y**2), atol=1e-6, rtol=0)

    def test_sinusoidal_values(self):
        images = np.zeros((1, 3, 5, 1), dtype="float32")
        layer = PositionalChannel2D(sinusoidal_frequencies=3, data_format="channels_last")
        outputs = _numpy(layer(images))[0]

        self.assertEqual(outputs.shape, (3, 5, 1 + 2 + 12))
        x, y = _coordinate_grids(3, 5)
        for k in range(3):
            first = 3 + 4 * k
            angular_frequency = (2.0**k) * np.pi
            self.assertAllClose(outputs[..., first], np.sin(angular_frequency * x), atol=1e-5)
            self.assertAllClose(outputs[..., first + 1], np.cos(angular_frequency * x), atol=1e-5)
            self.assertAllClose(outputs[..., first + 2], np.sin(angular_frequency * y), atol=1e-5)
            self.assertAllClose(outputs[..., first + 3], np.cos(angular_frequency * y), atol=1e-5)

    def test_sinusoidal_known_points(self):
        images = np.zeros((1, 3, 5, 1), dtype="float32")
        layer = PositionalChannel2D(sinusoidal_frequencies=2, data_format="channels_last")
        outputs = _numpy(layer(images))[0]

        # Column 3 has x = 0.5 and row 0 has y = -1.
        self.assertAlmostEqual(float(outputs[0, 3, 3]), 1.0, decimal=6)  # sin(pi / 2)
        self.assertAlmostEqual(float(outputs[0, 3, 4]), 0.0, decimal=6)  # cos(pi / 2)
        self.assertAlmostEqual(float(outputs[0, 3, 6]), -1.0, decimal=6)  # cos(-pi)
        self.assertAlmostEqual(float(outputs[0, 3, 7]), 0.0, decimal=6)  # sin(2 pi * 0.5)
        self.assertAlmostEqual(float(outputs[0, 3, 8]), -1.0, decimal=6)  # cos(2 pi * 0.5)
        self.assertAlmostEqual(float(outputs[0, 3, 10]), 1.0, decimal=6)  # cos(-2 pi)

    def test_channel_order_all_options(self):
        images = np.zeros((1, 3, 4, 2), dtype="float32")
        layer = PositionalChannel2D(
            with_radius=True,
            sinusoidal_frequencies=1,
            beta_maps=1,
            max_height=5,
            max_width=5,
            data_format="channels_last",
        )
        outputs = _numpy(layer(images))[0]

        x, y = _coordinate_grids(3, 4)
        expected = [x, y, np.sqrt(x**2 + y**2)]
        expected += [np.sin(np.pi * x), np.cos(np.pi * x), np.sin(np.pi * y), np.cos(np.pi * y)]
        expected.append(_numpy(layer.beta_table)[:3, :4, 0])
        self.assertEqual(outputs.shape[-1], 2 + len(expected))
        for channel, values in enumerate(expected, start=2):
            self.assertAllClose(outputs[..., channel], values, atol=1e-5, rtol=0)

    def test_beta_maps_reproducible_from_seed(self):
        images = np.zeros((1, 5, 7, 1), dtype="float32")
        first = PositionalChannel2D(data_format="channels_last", **BETA_OPTIONS)
        second = PositionalChannel2D(data_format="channels_last", **BETA_OPTIONS)
        first_outputs = _numpy(first(images))
        second_outputs = _numpy(second(images))

        self.assertEqual(first_outputs.tobytes(), second_outputs.tobytes())
        expected_table = _numpy(RandomBeta(0.5, 0.5, -1.0, 1.0, seed=4)((8, 8, 2)))
        self.assertEqual(_numpy(first.beta_table).tobytes(), expected_table.tobytes())
        self.assertAllEqual(first_outputs[0, ..., 3:], expected_table[:5, :7])

        other_seed = PositionalChannel2D(data_format="channels_last", **{**BETA_OPTIONS, "seed": 5})
        self.assertFalse(np.array_equal(_numpy(other_seed(images)), first_outputs))

    def test_beta_maps_match_numpy_draw(self):
        layer = PositionalChannel2D(
            beta_maps=3,
            beta_alpha=2.0,
            beta_beta=5.0,
            seed=1,
            max_height=4,
            max_width=6,
            data_format="channels_last",
        )
        layer.build((None, 4, 6, 1))

        draws = np.random.default_rng(1).beta(2.0, 5.0, size=(4, 6, 3))
        expected = (-1.0 + 2.0 * draws).astype("float32")
        self.assertEqual(_numpy(layer.beta_table).tobytes(), expected.tobytes())
        self.assertEqual(layer.trainable_weights, [])

    def test_image_larger_than_max_raises(self):
        layer = PositionalChannel2D(data_format="channels_last", **BETA_OPTIONS)
        with self.assertRaisesRegex(ValueError, "image height 9 exceeds max_height=8"):
            layer(np.zeros((1, 9, 4, 1), dtype="float32"))

        layer = PositionalChannel2D(data_format="channels_first", max_width=6)
        with self.assertRaisesRegex(ValueError, "image width 7 exceeds max_width=6"):
            layer(np.zeros((1, 1, 4, 7), dtype="float32"))

        with self.assertRaisesRegex(ValueError, "image width 9 exceeds max_width=8"):
            PositionalChannel2D(data_format="channels_last", **BETA_OPTIONS)(
                keras.Input(shape=(4, 9, 3))
            )

    def test_image_larger_than_max_raises_at_run_time(self):
        layer = PositionalChannel2D(data_format="channels_last", **BETA_OPTIONS)
        add_channels = tf.function(layer, input_signature=[tf.TensorSpec([None, None, None, 1])])

        self.assertEqual(tuple(add_channels(tf.zeros((1, 8, 8, 1))).shape), (1, 8, 8, 5))
        with self.assertRaisesRegex(
            tf.errors.InvalidArgumentError, r"max_height=8(.|\n)*image height:\] \[10\]"
        ):
            add_channels(tf.zeros((1, 10, 3, 1)))
        with self.assertRaisesRegex(
            tf.errors.InvalidArgumentError, r"max_width=8(.|\n)*image width:\] \[9\]"
        ):
            add_channels(tf.zeros((1, 3, 9, 1)))

    def test_variable_size_functional_model(self):
        inputs = keras.Input(shape=(None, None, 3))
        layer = PositionalChannel2D(with_radius=True, data_format="channels_last")
        model = keras.Model(inputs, layer(inputs))
        self.assertEqual(tuple(model.output.shape), (None, None, None, 6))

        for height, width in [(4, 4), (3, 7)]:
            images = _random_images((2, height, width, 3))
            outputs = model.predict_on_batch(images)
            x, y = _coordinate_grids(height, width)
            self.assertEqual(outputs.shape, (2, height, width, 6))
            self.assertAllClose(outputs[1, ..., 3], x, atol=1e-6, rtol=0)
            self.assertAllClose(outputs[1, ..., 4], y, atol=1e-6, rtol=0)

    def test_export_roundtrip_variable_size(self):
        inputs = keras.Input(shape=(None, None, 3))
        layer = PositionalChannel2D(
            with_radius=True, sinusoidal_frequencies=1, data_format="channels_last", **BETA_OPTIONS
        )
        model = keras.Model(inputs, layer(inputs))
        batches = [_random_images((2, 4, 4, 3)), _random_images((1, 3, 7, 3), seed=1)]

        self.assert_export_roundtrip(
            model, [tf.TensorSpec([None, None, None, 3], tf.float32)], batches
        )

    def test_export_rejects_large_image(self):
        inputs = keras.Input(shape=(None, None, 1))
        layer = PositionalChannel2D(data_format="channels_last", **BETA_OPTIONS)
        model = keras.Model(inputs, layer(inputs))
        serving = self.export_and_reload(model, [tf.TensorSpec([None, None, None, 1], tf.float32)])

        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, r"image width:\] \[12\]"):
            serving.serve(tf.zeros((1, 4, 12, 1)))

    def test_fresh_process_reload(self):
        inputs = keras.Input(shape=(None, None, 2))
        layer = PositionalChannel2D(
            with_radius=True, sinusoidal_frequencies=2, data_format="channels_last", **BETA_OPTIONS
        )
        model = keras.Model(inputs, layer(inputs))

        self.assert_fresh_process_reload(model, _random_images((2, 5, 6, 2)))

    def test_compute_output_shape(self):
        layer = PositionalChannel2D(
            with_radius=True, sinusoidal_frequencies=2, data_format="channels_last", **BETA_OPTIONS
        )
        self.assertEqual(layer.compute_output_shape((None, 4, 6, 3)), (None, 4, 6, 16))
        self.assertEqual(layer.compute_output_shape((2, None, None, 1)), (2, None, None, 14))
        self.assertEqual(layer.compute_output_shape((2, 4, 6, None)), (2, 4, 6, None))

        layer = PositionalChannel2D(sinusoidal_frequencies=1, data_format="channels_first")
        self.assertEqual(layer.compute_output_shape((None, 3, 4, 6)), (None, 9, 4, 6))
        self.assertEqual(layer.compute_output_shape((None, 3, None, None)), (None, 9, None, None))

    def test_data_format_default_follows_config(self):
        keras.config.set_image_data_format("channels_first")
        layer = PositionalChannel2D()

        self.assertEqual(layer.data_format, "channels_first")
        self.assertEqual(tuple(layer(np.zeros((1, 3, 4, 5), dtype="float32")).shape), (1, 5, 4, 5))

    def test_mixed_precision_policies(self):
        for policy, compute_dtype in [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")]:
            keras.config.set_dtype_policy(policy)
            layer = PositionalChannel2D(
                with_radius=True, sinusoidal_frequencies=1, data_format="channels_last", **BETA_OPTIONS
            )
            outputs = layer(tf.zeros((2, 3, 5, 1), dtype=compute_dtype))

            self.assertEqual(keras.backend.standardize_dtype(outputs.dtype), compute_dtype)
            self.assertEqual(layer.beta_table.dtype, "float32")
            self.assertAllEqual(_numpy(outputs[0, 0, :, 1]).astype("float32"), [-1, -0.5, 0, 0.5, 1])

    def test_float16_input_with_mixed_layer(self):
        layer = PositionalChannel2D(data_format="channels_first", dtype="mixed_float16")
        outputs = layer(np.ones((1, 2, 3, 3), dtype="float16"))

        self.assertEqual(keras.backend.standardize_dtype(outputs.dtype), "float16")
        self.assertAllEqual(_numpy(outputs[:, :2]), np.ones((1, 2, 3, 3)))

    def test_integer_images_cast_to_compute_dtype(self):
        images = np.full((1, 2, 3, 1), 200, dtype="uint8")
        outputs = PositionalChannel2D(data_format="channels_last")(images)

        self.assertEqual(keras.backend.standardize_dtype(outputs.dtype), "float32")
        self.assertAllEqual(_numpy(outputs[..., 0]), np.full((1, 2, 3), 200.0))

    def test_mask_passes_through(self):
        layer = PositionalChannel2D(data_format="channels_last")
        mask = np.array([[[True, False], [False, True]]])

        self.assertTrue(layer.supports_masking)
        self.assertIs(layer.compute_mask(np.zeros((1, 2, 2, 1)), mask), mask)

    def test_bad_input_rank(self):
        for shape in [(2, 3, 4), (1, 2, 3, 4, 5)]:
            with self.subTest(shape=shape):
                with self.assertRaisesRegex(ValueError, "rank 4"):
                    PositionalChannel2D()(np.zeros(shape, dtype="float32"))

    def test_bad_constructor_arguments(self):
        bad_arguments = [
            ("with_radius", 1),
            ("with_radius", "yes"),
            ("with_radius", None),
            ("sinusoidal_frequencies", -1),
            ("sinusoidal_frequencies", 1.5),
            ("sinusoidal_frequencies", True),
            ("beta_maps", -2),
            ("beta_maps", "2"),
            ("beta_alpha", 0.0),
            ("beta_alpha", float("nan")),
            ("beta_beta", -0.5),
            ("beta_beta", float("inf")),
            ("seed", -1),
            ("seed", 0.5),
            ("max_height", 0),
            ("max_height", 3.0),
            ("max_width", -4),
            ("data_format", "NHWC"),
            ("data_format", "channels-last"),
        ]
        for name, value in bad_arguments:
            with self.subTest(name=name, value=value):
                with self.assertRaisesRegex(ValueError, f"`{name}`.*Received: .*{name}="):
                    PositionalChannel2D(**{name: value})

    def test_beta_maps_require_max_size(self):
        for missing in ["max_height", "max_width"]:
            arguments = {**BETA_OPTIONS, missing: None}
            with self.subTest(missing=missing):
                with self.assertRaisesRegex(ValueError, f"`{missing}` is required.*beta_maps=2"):
                    PositionalChannel2D(**arguments)
