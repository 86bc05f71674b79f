"""Tests of PositionalMultiHeadAttention: rotary and ALiBi inside attention, with Keras masks."""

import math

import keras
import numpy as np
from absl.testing import parameterized
from keras_hub.layers import AlibiBias

from tests.testing import LayerTestCase
from zoo.attention import (
    ATTENTION_POSITIONAL,
    PositionalMultiHeadAttention,
    alibi_bias,
    alibi_slopes,
)

NUM_HEADS = 2
KEY_DIM = 4
WIDTH = 8


def _inputs(batch_size=2, length=6, seed=0):
    return np.random.default_rng(seed).normal(size=(batch_size, length, WIDTH)).astype("float32")


def _key_padding_mask(lengths, length):
    """Return a (batch, 1, length) mask that is True at the first `lengths[b]` keys."""
    return (np.arange(length)[None, :] < np.asarray(lengths)[:, None])[:, None, :]


def _attention(positional, dropout=0.0, num_heads=NUM_HEADS):
    layer = PositionalMultiHeadAttention(
        num_heads=num_heads, key_dim=KEY_DIM, positional=positional, dropout=dropout
    )
    layer.build((None, None, WIDTH), (None, None, WIDTH))
    return layer


def _zero_query_alibi_attention():
    """Return an ALiBi layer whose queries are zero, so its scores are the ALiBi bias alone."""
    layer = _attention("alibi")
    query_kernel = layer.query_dense.kernel
    query_kernel.assign(np.zeros(query_kernel.shape, dtype="float32"))
    return layer


def _log_ratios_to_own_key(probabilities):
    """Return `log p[h, i, j] - log p[h, i, i]` for probabilities of shape (heads, i, j)."""
    own_key = np.diagonal(probabilities, axis1=-2, axis2=-1)[..., None]
    with np.errstate(divide="ignore"):
        return np.log(probabilities) - np.log(own_key)


def _power_of_two_slopes(num_heads, alibi_bias_max=8.0):
    return np.array([2.0 ** (-alibi_bias_max * h / num_heads) for h in range(1, num_heads + 1)])


def _keras_hub_slopes(num_heads):
    """Read the slopes of keras-hub's `AlibiBias` from its bias at keys 0 and 1 of 2 keys."""
    bias = AlibiBias()(np.zeros((1, num_heads, 1, 2), dtype="float32"))
    bias = keras.ops.convert_to_numpy(bias)[0, :, 0]
    return bias[:, 1] - bias[:, 0]


