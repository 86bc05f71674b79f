"""Length-generalization tasks for causal decoders: train on short inputs, test on longer ones.

After Kazemnejad et al. 2023 ("The Impact of Positional Encoding on Length Generalization in
Transformers", arXiv 2305.19466), which compares positional encodings, including none, in
decoder-only transformers trained on inputs up to a length L and tested on longer ones. Each
example is one id sequence `BOS x SEP y EOS`, where x is a random string of symbols and
`y = f(x)`:

- "copy": y = x.
- "reverse": y is x reversed.
- "sort": y is x sorted in ascending id order.

Training and validation inputs have lengths 1 to L, drawn uniformly. Test inputs have lengths
L + 1 to 2L, with the same number of examples per length. Validation examples are drawn
separately but from the same distribution as training, so short ones can repeat training
examples.

Ids: 0 padding, 1 BOS, 2 SEP, 3 EOS, and symbol `k` has id `4 + k`. The loss mask is 1 exactly
on the tokens of y and on EOS, so a model trained with it as sample weight is scored only on
the target sequence.
"""

import dataclasses

import numpy as np

from zoo.data.splits import check_positive_integer
from zoo.data.splits import check_seed
from zoo.data.splits import to_tf_dataset

PAD_ID = 0
BOS_ID = 1
SEP_ID = 2
EOS_ID = 3
NUM_SPECIAL_IDS = 4
TASKS = ("copy", "reverse", "sort")


def check_task_name(task):
    """Raise `ValueError` unless `task` is one of `TASKS`."""
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {TASKS}. Received: task={task!r}")


def apply_task(task, symbols):
    """Return the target sequence y for the input symbols x (a 1-D array) under `task`.

    Example:
    >>> apply_task("reverse", np.array([4, 5, 6])).tolist()
    [6, 5, 4]
    """
    check_task_name(task)
    if task == "copy":
        return symbols.copy()
    if task == "reverse":
        return symbols[::-1].copy()
    return np.sort(symbols)


@dataclasses.dataclass(frozen=True)
class SequenceSplit:
    """One split of a length-generalization task.

    Attributes:
        sequences: int32 of shape (num_examples, max_sequence_length): `BOS x SEP y EOS`,
            right-padded with 0 to the longest sequence of the split.
        loss_mask: float32 of the same shape, 1 on the tokens of y and on EOS.
        lengths: int32 length of x per example.
    """

    sequences: np.ndarray
    loss_mask: np.ndarray
    lengths: np.ndarray

    @property
    def num_examples(self):
        return len(self.lengths)

    def lm_arrays(self):
        """Return `(inputs, targets, sample_weight)` for next-token training.

        `inputs` are the sequences without their last position and `targets` without their
        first, so `targets[:, t]` is the token after `inputs[:, t]`. `sample_weight` is the
        loss mask aligned with `targets`.
        """
        return self.sequences[:, :-1], self.sequences[:, 1:], self.loss_mask[:, 1:]

    def to_tf_dataset(self, batch_size, shuffle=False, seed=0):
        """Return `(inputs, targets, sample_weight)` batches of `lm_arrays()`."""
        inputs, targets, sample_weight = self.lm_arrays()
        return to_tf_dataset(
            inputs, targets, sample_weight, batch_size=batch_size, shuffle=shuffle, seed=seed
        )


@dataclasses.dataclass(frozen=True)
class LengthGeneralizationDataset:
    """A length-generalization task with in-distribution and longer test examples.

    Attributes:
        task: one of `TASKS`.
        train, validation: `SequenceSplit`s with input lengths 1 to `max_train_length`.
        test: `SequenceSplit` with input lengths `max_train_length + 1` to `2 * max_train_length`.
        max_train_length: L, the longest training input.
        num_symbols: number of distinct input symbols.
        seed: seed of the draws.
    """

    task: str
    train: SequenceSplit
    validation: SequenceSplit
    test: SequenceSplit
    max_train_length: int
    num_symbols: int
    seed: int

    pad_id = PAD_ID
    bos_id = BOS_ID
    sep_id = SEP_ID
    eos_id = EOS_ID

    @property
    def vocabulary_size(self):
        return NUM_SPECIAL_IDS + self.num_symbols


