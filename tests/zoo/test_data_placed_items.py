"""Tests of the placed-items generator on Fashion-MNIST (or its digits fallback)."""

import numpy as np
import pytest

from zoo.data.fashion_mnist import load_digits_dataset, load_fashion_mnist
from zoo.data.placed_items import load_placed_items, place_items

SIZES = {"num_train": 400, "num_validation": 100, "num_test": 200}


@pytest.fixture(scope="module")
def items():
    return load_fashion_mnist()


@pytest.fixture(scope="module")
def uniform(items):
    return load_placed_items("uniform", seed=0, items=items, **SIZES)


@pytest.fixture(scope="module")
def quadrant(items):
    return load_placed_items("quadrant", seed=0, items=items, **SIZES)


def _splits(data):
    return {"train": data.train, "validation": data.validation, "test": data.test}


def _sources(items):
    return {"train": items.x_train, "validation": items.x_train, "test": items.x_test}


def _rows_cols(data, split):
    return np.divmod(split.position_ids, data.positions_per_axis)


def test_shapes_and_dtypes(uniform):
    for name, split in _splits(uniform).items():
        assert split.images.shape == (SIZES[f"num_{name}"], 64, 64, 1)
        assert split.images.dtype == np.uint8
        assert split.centres.dtype == np.float32
        assert split.position_ids.dtype == np.int32
        assert split.labels.dtype == np.int32


def test_images_contain_item_at_position(uniform, items):
    size = uniform.item_size
    for name, split in _splits(uniform).items():
        rows, cols = _rows_cols(uniform, split)
        source = _sources(items)[name]
        for index in range(0, split.num_examples, 23):
            image = split.images[index, :, :, 0]
            row, col = rows[index], cols[index]
            np.testing.assert_array_equal(image[row : row + size, col : col + size], source[split.item_ids[index]])
            outside = image.copy()
            outside[row : row + size, col : col + size] = 0
            assert outside.sum() == 0


def test_labels_match_items(uniform, items):
    labels = {"train": items.y_train, "validation": items.y_train, "test": items.y_test}
    for name, split in _splits(uniform).items():
        np.testing.assert_array_equal(split.labels, labels[name][split.item_ids])
    assert uniform.num_classes == len(items.class_names)


def test_centres_are_normalized_item_centres(uniform):
    rows, cols = _rows_cols(uniform, uniform.train)
    offset = (uniform.item_size - 1) / 2

    np.testing.assert_allclose(uniform.train.centres[:, 0], 2 * (cols + offset) / 63 - 1, atol=1e-6)
    np.testing.assert_allclose(uniform.train.centres[:, 1], 2 * (rows + offset) / 63 - 1, atol=1e-6)
    assert np.all(np.abs(uniform.train.centres) <= 1.0)


def test_uniform_positions_do_not_overlap_between_splits(uniform):
    positions = {name: set(split.position_ids.tolist()) for name, split in _splits(uniform).items()}

    assert not positions["train"] & positions["test"]
    assert not positions["validation"] & positions["test"]
    assert not positions["train"] & positions["validation"]


def test_train_and_validation_items_are_disjoint(uniform):
    assert not set(uniform.train.item_ids.tolist()) & set(uniform.validation.item_ids.tolist())


def test_quadrant_holds_out_bottom_right(quadrant):
    half = quadrant.positions_per_axis // 2
    rows, cols = _rows_cols(quadrant, quadrant.test)
    assert np.all((rows >= half) & (cols >= half))

    for split in (quadrant.train, quadrant.validation):
        rows, cols = _rows_cols(quadrant, split)
        assert not np.any((rows >= half) & (cols >= half))


def test_seed_controls_draws(items):
    first = load_placed_items("uniform", seed=1, items=items, **SIZES)
    again = load_placed_items("uniform", seed=1, items=items, **SIZES)
    other = load_placed_items("uniform", seed=2, items=items, **SIZES)

    np.testing.assert_array_equal(first.train.images, again.train.images)
    np.testing.assert_array_equal(first.test.position_ids, again.test.position_ids)
    assert not np.array_equal(first.train.item_ids, other.train.item_ids)


def test_test_split_does_not_depend_on_train_size(items, uniform):
    larger = load_placed_items("uniform", seed=0, items=items, num_train=800, num_validation=50, num_test=200)

    np.testing.assert_array_equal(larger.test.item_ids, uniform.test.item_ids)
    np.testing.assert_array_equal(larger.test.position_ids, uniform.test.position_ids)


def test_digits_items_on_small_canvas():
    data = load_placed_items("quadrant", canvas_size=20, seed=0, items=load_digits_dataset(), **SIZES)

    assert data.item_size == 8
    assert data.items_name == "digits"
    assert data.train.images.shape[1:] == (20, 20, 1)
    assert data.num_positions == 13 * 13


def test_place_items_known_layout():
    items = np.arange(1, 5, dtype=np.uint8).reshape(1, 2, 2)
    image = place_items(items, [2], [1], 4)[0, :, :, 0]
    np.testing.assert_array_equal(image, [[0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 2, 0], [0, 3, 4, 0]])


@pytest.mark.parametrize("task, dtype", [("regression", "float32"), ("classification", "int32"), ("position_classification", "int32")])
def test_to_tf_dataset_tasks(uniform, task, dtype):
    images, targets = next(iter(uniform.validation.to_tf_dataset(16, task=task)))

    assert tuple(images.shape) == (16, 64, 64, 1)
    assert targets.dtype.name == dtype


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"canvas_size": 28}, "canvas_size"),
        ({"canvas_size": 29}, "canvas_size"),
        ({"num_train": 0}, "num_train"),
        ({"split": "corner"}, "split"),
        ({"seed": -3}, "seed"),
    ],
)
def test_rejects_bad_arguments(items, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        load_placed_items(items=items, **{**SIZES, **kwargs})
