"""Helpers that the loaders in `zoo.data` share: argument checks, seeded splits, tf.data."""

import math
import numbers

import numpy as np

SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


def check_positive_integer(name, value, allow_none=False):
    """Raise `ValueError` unless `value` is a positive integer (or `None` when allowed).

    Args:
        name: the argument name shown in the error message.
        value: the value to check. Booleans are rejected even though Python counts them as ints.
        allow_none: whether `None` is accepted.

    Example:
    >>> check_positive_integer("batch_size", 32)
    """
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        expected = "a positive integer or None" if allow_none else "a positive integer"
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")


def check_seed(seed):
    """Raise `ValueError` unless `seed` is a non-negative integer, as NumPy generators need."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer. Received: seed={seed!r}")


def split_indices(num_examples, fractions=SPLIT_FRACTIONS, seed=0, max_examples=None):
    """Split `range(num_examples)` into disjoint index arrays by a seeded permutation.

    The permutation comes from `np.random.default_rng(seed)`, so a split is stable across runs
    and NumPy versions that keep the `PCG64` stream. With `max_examples`, each split keeps its
    share of `max_examples` (rounded) taken from the front of its full-size split, so a capped
    split is always a subset of the uncapped split with the same seed.

    Args:
        num_examples: number of examples to split.
        fractions: share of each split, in order; positive and summing to 1.
        seed: seed of the permutation.
        max_examples: optional cap on the total number of examples over all splits.

    Returns:
        A tuple of int64 index arrays, one per fraction, in permuted order.

    Example:
    >>> train, validation, test = split_indices(100, (0.8, 0.1, 0.1), seed=0)
    >>> len(train), len(validation), len(test)
    (80, 10, 10)
    """
    check_positive_integer("num_examples", num_examples)
    check_positive_integer("max_examples", max_examples, allow_none=True)
    check_seed(seed)
    if not fractions or any(fraction <= 0 for fraction in fractions):
        raise ValueError(f"`fractions` must be positive shares. Received: fractions={fractions}")
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ValueError(f"`fractions` must sum to 1. Received: fractions={fractions}")

    permutation = np.random.default_rng(seed).permutation(num_examples)
    splits = np.split(permutation, _split_boundaries(num_examples, fractions))
    if max_examples is None or max_examples >= num_examples:
        return tuple(splits)

    capped_boundaries = _split_boundaries(max_examples, fractions)
    capped_sizes = np.diff(capped_boundaries, prepend=0, append=max_examples)
    if np.any(capped_sizes == 0):
        raise ValueError(
            f"`max_examples` is too small to give every split an example with fractions "
            f"{fractions}. Received: max_examples={max_examples}. Use a larger value."
        )
    return tuple(split[:size] for split, size in zip(splits, capped_sizes))


def _split_boundaries(num_examples, fractions):
    cumulative = np.cumsum(fractions)[:-1]
    return np.round(cumulative * num_examples).astype(np.int64)


def to_tf_dataset(inputs, targets=None, sample_weight=None, *, batch_size, shuffle=False, seed=0,
                  gather_batches=False):
    """Turn in-memory arrays into a batched, prefetched `tf.data.Dataset`.

    Args:
        inputs: a NumPy array, or a dict or tuple of arrays (one per model input).
        targets: optional array, or dict or tuple of arrays, with the same first dimension.
        sample_weight: optional array of per-example (or per-token) loss weights.
        batch_size: number of examples per batch; the last batch may be smaller.
        shuffle: shuffle with a buffer as large as the data, reshuffling every epoch. Use it for
            training splits.
        seed: seed of the shuffle; the same seed gives the same order of batches.
        gather_batches: shuffle row indices, gather every array into the epoch's order once,
            and slice batches from the result, instead of slicing one example at a time. For
            tables of many columns and short train steps this cuts the pipeline's CPU time
            several-fold. Both ways give the same batches when `shuffle` is off; shuffled
            orders differ between them.

    Returns:
        A `tf.data.Dataset` of `inputs`, `(inputs, targets)` or
        `(inputs, targets, sample_weight)` elements, as `keras.Model.fit` accepts them.

    Example:
    >>> dataset = to_tf_dataset({"carrier": ids}, labels, batch_size=256, shuffle=True, seed=1)
    """
    import tensorflow as tf

    check_positive_integer("batch_size", batch_size)
    if sample_weight is not None and targets is None:
        raise ValueError("`sample_weight` needs `targets`. Received: targets=None.")

    elements = inputs if targets is None else (inputs, targets)
    if sample_weight is not None:
        elements = (inputs, targets, sample_weight)
    if gather_batches:
        return _gathered_batches(elements, batch_size, shuffle, seed)
    dataset = tf.data.Dataset.from_tensor_slices(elements)

    if shuffle:
        num_examples = int(dataset.cardinality())
        dataset = dataset.shuffle(max(num_examples, 1), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _gathered_batches(elements, batch_size, shuffle, seed):
    import tensorflow as tf

    tensors = tf.nest.map_structure(tf.constant, elements)
    num_examples = int(tf.nest.flatten(tensors)[0].shape[0])
    num_batches = -(-num_examples // batch_size)
    indices = tf.data.Dataset.range(num_examples)
    if shuffle:
        # NOTE: shuffling the indices one element at a time costs about 0.38 ms per 512-row
        # batch, a large share of a flights train step. A permutation drawn in one op would be
        # cheaper but would change the data order of every recorded flights run.
        indices = indices.shuffle(max(num_examples, 1), seed=seed, reshuffle_each_iteration=True)

    # One gather per array and epoch puts the rows in the epoch's order. Each batch is then
    # a slice of those arrays, which costs less per batch than a gather.
    def epoch_batches(order):
        ordered = tf.nest.map_structure(lambda tensor: tf.gather(tensor, order), tensors)

        def batch(index):
            start = index * batch_size
            return tf.nest.map_structure(lambda tensor: tensor[start:start + batch_size], ordered)

        return tf.data.Dataset.range(num_batches).map(batch)

    dataset = indices.batch(max(num_examples, 1)).flat_map(epoch_batches)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_batches))
    return dataset.prefetch(tf.data.AUTOTUNE)
