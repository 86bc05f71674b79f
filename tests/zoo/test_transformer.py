"""Tests of the transformer builders for every positional scheme, and of the shared block.

Each scheme is checked on both builders for the properties an experiment relies on: padding
changes nothing at real positions, the causal model never looks ahead, the encoder without
positions is a bag of tokens while every other encoder is order-sensitive, and the models
train, save, reload in a fresh process and export with int32 ids of any length.
"""

import itertools
import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from tests.testing import LayerTestCase, run_python
from zoo.positional import EMBEDDING_SCHEMES, POSITIONAL_SCHEMES
from zoo.transformer import build_causal_lm, build_encoder_classifier
from zoo.transformer_block import TransformerBlock, check_head_dim

VOCABULARY_SIZE = 20
NUM_CLASSES = 3
MAX_LENGTH = 12
FAMILIES = ("encoder", "causal_lm")
LOGITS_LAYER_NAMES = {"encoder": "classifier_logits", "causal_lm": "lm_logits"}
INPUT_SIGNATURE = [tf.TensorSpec([None, None], tf.int32)]

# (family, scheme, combine): every scheme with "add", the embedding-stage schemes with "concat".
CASES = [(family, scheme, "add") for family in FAMILIES for scheme in POSITIONAL_SCHEMES] + [
    (family, scheme, "concat") for family in FAMILIES for scheme in EMBEDDING_SCHEMES
]
# Cases of the default round-trip test: a fixed table concatenated in the encoder, and the
# two schemes inside attention in the causal model. The slow test covers the others.
REPRESENTATIVE_CASES = [
    ("encoder", "beta", "concat"),
    ("causal_lm", "rotary", "add"),
    ("causal_lm", "alibi", "add"),
]

_RELOAD_SCRIPT = """
import sys

import keras
import numpy as np

import zoo.attention  # registers the zoo layers, as `import zoo` does for users
import zoo.positional
import zoo.transformer_block

for model_path, inputs_path, outputs_path in zip(*[iter(sys.argv[1:])] * 3):
    model = keras.saving.load_model(model_path, safe_mode=True)
    np.save(outputs_path, keras.ops.convert_to_numpy(model.predict_on_batch(np.load(inputs_path))))
"""


def _case_name(family, scheme, combine):
    return f"{family}_{scheme}_{combine}"


def _named(cases):
    return [(_case_name(*case), *case) for case in cases]


def _build(family, scheme, combine="add", num_layers=2, **overrides):
    arguments = {
        "vocabulary_size": VOCABULARY_SIZE,
        "max_length": MAX_LENGTH,
        "positional": scheme,
        "hidden_dim": 16,
        "num_heads": 2,
        "intermediate_dim": 32,
        "num_layers": num_layers,
        "combine": combine,
        **overrides,
    }
    if family == "encoder":
        return build_encoder_classifier(num_classes=NUM_CLASSES, **arguments)
    return build_causal_lm(**arguments)


def _predict(model, ids):
    return keras.ops.convert_to_numpy(model(np.asarray(ids, dtype="int32"), training=False))


def _random_tokens(rng, shape):
    """Return token ids in [1, VOCABULARY_SIZE), so none of them is the padding id 0."""
    return rng.integers(1, VOCABULARY_SIZE, size=shape).astype("int32")


def _padded_batch(rng):
    """Return a batch of lengths 9, 5 and 7 (rows 1 and 2 padded with zeros)."""
    ids = _random_tokens(rng, (3, 9))
    ids[1, 5:] = 0
    ids[2, 7:] = 0
    return ids


def _targets(family, rng, ids):
    if family == "encoder":
        return rng.integers(0, NUM_CLASSES, size=(len(ids),))
    return _random_tokens(rng, ids.shape)


