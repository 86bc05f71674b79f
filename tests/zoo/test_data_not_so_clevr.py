"""Tests of the Not-so-Clevr generator: images, targets and the uniform and quadrant splits."""

import numpy as np
import pytest

from zoo.data.not_so_clevr import UNIFORM_TEST_FRACTION, load_not_so_clevr, render_squares, split_positions


@pytest.fixture(scope="module")
def uniform():
    return load_not_so_clevr("uniform", seed=0)


@pytest.fixture(scope="module")
def quadrant():
    return load_not_so_clevr("quadrant", seed=0)


def _splits(data):
    return {"train": data.train, "validation": data.validation, "test": data.test}


def _rows_cols(data, split):
    return np.divmod(split.position_ids, data.positions_per_axis)


@pytest.mark.parametrize("name", ["uniform", "quadrant"])
def test_splits_partition_all_positions(name, uniform, quadrant):
    data = {"uniform": uniform, "quadrant": quadrant}[name]
    combined = np.concatenate([split.position_ids for split in _splits(data).values()])

    assert data.num_positions == (64 - 9 + 1) ** 2
    np.testing.assert_array_equal(np.sort(combined), np.arange(data.num_positions))


def test_uniform_test_share(uniform):
    assert uniform.test.num_examples == round(UNIFORM_TEST_FRACTION * uniform.num_positions)
    assert uniform.validation.num_examples > 0


def test_quadrant_holds_out_bottom_right(quadrant):
    half = quadrant.positions_per_axis // 2
    rows, cols = _rows_cols(quadrant, quadrant.test)
    assert np.all((rows >= half) & (cols >= half))
    assert quadrant.test.num_examples == (quadrant.positions_per_axis - half) ** 2

    for split in (quadrant.train, quadrant.validation):
        rows, cols = _rows_cols(quadrant, split)
        assert not np.any((rows >= half) & (cols >= half))


def test_quadrant_test_centres_lie_in_bottom_right(quadrant):
    assert np.all(quadrant.test.centres >= 0.0)
    assert np.all(np.any(quadrant.train.centres < 0.0, axis=1))


def test_images_show_one_square_at_position(uniform):
    for split in _splits(uniform).values():
        images = split.images
        assert images.dtype == np.uint8
        assert images.shape == (split.num_examples, 64, 64, 1)
        assert set(np.unique(images).tolist()) == {0, 255}
        np.testing.assert_array_equal(np.sum(images == 255, axis=(1, 2, 3)), 81)

    rows, cols = _rows_cols(uniform, uniform.test)
    for index in range(0, uniform.test.num_examples, 61):
        white_rows, white_cols = np.nonzero(uniform.test.images[index, :, :, 0])
        assert (white_rows.min(), white_cols.min()) == (rows[index], cols[index])
        assert (white_rows.max(), white_cols.max()) == (rows[index] + 8, cols[index] + 8)


def test_centres_are_normalized_square_centres(uniform):
    split = uniform.train
    white = split.images[..., 0] == 255
    pixel_y, pixel_x = np.meshgrid(np.arange(64), np.arange(64), indexing="ij")
    mean_x = (white * pixel_x).sum(axis=(1, 2)) / white.sum(axis=(1, 2))
    mean_y = (white * pixel_y).sum(axis=(1, 2)) / white.sum(axis=(1, 2))

    assert split.centres.dtype == np.float32
    np.testing.assert_allclose(split.centres[:, 0], 2 * mean_x / 63 - 1, atol=1e-6)
    np.testing.assert_allclose(split.centres[:, 1], 2 * mean_y / 63 - 1, atol=1e-6)
    assert np.all(np.abs(split.centres) <= 1.0)


def test_centre_pixel_targets(uniform):
    split = uniform.validation
    rows, cols = _rows_cols(uniform, split)
    one_hot = split.centre_pixel_images()

    np.testing.assert_array_equal(split.centre_pixels, np.stack([cols + 4, rows + 4], axis=1))
    np.testing.assert_array_equal(split.centre_pixel_ids, (rows + 4) * 64 + cols + 4)
    assert one_hot.shape == (split.num_examples, 64, 64, 1)
    np.testing.assert_array_equal(one_hot.sum(axis=(1, 2, 3)), 1)
    np.testing.assert_array_equal(one_hot[np.arange(split.num_examples), rows + 4, cols + 4, 0], 1)


def test_configurable_canvas_and_square():
    data = load_not_so_clevr("quadrant", canvas_size=16, square_size=3, validation_fraction=0.0)

    assert data.num_positions == 14 * 14
    assert data.validation.num_examples == 0
    assert data.train.images.shape[1:] == (16, 16, 1)
    np.testing.assert_array_equal(np.sum(data.test.images == 255, axis=(1, 2, 3)), 9)


def test_render_squares_clips_nothing_at_last_position():
    image = render_squares(np.array([13]), np.array([13]), 16, 3)[0, :, :, 0]
    assert image[13:, 13:].sum() == 9 * 255
    assert image.sum() == 9 * 255


def test_uniform_seed_controls_test_positions():
    first = split_positions(56, "uniform", seed=1)[2]
    again = split_positions(56, "uniform", seed=1)[2]
    other = split_positions(56, "uniform", seed=2)[2]

    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_quadrant_test_positions_do_not_depend_on_seed():
    np.testing.assert_array_equal(split_positions(56, "quadrant", seed=1)[2], split_positions(56, "quadrant", seed=2)[2])


@pytest.mark.parametrize(
    "task, input_shape, target_dtype",
    [
        ("regression", (8, 64, 64, 1), "float32"),
        ("classification", (8, 64, 64, 1), "int32"),
        ("coordinate_classification", (8, 2), "int32"),
    ],
)
def test_to_tf_dataset_tasks(uniform, task, input_shape, target_dtype):
    inputs, targets = next(iter(uniform.train.to_tf_dataset(8, task=task, shuffle=True, seed=0)))

    assert tuple(inputs.shape) == input_shape
    assert targets.dtype.name == target_dtype


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"split": "random"}, "split"),
        ({"square_size": 64}, "square_size"),
        ({"canvas_size": 0}, "canvas_size"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"seed": -1}, "seed"),
    ],
)
def test_rejects_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        load_not_so_clevr(**kwargs)


def test_to_tf_dataset_rejects_unknown_task(uniform):
    with pytest.raises(ValueError, match="task"):
        uniform.train.to_tf_dataset(8, task="detection")