def make_sequences(task, lengths, num_symbols, rng):
    """Build padded `BOS x SEP y EOS` sequences and their loss mask for given input lengths.

    Args:
        task: one of `TASKS`.
        lengths: 1-D int array, the length of x per example.
        num_symbols: number of distinct symbols; x is drawn uniformly with repetition.
        rng: a `np.random.Generator`.

    Returns:
        A `SequenceSplit`.

    Example:
    >>> split = make_sequences("copy", np.array([2]), 10, np.random.default_rng(0))
    >>> split.sequences.shape
    (1, 7)
    """
    check_task_name(task)
    lengths = np.asarray(lengths, dtype=np.int32)
    max_sequence_length = 2 * int(lengths.max()) + 3
    sequences = np.full((len(lengths), max_sequence_length), PAD_ID, dtype=np.int32)
    loss_mask = np.zeros((len(lengths), max_sequence_length), dtype=np.float32)

    for row, length in enumerate(lengths):
        symbols = rng.integers(0, num_symbols, size=length) + NUM_SPECIAL_IDS
        target = apply_task(task, symbols)
        sequence = np.concatenate([[BOS_ID], symbols, [SEP_ID], target, [EOS_ID]])
        sequences[row, : len(sequence)] = sequence
        # y starts after BOS, x and SEP, and the mask runs through EOS.
        loss_mask[row, length + 2 : len(sequence)] = 1.0
    return SequenceSplit(sequences=sequences, loss_mask=loss_mask, lengths=lengths)


def load_length_generalization(
    task="copy",
    max_train_length=20,
    num_symbols=10,
    num_train=10_000,
    num_validation=1_000,
    num_test_per_length=100,
    seed=0,
):
    """Generate a length-generalization task: train on lengths 1..L, test on L+1..2L.

    Args:
        task: "copy", "reverse" or "sort".
        max_train_length: L, the longest training input.
        num_symbols: number of distinct input symbols (ids 4 to `3 + num_symbols`).
        num_train, num_validation: examples with lengths drawn uniformly from 1..L.
        num_test_per_length: test examples for each length L+1..2L.
        seed: seed of all draws; each split has its own random stream.

    Returns:
        A `LengthGeneralizationDataset`.

    Example:
    >>> data = load_length_generalization("reverse", max_train_length=8)
    >>> data.train.sequences.shape, data.test.sequences.shape
    ((10000, 19), (800, 35))
    """
    check_task_name(task)
    for name, value in (
        ("max_train_length", max_train_length),
        ("num_symbols", num_symbols),
        ("num_train", num_train),
        ("num_validation", num_validation),
        ("num_test_per_length", num_test_per_length),
    ):
        check_positive_integer(name, value)
    check_seed(seed)

    # Each split draws from its own random stream, so changing one split's size leaves the
    # others unchanged.
    train_rng, validation_rng, test_rng = (
        np.random.default_rng((seed, stream)) for stream in range(3)
    )
    train_lengths = train_rng.integers(1, max_train_length + 1, size=num_train)
    validation_lengths = validation_rng.integers(1, max_train_length + 1, size=num_validation)
    longer_lengths = np.arange(max_train_length + 1, 2 * max_train_length + 1)
    test_lengths = np.repeat(longer_lengths, num_test_per_length)

    return LengthGeneralizationDataset(
        task=task,
        train=make_sequences(task, train_lengths, num_symbols, train_rng),
        validation=make_sequences(task, validation_lengths, num_symbols, validation_rng),
        test=make_sequences(task, test_lengths, num_symbols, test_rng),
        max_train_length=max_train_length,
        num_symbols=num_symbols,
        seed=seed,
    )


def exact_match_by_length(predicted_ids, split):
    """Score exact-match accuracy per input length from teacher-forced next-token predictions.

    An example counts as correct when every masked target (each token of y and EOS) is
    predicted right; predictions elsewhere are ignored.

    Args:
        predicted_ids: int array of shape (num_examples, max_sequence_length - 1), aligned with
            the `targets` of `split.lm_arrays()`; for example
            `np.argmax(model.predict(inputs), axis=-1)`.
        split: the `SequenceSplit` the predictions are for.

    Returns:
        A dict of input length to the fraction of exactly right examples, sorted by length.

    Example:
    >>> _, targets, _ = data.test.lm_arrays()
    >>> exact_match_by_length(targets, data.test)[data.max_train_length + 1]
    1.0
    """
    predicted_ids = np.asarray(predicted_ids)
    _, targets, sample_weight = split.lm_arrays()
    if predicted_ids.shape != targets.shape:
        raise ValueError(
            f"`predicted_ids` must have the targets' shape {targets.shape}. Received: shape="
            f"{predicted_ids.shape}. Take the argmax over the last axis of the model's logits."
        )

    scored = sample_weight > 0
    correct = np.all((predicted_ids == targets) | ~scored, axis=1)
    return {
        int(length): float(np.mean(correct[split.lengths == length]))
        for length in np.unique(split.lengths)
    }