class TransformerPropertiesTest(LayerTestCase):
    def setUp(self):
        super().setUp()
        keras.utils.set_random_seed(1)
        self.rng = np.random.default_rng(7)

    @parameterized.named_parameters(*_named(CASES))
    def test_padding_changes_nothing(self, family, scheme, combine):
        model = _build(family, scheme, combine)
        short = _random_tokens(self.rng, (1, 5))
        batch = np.zeros((2, 9), dtype="int32")
        batch[0] = _random_tokens(self.rng, (9,))
        batch[1, :5] = short[0]

        alone = _predict(model, short)
        padded = _predict(model, batch)
        if family == "encoder":
            self.assertAllClose(padded[1], alone[0], atol=1e-5, rtol=0)
        else:
            self.assertAllClose(padded[1, :5], alone[0], atol=1e-5, rtol=0)

    def test_padding_check_sees_extra_tokens(self):
        # The padding comparison can fail: real tokens in place of the padding change the
        # pooled logits by far more than the tolerance.
        model = _build("encoder", "sinusoidal")
        padded = np.array([[3, 5, 7, 2, 9, 0, 0]], dtype="int32")
        filled = np.array([[3, 5, 7, 2, 9, 4, 4]], dtype="int32")
        self.assertGreater(np.abs(_predict(model, padded) - _predict(model, filled)).max(), 1e-3)

    @parameterized.named_parameters(
        *_named(case for case in CASES if case[0] == "causal_lm")
    )
    def test_causal_lm_ignores_future_tokens(self, family, scheme, combine):
        model = _build(family, scheme, combine)
        ids = _random_tokens(self.rng, (2, 9))
        changed = ids.copy()
        changed[:, 5:] = (ids[:, 5:] % (VOCABULARY_SIZE - 1)) + 1

        logits = _predict(model, ids)
        changed_logits = _predict(model, changed)
        self.assertAllClose(changed_logits[:, :5], logits[:, :5], atol=1e-5, rtol=0)
        self.assertGreater(np.abs(changed_logits[:, 5] - logits[:, 5]).max(), 1e-4)

    @parameterized.named_parameters(*((scheme, scheme) for scheme in POSITIONAL_SCHEMES))
    def test_encoder_order_sensitivity(self, scheme):
        model = _build("encoder", scheme)
        ids = np.zeros((1, 9), dtype="int32")
        ids[0, :7] = self.rng.permutation(np.arange(1, VOCABULARY_SIZE))[:7]
        permuted = ids.copy()
        permuted[0, :7] = ids[0, [3, 6, 0, 5, 1, 4, 2]]

        difference = np.abs(_predict(model, ids) - _predict(model, permuted)).max()
        if scheme == "none":
            # Without positions the encoder is a bag of tokens.
            self.assertLess(difference, 1e-5)
        else:
            self.assertGreater(difference, 1e-3)

    def test_encoder_alibi_ignores_reversal(self):
        # The ALiBi bias depends on |i - j| only, which reversing the real tokens preserves,
        # so an ALiBi encoder with mean pooling gives a sequence and its reverse the same
        # logits. Rotary scores depend on the signed offset i - j, so reversal changes them.
        ids = _padded_batch(self.rng)
        reversed_ids = ids.copy()
        for row, length in enumerate((ids != 0).sum(axis=1)):
            reversed_ids[row, :length] = ids[row, :length][::-1]

        alibi = _build("encoder", "alibi")
        self.assertAllClose(_predict(alibi, reversed_ids), _predict(alibi, ids), atol=1e-5, rtol=0)

        rotary = _build("encoder", "rotary")
        difference = np.abs(_predict(rotary, reversed_ids) - _predict(rotary, ids)).max()
        self.assertGreater(difference, 1e-3)

    def test_causal_nope_sees_order(self):
        # The causal mask leaks position: with two layers, the last position's logits change
        # when the earlier tokens are permuted, although the last token stays in place and
        # the model has no positional encoding.
        ids = np.array([[4, 9, 2, 15, 7, 11, 3]], dtype="int32")
        permuted = ids[:, [5, 2, 4, 0, 3, 1, 6]]

        two_layers = _build("causal_lm", "none", num_layers=2)
        last_logits = _predict(two_layers, ids)[0, -1]
        permuted_last_logits = _predict(two_layers, permuted)[0, -1]
        self.assertGreater(np.abs(last_logits - permuted_last_logits).max(), 1e-3)

        # With one layer the last position attends to a set of tokens, so only a second layer
        # (whose keys summarize prefixes) turns the mask into order information.
        one_layer = _build("causal_lm", "none", num_layers=1)
        last_logits = _predict(one_layer, ids)[0, -1]
        permuted_last_logits = _predict(one_layer, permuted)[0, -1]
        self.assertLess(np.abs(last_logits - permuted_last_logits).max(), 1e-5)

    @parameterized.named_parameters(
        *((scheme, scheme) for scheme in ("none", "sinusoidal", "rotary", "alibi"))
    )
    def test_unbounded_scheme_accepts_long_input(self, scheme):
        model = _build("causal_lm", scheme)
        logits = _predict(model, _random_tokens(self.rng, (2, MAX_LENGTH + 3)))
        self.assertEqual(logits.shape, (2, MAX_LENGTH + 3, VOCABULARY_SIZE))
        self.assertTrue(np.isfinite(logits).all())

    def test_model_structure(self):
        model = _build("encoder", "learned", combine="concat", position_dim=6)
        token_ids = model.inputs[0]
        self.assertEqual(token_ids.dtype, "int32")
        self.assertEqual(tuple(token_ids.shape), (None, None))

        embedding_config = model.get_layer("token_embedding").get_config()
        self.assertEqual(embedding_config["output_dim"], 10)
        self.assertTrue(embedding_config["mask_zero"])
        initializer = embedding_config["embeddings_initializer"]
        self.assertEqual(initializer["class_name"], "RandomNormal")
        self.assertEqual(initializer["config"]["stddev"], 1.0)

        blocks = [layer for layer in model.layers if isinstance(layer, TransformerBlock)]
        self.assertEqual(len(blocks), 2)
        self.assertEqual(tuple(model.output.shape), (None, NUM_CLASSES))
        self.assertEqual(model.name, "encoder_classifier_learned")

    def test_attention_scheme_reaches_every_block(self):
        for scheme, expected in (("rotary", "rotary"), ("alibi", "alibi"), ("beta", "none")):
            model = _build("causal_lm", scheme)
            blocks = [layer for layer in model.layers if isinstance(layer, TransformerBlock)]
            self.assertEqual([block.positional for block in blocks], [expected, expected])
            self.assertTrue(all(block.causal for block in blocks))
            self.assertEqual(blocks[0].attention.positional, expected)


