"""Not-so-Clevr: one white square on a black canvas, at every position where it fits.

From CoordConv (Liu et al. 2018, "An intriguing failing of convolutional neural networks and
the CoordConv solution", arXiv 1807.03247): a 9x9 square on a 64x64 canvas has 56 x 56 = 3,136
top-left positions, and each position is one example. Tasks on the same examples:

- "regression": image to the square's centre (x, y), normalized to [-1, 1].
- "classification": image to the position id `row * 56 + col` of the top-left corner.
- "coordinate_classification" (CoordConv's own task): the centre coordinates to the centre
  pixel, as a class id `y * 64 + x` over all canvas pixels (a one-hot 64x64 image).

Splits, as in CoordConv: "uniform" holds out a seeded random 20% of positions for testing.
"quadrant" holds out the bottom-right quadrant of positions, those whose top-left row and
column are both at least half the positions per axis, so test squares lie where no training
square was. A validation split is carved from the training positions (by default 10% of
them, while CoordConv trains on all of them).

Images are uint8 of shape (canvas, canvas, 1): 0 for background, 255 inside the square. Use
`keras.layers.Rescaling(1 / 255)` for inputs in [0, 1].
"""

import dataclasses

import numpy as np

from zoo.data.splits import check_positive_integer
from zoo.data.splits import check_seed
from zoo.data.splits import split_indices
from zoo.data.splits import to_tf_dataset

SPLITS = ("uniform", "quadrant")
TASKS = ("regression", "classification", "coordinate_classification")
UNIFORM_TEST_FRACTION = 0.2


def check_split_name(split):
    """Raise `ValueError` unless `split` is "uniform" or "quadrant"."""
    if split not in SPLITS:
        raise ValueError(f'`split` must be "uniform" or "quadrant". Received: split={split!r}')


def split_positions(num_positions_per_axis, split, seed=0, validation_fraction=0.1):
    """Split the position ids of a square grid into train, validation and test ids.

    Position id `row * num_positions_per_axis + col` stands for the top-left corner (row, col).

    Args:
        num_positions_per_axis: number of top-left positions along each axis.
        split: "uniform" (a seeded random 20% of positions for testing) or "quadrant" (test
            positions are those with `row >= n // 2` and `col >= n // 2`).
        seed: seed of the uniform split and of the validation draw.
        validation_fraction: share of the non-test positions moved to validation, in [0, 1).

    Returns:
        `(train_ids, validation_ids, test_ids)`, sorted int32 arrays that partition the grid.

    Example:
    >>> train, validation, test = split_positions(56, "quadrant")
    >>> len(test)
    784
    """
    check_positive_integer("num_positions_per_axis", num_positions_per_axis)
    check_split_name(split)
    check_seed(seed)
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(
            "`validation_fraction` must be in [0, 1). "
            f"Received: validation_fraction={validation_fraction}"
        )

    num_positions = num_positions_per_axis**2
    if split == "uniform":
        fractions = (1 - UNIFORM_TEST_FRACTION, UNIFORM_TEST_FRACTION)
        train_ids, test_ids = split_indices(num_positions, fractions, seed)
    else:
        rows, cols = np.divmod(np.arange(num_positions), num_positions_per_axis)
        half = num_positions_per_axis // 2
        held_out = (rows >= half) & (cols >= half)
        train_ids, test_ids = np.nonzero(~held_out)[0], np.nonzero(held_out)[0]

    # A separate stream for the validation draw keeps the uniform test set independent of it.
    shuffled = np.random.default_rng((seed, 1)).permutation(train_ids)
    num_validation = int(round(validation_fraction * len(shuffled)))
    validation_ids, train_ids = shuffled[:num_validation], shuffled[num_validation:]
    return tuple(np.sort(ids).astype(np.int32) for ids in (train_ids, validation_ids, test_ids))


def normalize_coordinates(pixels, canvas_size):
    """Map pixel coordinates in [0, canvas_size - 1] linearly to [-1, 1], as float32."""
    return (2.0 * np.asarray(pixels, dtype=np.float64) / (canvas_size - 1) - 1.0).astype(np.float32)


def normalized_centres(rows, cols, size, canvas_size):
    """Return float32 (x, y) centres in [-1, 1] of `size`-pixel squares at top-left (rows, cols)."""
    offset = (size - 1) / 2.0
    x = normalize_coordinates(np.asarray(cols) + offset, canvas_size)
    y = normalize_coordinates(np.asarray(rows) + offset, canvas_size)
    return np.stack([x, y], axis=1)