def _keras_hub_alibi_outputs(layer, inputs, attention_mask):
    """Compute `layer`'s ALiBi attention with keras-hub's `AlibiBias` adding the bias.

    `attention_mask` is a boolean array of shape (batch, query_length, key_length).
    """
    query = layer.query_dense(inputs)
    key = layer.key_dense(inputs)
    value = layer.value_dense(inputs)

    scores = keras.ops.einsum("bqnh,bknh->bnqk", query, key) / math.sqrt(KEY_DIM)
    scores = AlibiBias(alibi_bias_max=layer.alibi_bias_max)(scores)
    scores = keras.ops.where(attention_mask[:, None], scores, -1e9)
    probabilities = keras.ops.softmax(scores, axis=-1)

    combined = keras.ops.einsum("bnqk,bknh->bqnh", probabilities, value)
    return keras.ops.convert_to_numpy(layer.output_dense(combined))


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

    def test_alibi_probability_ratios(self):
        # With zero queries the scores are the ALiBi bias only: the log probability of key j
        # for query i, relative to key i, is -slope * |i - j|, with slopes
        # 2 ** (-8 * h / num_heads) for h = 1..num_heads.
        layer = _zero_query_alibi_attention()
        slopes = _power_of_two_slopes(NUM_HEADS)
        positions = np.arange(6)
        offsets = positions[:, None] - positions[None, :]

        probabilities = _probabilities(layer, _inputs(batch_size=1))[0]
        expected = -slopes[:, None, None] * np.abs(offsets)[None]
        self.assertAllClose(_log_ratios_to_own_key(probabilities), expected, atol=1e-5, rtol=0)

        # Under the causal mask the same bias gives ALiBi's causal form -slope * (i - j), j <= i.
        probabilities = _probabilities(layer, _inputs(batch_size=1), causal=True)[0]
        at_or_before = offsets >= 0
        expected = -slopes[:, None] * offsets[at_or_before][None]
        log_ratios = _log_ratios_to_own_key(probabilities)[:, at_or_before]
        self.assertAllClose(log_ratios, expected, atol=1e-5, rtol=0)
        self.assertAllClose(probabilities[:, ~at_or_before], 0.0, atol=0)

    def test_alibi_symmetric_in_encoder(self):
        # Equal keys and zero queries: only the distance from the query sets the probability,
        # so keys i - d and i + d get the same probability and each step away divides it by
        # exp(slope).
        layer = _zero_query_alibi_attention()
        slopes = _power_of_two_slopes(NUM_HEADS)
        constant = np.broadcast_to(_inputs(batch_size=1, length=1), (1, 9, WIDTH))
        probabilities = _probabilities(layer, constant)[0]

        query = 4
        for head, slope in enumerate(slopes):
            row = probabilities[head, query]
            for distance in range(1, 5):
                self.assertAllClose(row[query - distance], row[query + distance], atol=1e-7)
            for distance in range(4):
                ratio_before = row[query - distance] / row[query - distance - 1]
                ratio_after = row[query + distance] / row[query + distance + 1]
                self.assertAllClose(ratio_before, math.exp(slope), atol=1e-5)
                self.assertAllClose(ratio_after, math.exp(slope), atol=1e-5)

    @parameterized.named_parameters(("two_heads", 2), ("three_heads", 3), ("six_heads", 6))
    def test_alibi_causal_matches_keras_hub(self, num_heads):
        # Three and six heads are not powers of two, so they also check the interleaved slopes.
        layer = _attention("alibi", num_heads=num_heads)
        inputs = _inputs(length=7)
        key_mask = _key_padding_mask([5, 7], 7)
        causal_mask = np.tril(np.ones((7, 7), dtype=bool))

        outputs = layer(inputs, inputs, attention_mask=key_mask, use_causal_mask=True)
        expected = _keras_hub_alibi_outputs(layer, inputs, key_mask & causal_mask)
        self.assertAllClose(outputs, expected, atol=1e-5, rtol=0)

        # Without the causal mask keras-hub's bias favours later keys, so the outputs differ.
        outputs = layer(inputs, inputs, attention_mask=key_mask)
        keras_hub_outputs = _keras_hub_alibi_outputs(layer, inputs, np.repeat(key_mask, 7, 1))
        self.assertGreater(np.abs(keras_hub_outputs - outputs).max(), 1e-3)

    def test_alibi_slopes_rule(self):
        for num_heads in (1, 2, 4, 8, 16):
            self.assertAllClose(alibi_slopes(num_heads), _power_of_two_slopes(num_heads))
        self.assertAllClose(alibi_slopes(4, alibi_bias_max=4), _power_of_two_slopes(4, 4.0))

        # Six heads: the four slopes of 4 heads, then slopes 1 and 3 (counted from 1) of 8.
        expected = [*_power_of_two_slopes(4), *_power_of_two_slopes(8)[[0, 2]]]
        self.assertAllClose(alibi_slopes(6), expected)

        for num_heads in range(1, 13):
            self.assertAllClose(alibi_slopes(num_heads), _keras_hub_slopes(num_heads), atol=1e-7)

    def test_alibi_bias_values(self):
        bias = keras.ops.convert_to_numpy(alibi_bias([0.5, 0.25], 3, 4))
        self.assertEqual(bias.shape, (1, 2, 3, 4))
        self.assertEqual(bias.dtype, np.float32)
        distances = np.abs(np.arange(3)[:, None] - np.arange(4)[None, :])
        self.assertAllClose(bias[0, 0], -0.5 * distances, atol=0)
        self.assertAllClose(bias[0, 1], -0.25 * distances, atol=0)

    def test_alibi_argument_errors(self):
        for value in (0, -1, True, "8", None):
            with self.assertRaisesRegex(ValueError, f"alibi_bias_max={value!r}"):
                PositionalMultiHeadAttention(
                    num_heads=2, key_dim=4, positional="alibi", alibi_bias_max=value
                )
        for value in (0, 2.0):
            with self.assertRaisesRegex(ValueError, f"num_heads={value!r}"):
                alibi_slopes(value)

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