class TransformerMixedPrecisionTest(LayerTestCase):
    @parameterized.named_parameters(*((family, family) for family in FAMILIES))
    def test_mixed_bfloat16_float32_logits(self, family):
        rng = np.random.default_rng(5)
        ids = _padded_batch(rng)
        previous_policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy("mixed_bfloat16")
        try:
            for scheme in POSITIONAL_SCHEMES:
                model = _build(family, scheme, num_layers=1)
                blocks = [layer for layer in model.layers if isinstance(layer, TransformerBlock)]
                self.assertEqual([block.compute_dtype for block in blocks], ["bfloat16"], scheme)
                self.assertEqual(blocks[0].attention.compute_dtype, "bfloat16", scheme)
                logits_layer = model.get_layer(LOGITS_LAYER_NAMES[family])
                self.assertEqual(logits_layer.compute_dtype, "float32", scheme)

                logits = model(ids, training=False)
                self.assertEqual(keras.backend.standardize_dtype(logits.dtype), "float32", scheme)
                self.assertTrue(np.isfinite(keras.ops.convert_to_numpy(logits)).all(), scheme)

                model.compile(
                    optimizer="adam",
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    run_eagerly=True,
                )
                loss = model.train_on_batch(ids, _targets(family, rng, ids))
                self.assertTrue(np.isfinite(loss), scheme)
        finally:
            keras.config.set_dtype_policy(previous_policy)


