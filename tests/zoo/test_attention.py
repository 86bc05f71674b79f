"""Tests of PositionalMultiHeadAttention: rotary and ALiBi inside attention, with Keras masks."""

import math

import keras
import numpy as np
from absl.testing import parameterized

from tests.testing import LayerTestCase
from zoo.attention import ATTENTION_POSITIONAL, PositionalMultiHeadAttention

NUM_HEADS = 2
KEY_DIM = 4
WIDTH = 8


def _inputs(batch_size=2, length=6, seed=0):
    return np.random.default_rng(seed).normal(size=(batch_size, length, WIDTH)).astype("float32")


def _key_padding_mask(lengths, length):
    """Return a (batch, 1, length) mask that is True at the first `lengths[b]` keys."""
    return (np.arange(length)[None, :] < np.asarray(lengths)[:, None])[:, None, :]


def _attention(positional, dropout=0.0):
    layer = PositionalMultiHeadAttention(
        num_heads=NUM_HEADS, key_dim=KEY_DIM, positional=positional, dropout=dropout
    )
    layer.build((None, None, WIDTH), (None, None, WIDTH))
    return layer


def _probabilities(layer, inputs, attention_mask=None, causal=False):
    _, probabilities = layer(
        inputs,
        inputs,
        attention_mask=attention_mask,
        use_causal_mask=causal,
        return_attention_scores=True,
    )
    return keras.ops.convert_to_numpy(probabilities)


