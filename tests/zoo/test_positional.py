"""Tests of the positional-scheme factory and its embedding-stage layer."""

import keras
import numpy as np
from absl.testing import parameterized
from keras_hub.layers import SinePositionEncoding

from tests.testing import LayerTestCase
from zoo import positional
from zoo.positional import PositionalEncodingStage


def _embedded(batch_size=2, length=6, width=8, seed=0):
    return np.random.default_rng(seed).normal(size=(batch_size, length, width)).astype("float32")


class SchemeFactoryTest(LayerTestCase):
    def test_scheme_names(self):
        self.assertEqual(
            positional.POSITIONAL_SCHEMES,
            ("none", "sinusoidal", "learned", "beta", "rotary", "alibi"),
        )
        self.assertEqual(
            set(positional.EMBEDDING_SCHEMES) | set(positional.ATTENTION_SCHEMES) | {"none"},
            set(positional.POSITIONAL_SCHEMES),
        )

    def test_unknown_scheme_lists_valid_ones(self):
        with self.assertRaises(ValueError) as context:
            positional.validate_positional("sine")
        message = str(context.exception)
        self.assertIn("positional='sine'", message)
        for scheme in positional.POSITIONAL_SCHEMES:
            self.assertIn(repr(scheme), message)

    def test_acts_in_attention(self):
        in_attention = [s for s in positional.POSITIONAL_SCHEMES if positional.acts_in_attention(s)]
        self.assertEqual(in_attention, ["rotary", "alibi"])
        with self.assertRaisesRegex(ValueError, "Received: positional='relative'"):
            positional.acts_in_attention("relative")

    def test_attention_positional(self):
        mapped = {s: positional.attention_positional(s) for s in positional.POSITIONAL_SCHEMES}
        self.assertEqual(
            mapped,
            {
                "none": "none",
                "sinusoidal": "none",
                "learned": "none",
                "beta": "none",
                "rotary": "rotary",
                "alibi": "alibi",
            },
        )

    def test_build_position_layer_per_scheme(self):
        for scheme in positional.POSITIONAL_SCHEMES:
            layer = positional.build_position_layer(scheme, max_length=8)
            if scheme in positional.EMBEDDING_SCHEMES:
                self.assertIsInstance(layer, PositionalEncodingStage)
                self.assertEqual(layer.positional, scheme)
            else:
                self.assertIsNone(layer, scheme)

    def test_combine_validation(self):
        with self.assertRaisesRegex(ValueError, "Received: combine='stack'"):
            positional.build_position_layer("learned", max_length=8, combine="stack")
        for scheme in ("none", "rotary", "alibi"):
            with self.assertRaisesRegex(ValueError, f"positional='{scheme}'"):
                positional.build_position_layer(
                    scheme, max_length=8, combine="concat", position_dim=4
                )

    def test_stage_argument_errors(self):
        with self.assertRaisesRegex(ValueError, "Received: positional='rotary'"):
            PositionalEncodingStage("rotary", max_length=8)
        with self.assertRaisesRegex(ValueError, "Received: max_length=0"):
            PositionalEncodingStage("learned", max_length=0)
        with self.assertRaisesRegex(ValueError, "Received: position_dim=None"):
            PositionalEncodingStage("learned", max_length=8, combine="concat")