class TransformerArgumentsTest(LayerTestCase):
    def test_unknown_scheme_lists_valid_ones(self):
        for build in (build_encoder_classifier, build_causal_lm):
            arguments = {"num_classes": 2} if build is build_encoder_classifier else {}
            with self.assertRaises(ValueError) as context:
                build(vocabulary_size=10, max_length=8, positional="relative", **arguments)
            message = str(context.exception)
            self.assertIn("positional='relative'", message)
            for scheme in POSITIONAL_SCHEMES:
                self.assertIn(repr(scheme), message)

    def test_hidden_dim_not_divisible_by_heads(self):
        with self.assertRaisesRegex(ValueError, "hidden_dim=18, num_heads=4"):
            _build("encoder", "sinusoidal", hidden_dim=18, num_heads=4)

    def test_rotary_rejects_odd_head_dim(self):
        with self.assertRaisesRegex(ValueError, "head size 3"):
            _build("causal_lm", "rotary", hidden_dim=12, num_heads=4)
        # The same odd head size is valid for a scheme that does not rotate features.
        _build("causal_lm", "alibi", hidden_dim=12, num_heads=4)

    def test_table_schemes_reject_long_input(self):
        too_long = np.ones((2, MAX_LENGTH + 1), dtype="int32")
        for family, scheme in itertools.product(FAMILIES, ("learned", "beta")):
            model = _build(family, scheme)
            with self.assertRaisesRegex(ValueError, f"max_length={MAX_LENGTH}"):
                model(too_long)
            with self.assertRaisesRegex(ValueError, f"max_length={MAX_LENGTH}"):
                model.predict(too_long, verbose=0)

    def test_combine_errors(self):
        with self.assertRaisesRegex(ValueError, "positional='rotary'"):
            _build("encoder", "rotary", combine="concat")
        with self.assertRaisesRegex(ValueError, "Received: combine='sum'"):
            _build("encoder", "learned", combine="sum")
        with self.assertRaisesRegex(ValueError, "position_dim=16, hidden_dim=16"):
            _build("encoder", "learned", combine="concat", position_dim=16)

    def test_other_argument_errors(self):
        with self.assertRaisesRegex(ValueError, "Received: vocabulary_size=0"):
            _build("causal_lm", "none", vocabulary_size=0)
        with self.assertRaisesRegex(ValueError, "Received: num_layers=1.5"):
            _build("causal_lm", "none", num_layers=1.5)
        with self.assertRaisesRegex(ValueError, "Received: dropout=1.0"):
            _build("causal_lm", "none", dropout=1.0)
        with self.assertRaisesRegex(ValueError, "Received: pooling='max'"):
            _build("encoder", "none", pooling="max")
        with self.assertRaisesRegex(ValueError, "Received: num_classes=0"):
            build_encoder_classifier(vocabulary_size=10, num_classes=0, max_length=8)


class TransformerBlockTest(LayerTestCase):
    def test_layer_contract(self):
        self.run_layer_test(
            TransformerBlock,
            init_kwargs={
                "num_heads": 2,
                "intermediate_dim": 8,
                "positional": "alibi",
                "causal": True,
                "dropout": 0.1,
            },
            input_shape=(2, 5, 8),
            expected_output_shape=(2, 5, 8),
            expected_num_trainable_weights=16,
            supports_masking=True,
        )

    def test_class_serialization(self):
        block = TransformerBlock(
            num_heads=2,
            intermediate_dim=8,
            positional="rotary",
            causal=True,
            dropout=0.2,
            activation="relu",
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
        )
        self.run_class_serialization_test(block)

    def test_rejects_embedding_scheme(self):
        with self.assertRaisesRegex(ValueError, "Received: positional='learned'"):
            TransformerBlock(num_heads=2, intermediate_dim=8, positional="learned")

    def test_check_head_dim(self):
        self.assertEqual(check_head_dim(16, 4, "rotary"), 4)
        self.assertEqual(check_head_dim(12, 4, "none"), 3)
        with self.assertRaisesRegex(ValueError, "hidden_dim=10, num_heads=4"):
            check_head_dim(10, 4)
        with self.assertRaisesRegex(ValueError, "head size 3"):
            TransformerBlock(num_heads=4, intermediate_dim=8, positional="rotary").build(
                (None, None, 12)
            )


