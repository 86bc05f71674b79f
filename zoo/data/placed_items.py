"""Placed items: real Fashion-MNIST images put at random positions on a larger black canvas.

A localization task on real images in the spirit of CoordConv's Not-so-Clevr
(`zoo.data.not_so_clevr`). Each example is one item, pasted with its top-left corner at a
position drawn from the split's positions. The targets are where the item is (its centre,
normalized to [-1, 1], and its position id) and what it is (its class). Items come from
`zoo.data.fashion_mnist.load_fashion_mnist`, which falls back to scikit-learn's 8x8 digits
when Fashion-MNIST is not installed.

Positions split as in Not-so-Clevr: "uniform" (a seeded random 20% of positions for testing)
or "quadrant" (the bottom-right quadrant of top-left positions held out). Items split too:
training and validation examples draw from disjoint parts of the Fashion-MNIST training set,
test examples from its test set, so a test example is a new item at a new position. Only
positions are held out, not pixels: a 28x28 item at a held-out position still covers pixels
that training items covered.

Images are uint8 of shape (canvas, canvas, 1), 0 for the background.
"""

import dataclasses
import functools

import numpy as np

from zoo.data.fashion_mnist import load_fashion_mnist
from zoo.data.splits import check_positive_integer
from zoo.data.splits import check_seed
from zoo.data.splits import to_tf_dataset
from zoo.data.not_so_clevr import normalized_centres
from zoo.data.not_so_clevr import split_positions

TASKS = ("regression", "classification", "position_classification")
VALIDATION_ITEM_FRACTION = 0.1


@dataclasses.dataclass(frozen=True)
class PlacedItemsSplit:
    """One split of placed items.

    Attributes:
        images: uint8 of shape (num_examples, canvas, canvas, 1).
        centres: float32 (x, y) of the item's centre, normalized so that -1 and 1 are the
            centres of the first and last canvas pixel.
        position_ids: int32 `row * positions_per_axis + col` of the item's top-left corner.
        labels: int32 class of the item.
        item_ids: int64 index of the item in its source array (`x_train` for train and
            validation, `x_test` for test).
    """

    images: np.ndarray
    centres: np.ndarray
    position_ids: np.ndarray
    labels: np.ndarray
    item_ids: np.ndarray

    @property
    def num_examples(self):
        return len(self.labels)

    def to_tf_dataset(self, batch_size, task="regression", shuffle=False, seed=0):
        """Return `(images, targets)` batches for one of `TASKS`.

        The targets are `centres` for "regression", `labels` for "classification" and
        `position_ids` for "position_classification".

        Example:
        >>> data.train.to_tf_dataset(64, task="regression", shuffle=True)
        """
        targets = {
            "regression": self.centres,
            "classification": self.labels,
            "position_classification": self.position_ids,
        }
        if task not in targets:
            raise ValueError(f"`task` must be one of {TASKS}. Received: task={task!r}")
        return to_tf_dataset(
            self.images, targets[task], batch_size=batch_size, shuffle=shuffle, seed=seed
        )


@dataclasses.dataclass(frozen=True)
class PlacedItemsDataset:
    """Placed items in train, validation and test splits.

    Attributes:
        train, validation, test: `PlacedItemsSplit`s.
        split: "uniform" or "quadrant".
        canvas_size: canvas side in pixels.
        item_size: item side in pixels (28 for Fashion-MNIST, 8 for the digits fallback).
        class_names: one name per class id.
        items_name: the item data set, `"fashion_mnist"` or `"digits"`.
        seed: seed of the positions, the item draw and the split.
    """

    train: PlacedItemsSplit
    validation: PlacedItemsSplit
    test: PlacedItemsSplit
    split: str
    canvas_size: int
    item_size: int
    class_names: tuple
    items_name: str
    seed: int

    @property
    def positions_per_axis(self):
        return self.canvas_size - self.item_size + 1

    @property
    def num_positions(self):
        return self.positions_per_axis**2

    @property
    def num_classes(self):
        return len(self.class_names)


@functools.lru_cache(maxsize=1)
def _default_items():
    return load_fashion_mnist()


