"""tf.data pipelines for in-memory image arrays."""

import numpy as np
import tensorflow as tf


def split_validation(x, y, validation_size, seed):
    """Hold out `validation_size` examples of (x, y), chosen by a seeded permutation.

    Args:
        x, y: arrays with the same first dimension.
        validation_size: number of held-out examples, smaller than `len(x)`.
        seed: permutation seed.

    Returns:
        `(x_train, y_train), (x_validation, y_validation)`.

    Example:
    >>> (x_train, y_train), (x_val, y_val) = split_validation(x, y, 5000, seed=0)
    """
    if not 0 < validation_size < len(x):
        raise ValueError(
            f"`validation_size` must be between 1 and {len(x) - 1} for {len(x)} examples. "
            f"Received: validation_size={validation_size}"
        )
    order = np.random.default_rng(seed).permutation(len(x))
    train, validation = order[validation_size:], order[:validation_size]
    return (x[train], y[train]), (x[validation], y[validation])


def image_dataset(images, labels, batch_size, shuffle=False, seed=0):
    """Build a batched `tf.data.Dataset` of float32 (batch, H, W, C) images and labels.

    Images stay uint8 in memory and are cast per batch; a channel axis is added to
    (N, H, W) arrays. Pixel values keep their [0, 255] range.

    Args:
        images: uint8 array of shape (N, H, W) or (N, H, W, C).
        labels: array of shape (N,) or (N, K).
        batch_size: examples per batch.
        shuffle: reshuffle the examples every epoch (for training).
        seed: shuffle seed.

    Example:
    >>> train = image_dataset(data.x_train, data.y_train, 128, shuffle=True)
    """
    if images.ndim == 3:
        images = images[..., np.newaxis]
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    dataset = dataset.map(
        lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE
    )
    return dataset.prefetch(tf.data.AUTOTUNE)