def render_squares(rows, cols, canvas_size, square_size):
    """Draw one white square per (row, col) top-left corner on a black uint8 canvas.

    Returns:
        uint8 images of shape (num_examples, canvas_size, canvas_size, 1) with values 0 and 255.

    Example:
    >>> int(render_squares(np.array([0]), np.array([2]), 8, 3).sum()) // 255
    9
    """
    pixels = np.arange(canvas_size)
    rows, cols = np.asarray(rows)[:, None], np.asarray(cols)[:, None]
    in_rows = (pixels >= rows) & (pixels < rows + square_size)
    in_cols = (pixels >= cols) & (pixels < cols + square_size)
    inside = in_rows[:, :, None] & in_cols[:, None, :]
    return (inside[..., None] * np.uint8(255)).astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class SquaresSplit:
    """One split of Not-so-Clevr.

    Attributes:
        images: uint8 of shape (num_examples, canvas, canvas, 1), 255 inside the square.
        centres: float32 (x, y) of the square's centre, normalized so that -1 and 1 are the
            centres of the first and last pixel.
        position_ids: int32 `row * positions_per_axis + col` of the top-left corner.
        centre_pixels: int32 (x, y) pixel of the centre (rounded down for even square sizes).
        centre_pixel_ids: int32 `y * canvas + x` of `centre_pixels`.
        canvas_size: canvas side in pixels.
    """

    images: np.ndarray
    centres: np.ndarray
    position_ids: np.ndarray
    centre_pixels: np.ndarray
    centre_pixel_ids: np.ndarray
    canvas_size: int

    @property
    def num_examples(self):
        return len(self.position_ids)

    def centre_pixel_images(self):
        """Return one-hot uint8 images (num_examples, canvas, canvas, 1) of the centre pixel."""
        one_hot = np.zeros((self.num_examples, self.canvas_size * self.canvas_size), dtype=np.uint8)
        one_hot[np.arange(self.num_examples), self.centre_pixel_ids] = 1
        return one_hot.reshape(self.num_examples, self.canvas_size, self.canvas_size, 1)

    def to_tf_dataset(self, batch_size, task="regression", shuffle=False, seed=0):
        """Return `(inputs, targets)` batches for one of `TASKS`.

        "regression" gives (images, centres), "classification" (images, position_ids) and
        "coordinate_classification" (centres, centre_pixel_ids).

        Example:
        >>> data.train.to_tf_dataset(32, task="classification", shuffle=True)
        """
        pairs = {
            "regression": (self.images, self.centres),
            "classification": (self.images, self.position_ids),
            "coordinate_classification": (self.centres, self.centre_pixel_ids),
        }
        if task not in pairs:
            raise ValueError(f"`task` must be one of {TASKS}. Received: task={task!r}")
        inputs, targets = pairs[task]
        return to_tf_dataset(inputs, targets, batch_size=batch_size, shuffle=shuffle, seed=seed)


@dataclasses.dataclass(frozen=True)
class NotSoClevrDataset:
    """Not-so-Clevr in train, validation and test splits of positions.

    Attributes:
        train, validation, test: `SquaresSplit`s.
        split: "uniform" or "quadrant".
        canvas_size, square_size: sides in pixels.
        seed: seed of the split.
    """

    train: SquaresSplit
    validation: SquaresSplit
    test: SquaresSplit
    split: str
    canvas_size: int
    square_size: int
    seed: int

    @property
    def positions_per_axis(self):
        return self.canvas_size - self.square_size + 1

    @property
    def num_positions(self):
        """Number of position classes for the "classification" task."""
        return self.positions_per_axis**2

    @property
    def num_pixels(self):
        """Number of centre-pixel classes for the "coordinate_classification" task."""
        return self.canvas_size**2


def _make_split(position_ids, canvas_size, square_size):
    positions_per_axis = canvas_size - square_size + 1
    rows, cols = np.divmod(position_ids, positions_per_axis)
    centres = normalized_centres(rows, cols, square_size, canvas_size)
    centre_pixels = np.stack([cols, rows], axis=1) + (square_size - 1) // 2
    return SquaresSplit(
        images=render_squares(rows, cols, canvas_size, square_size),
        centres=centres,
        position_ids=position_ids.astype(np.int32),
        centre_pixels=centre_pixels.astype(np.int32),
        centre_pixel_ids=(centre_pixels[:, 1] * canvas_size + centre_pixels[:, 0]).astype(np.int32),
        canvas_size=canvas_size,
    )


def load_not_so_clevr(
    split="uniform", canvas_size=64, square_size=9, seed=0, validation_fraction=0.1
):
    """Generate Not-so-Clevr: every placement of a square on a canvas, split by position.

    Args:
        split: "uniform" (random 80/20 of positions) or "quadrant" (bottom-right quadrant of
            positions held out for testing).
        canvas_size: canvas side in pixels.
        square_size: square side in pixels; at most `canvas_size - 1` so that there are at
            least two positions per axis.
        seed: seed of the uniform split and of the validation draw.
        validation_fraction: share of the training positions moved to validation.

    Returns:
        A `NotSoClevrDataset`.

    Example:
    >>> data = load_not_so_clevr("quadrant")
    >>> data.train.images.shape, data.test.num_examples
    ((2117, 64, 64, 1), 784)
    """
    check_positive_integer("canvas_size", canvas_size)
    check_positive_integer("square_size", square_size)
    if square_size >= canvas_size:
        raise ValueError(
            "`square_size` must be smaller than `canvas_size`. "
            f"Received: square_size={square_size}, canvas_size={canvas_size}"
        )

    positions_per_axis = canvas_size - square_size + 1
    position_splits = split_positions(positions_per_axis, split, seed, validation_fraction)
    train, validation, test = (
        _make_split(ids, canvas_size, square_size) for ids in position_splits
    )
    return NotSoClevrDataset(
        train=train,
        validation=validation,
        test=test,
        split=split,
        canvas_size=canvas_size,
        square_size=square_size,
        seed=seed,
    )