def place_items(items, rows, cols, canvas_size):
    """Paste square uint8 items of shape (n, size, size) with top-left corners (rows, cols).

    Returns:
        uint8 images of shape (n, canvas_size, canvas_size, 1), 0 outside the items.

    Example:
    >>> place_items(np.full((1, 2, 2), 7, np.uint8), [1], [0], 4)[0, :, :, 0].tolist()
    [[0, 0, 0, 0], [7, 7, 0, 0], [7, 7, 0, 0], [0, 0, 0, 0]]
    """
    items = np.asarray(items)
    num_items, size = items.shape[0], items.shape[1]
    offsets = np.arange(size)
    row_index = np.asarray(rows)[:, None, None] + offsets[None, :, None]
    col_index = np.asarray(cols)[:, None, None] + offsets[None, None, :]
    example_index = np.arange(num_items)[:, None, None]

    canvas = np.zeros((num_items, canvas_size, canvas_size), dtype=np.uint8)
    canvas[example_index, row_index, col_index] = items
    return canvas[..., None]


def _make_split(images, labels, item_pool, position_pool, num_examples, canvas_size, rng):
    item_ids = rng.choice(item_pool, size=num_examples, replace=len(item_pool) < num_examples)
    position_ids = rng.choice(position_pool, size=num_examples)

    item_size = images.shape[1]
    positions_per_axis = canvas_size - item_size + 1
    rows, cols = np.divmod(position_ids, positions_per_axis)
    return PlacedItemsSplit(
        images=place_items(images[item_ids], rows, cols, canvas_size),
        centres=normalized_centres(rows, cols, item_size, canvas_size),
        position_ids=position_ids.astype(np.int32),
        labels=labels[item_ids].astype(np.int32),
        item_ids=item_ids.astype(np.int64),
    )


def load_placed_items(
    split="uniform",
    canvas_size=64,
    num_train=10_000,
    num_validation=1_000,
    num_test=2_000,
    seed=0,
    items=None,
):
    """Generate placed-item examples: real items at seeded random positions on a canvas.

    Args:
        split: "uniform" or "quadrant", as in `zoo.data.not_so_clevr.split_positions`. The
            validation positions are a seeded 10% of the non-test positions.
        canvas_size: canvas side in pixels; larger than the item side.
        num_train, num_validation, num_test: number of examples per split. A split draws
            its items without replacement unless it needs more than its pool holds.
        seed: seed of the position split, the item split and the draws.
        items: optional `zoo.data.fashion_mnist.ImageDataset` with square images; defaults to
            `load_fashion_mnist()` (read once per process).

    Returns:
        A `PlacedItemsDataset`.

    Example:
    >>> data = load_placed_items("quadrant", num_train=1_000)
    >>> data.train.images.shape
    (1000, 64, 64, 1)
    """
    for name, value in (
        ("canvas_size", canvas_size),
        ("num_train", num_train),
        ("num_validation", num_validation),
        ("num_test", num_test),
    ):
        check_positive_integer(name, value)
    check_seed(seed)
    items = items if items is not None else _default_items()
    height, width = items.image_shape
    if height != width or canvas_size <= height:
        raise ValueError(
            "Items must be square and smaller than the canvas. Received: item shape "
            f"{items.image_shape}, canvas_size={canvas_size}. Use a larger `canvas_size`."
        )

    positions_per_axis = canvas_size - height + 1
    train_positions, validation_positions, test_positions = split_positions(
        positions_per_axis, split, seed
    )
    if len(validation_positions) == 0:
        raise ValueError(
            f"canvas_size={canvas_size} leaves no validation positions for {height}-pixel items. "
            "Use a larger `canvas_size`."
        )
    shuffled_items = np.random.default_rng((seed, 2, 0)).permutation(len(items.x_train))
    num_validation_items = int(round(VALIDATION_ITEM_FRACTION * len(shuffled_items)))
    validation_items = shuffled_items[:num_validation_items]
    train_items = shuffled_items[num_validation_items:]

    # Each split draws from its own random stream, so the test set does not change with
    # `num_train` or `num_validation`.
    train = _make_split(
        items.x_train, items.y_train, train_items, train_positions, num_train, canvas_size,
        np.random.default_rng((seed, 2, 1)),
    )
    validation = _make_split(
        items.x_train, items.y_train, validation_items, validation_positions, num_validation,
        canvas_size, np.random.default_rng((seed, 2, 2)),
    )
    test = _make_split(
        items.x_test, items.y_test, np.arange(len(items.x_test)), test_positions, num_test,
        canvas_size, np.random.default_rng((seed, 2, 3)),
    )
    return PlacedItemsDataset(
        train=train,
        validation=validation,
        test=test,
        split=split,
        canvas_size=canvas_size,
        item_size=height,
        class_names=tuple(items.class_names),
        items_name=items.name,
        seed=seed,
    )
