"""Fashion-MNIST from files on disk, with scikit-learn's digits as an offline fallback.

Fashion-MNIST (Xiao et al. 2017, arXiv 1708.07747) has 60,000 training and 10,000 test
28x28 grayscale images of 10 clothing classes. It is read from IDX files in, by order:
an explicit folder, the `ENCODING_ZOO_FASHION_MNIST` environment variable, the Debian
package `dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist) and the Keras download
cache (~/.keras/datasets/fashion-mnist, or under `KERAS_HOME`). Nothing is downloaded.
"""

import dataclasses
import gzip
import logging
import os

import numpy as np

logger = logging.getLogger(__name__)

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
ENVIRONMENT_VARIABLE = "ENCODING_ZOO_FASHION_MNIST"
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_IDX_MAGIC = {1: 2049, 3: 2051}  # unsigned-byte IDX files of rank 1 (labels) and 3 (images)


@dataclasses.dataclass(frozen=True)
class ImageDataset:
    """An image classification data set held in memory.

    Attributes:
        name: data set name, `"fashion_mnist"` or `"digits"`.
        source: the folder or package the arrays were read from.
        x_train, x_test: uint8 images of shape (num_examples, height, width).
        y_train, y_test: int64 class ids of shape (num_examples,).
        class_names: one name per class id.
    """

    name: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def image_shape(self):
        return self.x_train.shape[1:]


def read_idx(path):
    """Read an unsigned-byte IDX file (optionally gzip-compressed) into a NumPy array.

    Args:
        path: path of a `.idx`-format file such as `train-labels-idx1-ubyte.gz`.

    Example:
    >>> labels = read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
    >>> labels.shape
    (10000,)
    """
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as file:
        data = file.read()

    magic = int.from_bytes(data[0:4], "big")
    rank = data[3]
    if _IDX_MAGIC.get(rank) != magic:
        raise ValueError(
            f"{path} is not an unsigned-byte IDX file: magic number {magic:#010x}. "
            "Re-install the data set files."
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    offset = 4 + 4 * rank
    expected_size = offset + int(np.prod(shape))
    if len(data) != expected_size:
        raise ValueError(
            f"{path} contains {len(data)} bytes but its header declares {expected_size} "
            f"for shape {shape}: the file is truncated or corrupted. Re-install it."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def candidate_dirs(directory=None):
    """List the folders searched for Fashion-MNIST, in order of preference."""
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    candidates = [
        directory,
        os.environ.get(ENVIRONMENT_VARIABLE),
        DEBIAN_DIR,
        os.path.join(keras_home, "datasets", "fashion-mnist"),
    ]
    return [path for path in candidates if path]


def _find_file(directory, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def _read_fashion_mnist(directory):
    paths = {key: _find_file(directory, stem) for key, stem in _FILES.items()}
    if any(path is None for path in paths.values()):
        return None
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        if len(arrays[f"x_{split}"]) != len(arrays[f"y_{split}"]):
            raise ValueError(f"Fashion-MNIST {split} images and labels in {directory} differ in count.")
    return ImageDataset(
        name="fashion_mnist",
        source=directory,
        x_train=arrays["x_train"],
        y_train=arrays["y_train"].astype(np.int64),
        x_test=arrays["x_test"],
        y_test=arrays["y_test"].astype(np.int64),
        class_names=CLASS_NAMES,
    )


def load_digits_dataset(test_fraction=0.2, seed=0):
    """Load scikit-learn's 1,797 8x8 digit images as an `ImageDataset` (a small fallback).

    Pixel values 0-16 are rescaled to 0-255 so that the same preprocessing applies.

    Args:
        test_fraction: share of images held out for testing.
        seed: seed of the stratified split.

    Example:
    >>> load_digits_dataset().image_shape
    (8, 8)
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target.astype(np.int64),
        test_size=test_fraction, random_state=seed, stratify=digits.target,
    )
    return ImageDataset(
        name="digits",
        source="sklearn.datasets.load_digits",
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        class_names=tuple(str(digit) for digit in range(10)),
    )


def load_fashion_mnist(directory=None, allow_fallback=True):
    """Load Fashion-MNIST from disk, or scikit-learn's digits when it is not installed.

    Args:
        directory: optional folder holding the four IDX files (gzip-compressed or not),
            searched before the standard places.
        allow_fallback: when no folder contains the files, return the digits data set with a
            warning (`True`, the default) or raise `FileNotFoundError` (`False`).

    Returns:
        An `ImageDataset`; check its `name` to see which data set was loaded.

    Example:
    >>> data = load_fashion_mnist()
    >>> data.x_train.shape, data.num_classes
    ((60000, 28, 28), 10)
    """
    searched = candidate_dirs(directory)
    for candidate in searched:
        dataset = _read_fashion_mnist(candidate)
        if dataset is not None:
            logger.info("Loaded Fashion-MNIST from %s", candidate)
            return dataset

    message = (
        "Fashion-MNIST not found in " + ", ".join(searched) + ". Install it with "
        "`apt-get install dataset-fashion-mnist`, or set "
        f"{ENVIRONMENT_VARIABLE} to a folder with the four IDX files."
    )
    if not allow_fallback:
        raise FileNotFoundError(message)
    logger.warning("%s Falling back to scikit-learn's 8x8 digits.", message)
    return load_digits_dataset()
