"""Tests of the length-generalization tasks: sequences, targets, loss mask and scoring."""

import numpy as np
import pytest

from zoo.data.length_generalization import (
    BOS_ID,
    EOS_ID,
    NUM_SPECIAL_IDS,
    PAD_ID,
    SEP_ID,
    TASKS,
    exact_match_by_length,
    load_length_generalization,
)

MAX_TRAIN_LENGTH = 6
SIZES = {"num_train": 300, "num_validation": 50, "num_test_per_length": 20}


@pytest.fixture(scope="module", params=TASKS)
def data(request):
    return load_length_generalization(request.param, max_train_length=MAX_TRAIN_LENGTH, seed=0, **SIZES)


def _splits(data):
    return {"train": data.train, "validation": data.validation, "test": data.test}


def _parse(sequence):
    """Cut one padded sequence into (x, y), checking the BOS/SEP/EOS frame."""
    assert sequence[0] == BOS_ID
    separator = int(np.nonzero(sequence == SEP_ID)[0][0])
    end = int(np.nonzero(sequence == EOS_ID)[0][0])
    assert np.all(sequence[end + 1 :] == PAD_ID)
    return sequence[1:separator], sequence[separator + 1 : end], end


def _expected(task, x):
    return {"copy": x, "reverse": x[::-1], "sort": np.sort(x)}[task]


def test_targets_follow_the_task(data):
    for split in _splits(data).values():
        for sequence, length in zip(split.sequences, split.lengths):
            x, y, _ = _parse(sequence)
            assert len(x) == length
            np.testing.assert_array_equal(y, _expected(data.task, x))


def test_loss_mask_covers_answer_and_eos(data):
    for split in _splits(data).values():
        for sequence, mask, length in zip(split.sequences, split.loss_mask, split.lengths):
            _, _, end = _parse(sequence)
            expected = np.zeros_like(mask)
            expected[length + 2 : end + 1] = 1.0
            np.testing.assert_array_equal(mask, expected)


def test_lengths_of_train_and_test(data):
    for split in (data.train, data.validation):
        assert split.lengths.min() >= 1
        assert split.lengths.max() <= MAX_TRAIN_LENGTH

    test_lengths, counts = np.unique(data.test.lengths, return_counts=True)
    np.testing.assert_array_equal(test_lengths, np.arange(MAX_TRAIN_LENGTH + 1, 2 * MAX_TRAIN_LENGTH + 1))
    np.testing.assert_array_equal(counts, SIZES["num_test_per_length"])


def test_ids_dtypes_and_range(data):
    assert data.vocabulary_size == NUM_SPECIAL_IDS + data.num_symbols
    for split in _splits(data).values():
        assert split.sequences.dtype == np.int32
        assert split.loss_mask.dtype == np.float32
        assert split.sequences.min() >= 0
        assert split.sequences.max() < data.vocabulary_size
        assert split.sequences.shape[1] == 2 * split.lengths.max() + 3


def test_lm_arrays_shift_by_one(data):
    inputs, targets, sample_weight = data.train.lm_arrays()

    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])
    np.testing.assert_array_equal(sample_weight, data.train.loss_mask[:, 1:])
    assert np.all(targets[sample_weight > 0] != PAD_ID)


def test_exact_match_perfect_and_corrupted(data):
    _, targets, sample_weight = data.test.lm_arrays()
    perfect = exact_match_by_length(targets, data.test)
    assert set(perfect) == set(range(MAX_TRAIN_LENGTH + 1, 2 * MAX_TRAIN_LENGTH + 1))
    assert all(score == 1.0 for score in perfect.values())

    wrong = targets.copy()
    first_scored = int(np.nonzero(sample_weight[0])[0][0])
    wrong[0, first_scored] = PAD_ID
    length = int(data.test.lengths[0])
    scores = exact_match_by_length(wrong, data.test)
    assert scores[length] == pytest.approx(1.0 - 1.0 / SIZES["num_test_per_length"])
    assert all(score == 1.0 for key, score in scores.items() if key != length)


def test_exact_match_ignores_unscored_positions(data):
    _, targets, sample_weight = data.test.lm_arrays()
    noisy = np.where(sample_weight > 0, targets, 99)
    assert all(score == 1.0 for score in exact_match_by_length(noisy, data.test).values())


def test_exact_match_rejects_wrong_shape(data):
    _, targets, _ = data.test.lm_arrays()
    with pytest.raises(ValueError, match="predicted_ids"):
        exact_match_by_length(targets[:, :-1], data.test)


def test_to_tf_dataset_yields_sample_weight(data):
    inputs, targets, sample_weight = next(iter(data.train.to_tf_dataset(16, shuffle=True, seed=0)))

    assert inputs.dtype.name == "int32"
    assert tuple(targets.shape) == tuple(inputs.shape)
    assert sample_weight.dtype.name == "float32"


def test_seed_controls_draws():
    first = load_length_generalization("reverse", max_train_length=5, seed=1, **SIZES)
    again = load_length_generalization("reverse", max_train_length=5, seed=1, **SIZES)
    other = load_length_generalization("reverse", max_train_length=5, seed=2, **SIZES)

    np.testing.assert_array_equal(first.train.sequences, again.train.sequences)
    np.testing.assert_array_equal(first.test.sequences, again.test.sequences)
    assert not np.array_equal(first.train.sequences, other.train.sequences)


def test_test_split_does_not_depend_on_train_size():
    small = load_length_generalization("copy", max_train_length=5, seed=0, **SIZES)
    large = load_length_generalization("copy", max_train_length=5, seed=0, **{**SIZES, "num_train": 600})
    np.testing.assert_array_equal(small.test.sequences, large.test.sequences)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"task": "add"}, "task"),
        ({"max_train_length": 0}, "max_train_length"),
        ({"num_symbols": 0}, "num_symbols"),
        ({"num_test_per_length": -1}, "num_test_per_length"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_rejects_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        load_length_generalization(**kwargs)