class PositionalEncodingStageTest(LayerTestCase):
    @parameterized.named_parameters(
        ("sinusoidal_add", "sinusoidal", "add", 0),
        ("learned_add", "learned", "add", 1),
        ("beta_concat", "beta", "concat", 0),
    )
    def test_layer_contract(self, scheme, combine, num_trainable_weights):
        position_dim = 3 if combine == "concat" else None
        self.run_layer_test(
            PositionalEncodingStage,
            init_kwargs={
                "positional": scheme,
                "max_length": 8,
                "combine": combine,
                "position_dim": position_dim,
            },
            input_shape=(2, 5, 4),
            expected_output_shape=(2, 5, 4 + (position_dim or 0)),
            expected_num_trainable_weights=num_trainable_weights,
            supports_masking=True,
        )

    def test_sinusoidal_add_matches_keras_hub(self):
        inputs = _embedded()
        outputs = PositionalEncodingStage("sinusoidal", max_length=16)(inputs)
        expected = inputs + keras.ops.convert_to_numpy(SinePositionEncoding()(inputs))
        self.assertAllClose(outputs, expected, atol=1e-6, rtol=0)

    def test_sinusoidal_concat_appends_table(self):
        inputs = _embedded(width=8)
        outputs = keras.ops.convert_to_numpy(
            PositionalEncodingStage("sinusoidal", max_length=16, combine="concat", position_dim=6)(
                inputs
            )
        )
        expected_positions = SinePositionEncoding()(np.zeros((2, 6, 6), dtype="float32"))

        self.assertEqual(outputs.shape, (2, 6, 14))
        self.assertAllClose(outputs[..., :8], inputs, atol=0, rtol=0)
        self.assertAllClose(outputs[..., 8:], expected_positions, atol=1e-6, rtol=0)

    def test_learned_add_uses_table_rows(self):
        stage = PositionalEncodingStage("learned", max_length=10)
        inputs = _embedded(length=7, width=4)
        outputs = keras.ops.convert_to_numpy(stage(inputs))
        table = keras.ops.convert_to_numpy(stage.position_layer.position_embeddings)

        self.assertEqual(table.shape, (10, 4))
        self.assertAllClose(outputs - inputs, np.broadcast_to(table[:7], (2, 7, 4)), atol=1e-6)

    def test_beta_positions_same_in_both_modes(self):
        added = PositionalEncodingStage("beta", max_length=10, seed=5)
        concatenated = PositionalEncodingStage(
            "beta", max_length=10, combine="concat", position_dim=4, seed=5
        )
        inputs = _embedded(length=7, width=4)

        added_positions = keras.ops.convert_to_numpy(added(inputs)) - inputs
        concatenated_positions = keras.ops.convert_to_numpy(concatenated(inputs))[..., 4:]
        self.assertAllClose(added_positions, concatenated_positions, atol=1e-6, rtol=0)
        self.assertGreater(np.std(added_positions), 0.1)

    def test_mask_reaches_next_layer(self):
        token_ids = keras.Input((None,), dtype="int32")
        embedded = keras.layers.Embedding(10, 4, mask_zero=True)(token_ids)
        staged = PositionalEncodingStage("learned", max_length=8, combine="concat", position_dim=2)(
            embedded
        )
        pooled = keras.layers.GlobalAveragePooling1D()(staged)
        model = keras.Model(token_ids, [staged, pooled])

        ids = np.array([[3, 4, 0, 0], [1, 2, 3, 0]], dtype="int32")
        vectors, means = (keras.ops.convert_to_numpy(t) for t in model(ids))
        self.assertAllClose(means[0], vectors[0, :2].mean(axis=0), atol=1e-6, rtol=0)
        self.assertAllClose(means[1], vectors[1, :3].mean(axis=0), atol=1e-6, rtol=0)

    def test_learned_rejects_long_sequence(self):
        stage = PositionalEncodingStage("learned", max_length=5)
        with self.assertRaisesRegex(ValueError, "max_length=5"):
            stage(_embedded(length=6, width=4))

    def test_sinusoidal_accepts_long_sequence(self):
        stage = PositionalEncodingStage("sinusoidal", max_length=5)
        self.assertEqual(tuple(stage(_embedded(length=9, width=4)).shape), (2, 9, 4))

    def test_class_serialization(self):
        layer = PositionalEncodingStage(
            "learned",
            max_length=12,
            combine="concat",
            position_dim=3,
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            seed=4,
        )
        self.run_class_serialization_test(layer)