class PositionalMultiHeadAttentionTest(LayerTestCase):
    def test_none_matches_keras_attention(self):
        ours = _attention("none")
        reference = keras.layers.MultiHeadAttention(num_heads=NUM_HEADS, key_dim=KEY_DIM)
        reference.build((None, None, WIDTH), (None, None, WIDTH))
        reference.set_weights(ours.get_weights())

        inputs = _inputs()
        mask = _key_padding_mask([4, 6], 6)
        for causal in (False, True):
            expected = reference(inputs, inputs, attention_mask=mask, use_causal_mask=causal)
            outputs = ours(inputs, inputs, attention_mask=mask, use_causal_mask=causal)
            self.assertAllClose(outputs, expected, atol=1e-6, rtol=0)

    @parameterized.named_parameters(*((name, name) for name in ATTENTION_POSITIONAL))
    def test_masks_respected(self, positional):
        layer = _attention(positional)
        mask = _key_padding_mask([4, 6], 6)

        probabilities = _probabilities(layer, _inputs(), attention_mask=mask)
        self.assertAllClose(probabilities[0, :, :, 4:], np.zeros((NUM_HEADS, 6, 2)), atol=0)
        self.assertAllClose(probabilities.sum(axis=-1), np.ones((2, NUM_HEADS, 6)), atol=1e-5)

        probabilities = _probabilities(layer, _inputs(), attention_mask=mask, causal=True)
        above_diagonal = np.triu(np.ones((6, 6), dtype=bool), k=1)
        self.assertAllClose(probabilities[..., above_diagonal], 0.0, atol=0)
        self.assertAllClose(probabilities[0, :, :, 4:], np.zeros((NUM_HEADS, 6, 2)), atol=0)

    @parameterized.named_parameters(*((name, name) for name in ATTENTION_POSITIONAL))
    def test_fused_and_explicit_paths_agree(self, positional):
        # For "none" and "rotary" without dropout Keras calls `ops.dot_product_attention`, but
        # with `return_attention_scores=True` it computes the scores explicitly.
        layer = _attention(positional)
        inputs = _inputs()
        mask = _key_padding_mask([3, 6], 6)
        for causal in (False, True):
            fused = layer(inputs, inputs, attention_mask=mask, use_causal_mask=causal)
            explicit, _ = layer(
                inputs,
                inputs,
                attention_mask=mask,
                use_causal_mask=causal,
                return_attention_scores=True,
            )
            self.assertAllClose(fused, explicit, atol=1e-5, rtol=0)

    def test_rotary_scores_depend_on_distance(self):
        # Every token is the same vector, so any change of the scores along a row comes from
        # the positions. Rotary logits depend on i - j only: the log ratio of the
        # probabilities at distance 1 and 0 is the same in every row.
        constant = np.broadcast_to(_inputs(batch_size=1, length=1), (1, 7, WIDTH))
        rotary = _probabilities(_attention("rotary"), constant, causal=True)[0]
        plain = _probabilities(_attention("none"), constant, causal=True)[0]

        rows = np.arange(1, 7)
        rotary_ratios = np.log(rotary[:, rows, rows - 1]) - np.log(rotary[:, rows, rows])
        self.assertAllClose(rotary_ratios, np.repeat(rotary_ratios[:, :1], 6, axis=1), atol=1e-4)
        self.assertGreater(np.abs(rotary_ratios).max(), 1e-3)

        plain_ratios = np.log(plain[:, rows, rows - 1]) - np.log(plain[:, rows, rows])
        self.assertAllClose(plain_ratios, np.zeros_like(plain_ratios), atol=1e-5)

    def test_alibi_bias_slopes(self):
        layer = _attention("alibi")
        query_kernel = layer.query_dense.kernel
        query_kernel.assign(np.zeros(query_kernel.shape, dtype="float32"))

        # With zero queries the logits are the ALiBi bias only, so neighbouring keys differ by
        # a factor exp(slope) with slopes 2 ** (-8 * h / num_heads) for h = 1..num_heads.
        slopes = np.array([2.0 ** (-8.0 * h / NUM_HEADS) for h in range(1, NUM_HEADS + 1)])
        for causal in (False, True):
            probabilities = _probabilities(layer, _inputs(batch_size=1), causal=causal)[0]
            for head, slope in enumerate(slopes):
                last_row = probabilities[head, -1]
                self.assertAllClose(last_row[1:] / last_row[:-1], np.full(5, math.exp(slope)))
        self.assertAllClose(probabilities[:, 0, 1:], np.zeros((NUM_HEADS, 5)), atol=0)

    def test_alibi_dropout_changes_training_output(self):
        layer = _attention("alibi", dropout=0.5)
        inputs = _inputs()
        inference = layer(inputs, inputs, training=False)
        training = layer(inputs, inputs, training=True)
        self.assertNotAllClose(inference, training)
        self.assertAllClose(inference, layer(inputs, inputs), atol=1e-6, rtol=0)

    @parameterized.named_parameters(*((name, name) for name in ATTENTION_POSITIONAL))
    def test_config_round_trip(self, positional):
        layer = PositionalMultiHeadAttention(
            num_heads=NUM_HEADS,
            key_dim=KEY_DIM,
            positional=positional,
            rotary_max_wavelength=500,
            alibi_bias_max=4,
        )
        config = layer.get_config()
        self.assertEqual(config["positional"], positional)
        self.assertEqual(config["rotary_max_wavelength"], 500)
        self.assertEqual(config["alibi_bias_max"], 4)
        self.run_class_serialization_test(layer)

    def test_registered_name(self):
        self.assertEqual(
            keras.saving.get_registered_name(PositionalMultiHeadAttention),
            "encoding_zoo>PositionalMultiHeadAttention",
        )

    def test_rejects_embedding_scheme(self):
        with self.assertRaises(ValueError) as context:
            PositionalMultiHeadAttention(num_heads=2, key_dim=4, positional="sinusoidal")
        message = str(context.exception)
        self.assertIn("positional='sinusoidal'", message)
        for name in ATTENTION_POSITIONAL:
            self.assertIn(repr(name), message)

    def test_rotary_rejects_odd_key_dim(self):
        with self.assertRaisesRegex(ValueError, "key_dim=3"):
            PositionalMultiHeadAttention(num_heads=2, key_dim=3, positional="rotary")
        PositionalMultiHeadAttention(num_heads=2, key_dim=3, positional="alibi")
