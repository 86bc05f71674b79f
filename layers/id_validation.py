"""Checks for the integer ids that lookup layers (one-hot, embedding) receive.

`tf.one_hot` returns an all-zero row for an id outside [0, depth), and `tf.gather` on GPU returns
zeros for such an id, so neither reports a bad id. The in-graph range check here runs eagerly,
inside `tf.function` (as in `model.fit` and `model.predict`) and inside an exported SavedModel.

NOTE: XLA compiles `tf.debugging.Assert` to a no-op. Layers that use `assert_ids_in_range` set
`supports_jit = False`, so `Model.compile` runs them without XLA, even with `jit_compile=True`
(Keras 3.15.1 then warns and falls back). A layer called inside `tf.function(jit_compile=True)`
skips the check, and an out-of-range id then gives an all-zero one-hot row.
"""

import keras
import tensorflow as tf

# How many offending ids an error message lists.
MAX_IDS_SHOWN = 10


def validate_positive_int(name, value, minimum=1):
    """Raise ValueError unless `value` is a Python integer of at least `minimum`.

    Booleans are rejected although Python treats them as integers.

    Args:
        name: the constructor argument's name, used in the message.
        value: the value received.
        minimum: the smallest accepted value.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. "
            f"Received: {name}={value!r} (of type {type(value).__name__})."
        )


def validate_bool(name, value):
    """Raise ValueError unless `value` is a Python bool."""
    if not isinstance(value, bool):
        raise ValueError(
            f"`{name}` must be True or False. "
            f"Received: {name}={value!r} (of type {type(value).__name__})."
        )


def validate_id_dtype(dtype, layer_name):
    """Raise TypeError unless `dtype` is an integer dtype.

    Args:
        dtype: the dtype of the ids, in any form `keras.backend.standardize_dtype` accepts.
        layer_name: the layer's class and name, used in the message.
    """
    try:
        dtype = keras.backend.standardize_dtype(dtype)
    except ValueError:
        # Keras has no name for some NumPy dtypes, such as fixed-width strings.
        dtype = str(dtype)
    if "int" not in dtype:
        raise TypeError(
            f"{layer_name} expects integer ids (int32 or int64). Received ids of dtype "
            f"{dtype}. Cast them before the layer, e.g. `keras.ops.cast(ids, 'int32')`, or "
            "declare the model input with `keras.Input(..., dtype='int32')`."
        )


def validate_id_rank(shape, layer_name):
    """Raise ValueError unless the ids have a batch axis (rank >= 1)."""
    if len(shape) < 1:
        raise ValueError(
            f"{layer_name} expects ids of rank >= 1 with a leading batch axis. "
            f"Received ids of shape {tuple(shape)}. Add a batch axis, e.g. `ids[None]`."
        )


def assert_ids_in_range(ids, num_ids, layer_name, fix):
    """Check that every id lies in [0, num_ids) and return the ids.

    The error is a `tf.errors.InvalidArgumentError` that lists up to `MAX_IDS_SHOWN` offending
    ids, the valid range and `fix`. Eagerly it is raised at once. In a graph the returned ids
    depend on a `tf.debugging.Assert` op, so the error is raised when the graph runs.

    Args:
        ids: an integer tensor of any shape.
        num_ids: the number of valid ids.
        layer_name: the layer's class and name, used in the message.
        fix: a sentence with the caller's next step, appended to the message.

    Returns:
        `ids`, unchanged in value.

    Example:
    >>> ids = assert_ids_in_range(ids, 1000, "OneHotInput (layer one_hot_input)",
    ...                           "Use a larger `num_tokens`.")
    """
    # Compare in a 64-bit type: in a narrow dtype such as int8, `num_ids` would wrap around.
    # A uint64 id above the int64 maximum becomes negative here, so it is still rejected,
    # and the message lists the original `ids` values.
    wide_ids = ids if ids.dtype in (tf.int32, tf.int64) else tf.cast(ids, tf.int64)
    in_range = tf.logical_and(wide_ids >= 0, wide_ids < num_ids)
    all_in_range = tf.reduce_all(in_range)
    message = f"{layer_name} received ids outside the valid range [0, {num_ids}):"

    if tf.executing_eagerly():
        if not bool(all_in_range):
            bad_ids = tf.boolean_mask(ids, tf.logical_not(in_range)).numpy()
            listed_ids = ", ".join(str(value) for value in bad_ids[:MAX_IDS_SHOWN])
            more = ""
            if len(bad_ids) > MAX_IDS_SHOWN:
                more = f" and {len(bad_ids) - MAX_IDS_SHOWN} more"
            full_message = f"{message} [{listed_ids}]{more}. {fix}"
            raise tf.errors.InvalidArgumentError(None, None, full_message)
        return ids

    bad_ids = tf.boolean_mask(ids, tf.logical_not(in_range))
    assertion = tf.debugging.Assert(all_in_range, [message, bad_ids, fix], summarize=MAX_IDS_SHOWN)
    with tf.control_dependencies([assertion]):
        return tf.identity(ids)