class TransformerRoundTripTest(LayerTestCase):
    """Train one step, reload `.keras` files in a fresh process and export SavedModels."""

    def setUp(self):
        super().setUp()
        keras.utils.set_random_seed(3)
        self.rng = np.random.default_rng(11)

    def test_round_trips_representative(self):
        # Eager training keeps this test short. The slow test trains in graph mode.
        self._check_round_trips(REPRESENTATIVE_CASES, run_eagerly=True)

    @pytest.mark.slow
    def test_round_trips_all_schemes(self):
        self._check_round_trips(CASES, run_eagerly=False)

    def test_lm_loss_ignores_padded_positions(self):
        # The logits carry the padding mask, so a compiled (graph-mode) evaluation gives the
        # same loss whatever the targets at padded positions are.
        model = _build("causal_lm", "alibi", num_layers=1)
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        ids = _padded_batch(self.rng)
        targets = _random_tokens(self.rng, ids.shape)
        other_targets = np.where(ids == 0, (targets % (VOCABULARY_SIZE - 1)) + 1, targets)
        other_real_targets = np.where(ids == 0, targets, (targets % (VOCABULARY_SIZE - 1)) + 1)

        loss = model.evaluate(ids, targets, verbose=0)
        self.assertAllClose(model.evaluate(ids, other_targets, verbose=0), loss, atol=1e-6)
        self.assertNotAllClose(model.evaluate(ids, other_real_targets, verbose=0), loss)

    def test_served_learned_model_rejects_long_input(self):
        model = _build("causal_lm", "learned", num_layers=1)
        serving = self.export_and_reload(model, INPUT_SIGNATURE)
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, f"max_length={MAX_LENGTH}"):
            serving.serve(tf.ones((1, MAX_LENGTH + 1), dtype=tf.int32))

    def _check_round_trips(self, cases, run_eagerly):
        directory = tempfile.mkdtemp(dir=self.get_temp_dir())
        script_arguments, expected_outputs = [], {}
        for case in cases:
            model = self._fit_one_step(*case, run_eagerly=run_eagerly)
            ids = _padded_batch(self.rng)
            paths = [
                os.path.join(directory, f"{_case_name(*case)}{suffix}")
                for suffix in (".keras", "_inputs.npy", "_outputs.npy")
            ]
            model.save(paths[0])
            np.save(paths[1], ids)
            script_arguments += paths
            expected_outputs[paths[2]] = keras.ops.convert_to_numpy(model.predict_on_batch(ids))

            # Two lengths through one exported function: the length dimension stays `None`.
            self.assert_export_roundtrip(
                model, INPUT_SIGNATURE, [ids[:, :4], ids], atol=1e-5
            )

        process = run_python(_RELOAD_SCRIPT, *script_arguments)
        self.assertEqual(process.returncode, 0, process.stderr[-3000:])
        for outputs_path, expected in expected_outputs.items():
            self.assertAllClose(np.load(outputs_path), expected, atol=1e-6, rtol=0)

    def _fit_one_step(self, family, scheme, combine, run_eagerly):
        model = _build(family, scheme, combine, num_layers=1)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=1e-2),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            run_eagerly=run_eagerly,
        )
        ids = _padded_batch(self.rng)
        before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]

        history = model.fit(ids, _targets(family, self.rng, ids), epochs=1, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"][0]))
        after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
        self.assertTrue(any(np.abs(a - b).max() > 0 for a, b in zip(after, before)))
        return model
