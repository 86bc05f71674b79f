"""Property-based tests of the four layers over shapes, dtypes, lengths and id ranges.

Each property states what any input must give: the exact output that a NumPy reference
computes, or a clear error (`ValueError`, `TypeError`, or `tf.errors.InvalidArgumentError`)
whose message names the offending value. Eager calls cover most properties because they are
fast. The `*_graph_*` properties repeat the run-time checks inside `tf.function` with `None`
dimensions, where only an in-graph assertion can catch the error.

By default every property runs a fixed, derandomized set of examples sized for CI. To explore
more inputs, set `LAYER_PROPERTY_EXAMPLES` to the number of examples per property. That also
turns derandomization off, so each run draws new inputs, and `--hypothesis-seed=N` replays one:

    LAYER_PROPERTY_EXAMPLES=500 .venv/bin/python -m pytest tests/layers/test_layer_properties.py
    LAYER_PROPERTY_EXAMPLES=500 .venv/bin/python -m pytest tests/layers/test_layer_properties.py \\
        --hypothesis-seed=1234

"""

import math
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from layers.beta_positional_encoding import BetaPositionalEncoding
from layers.frozen_embedding import FrozenEmbedding
from layers.id_validation import MAX_IDS_SHOWN
from layers.one_hot_input import OneHotInput
from layers.positional_channel_2d import PositionalChannel2D


def _explore_examples():
    """Return the example count set by `LAYER_PROPERTY_EXAMPLES`, or None when unset."""
    value = os.environ.get("LAYER_PROPERTY_EXAMPLES")
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(
            "`LAYER_PROPERTY_EXAMPLES` must be a positive integer. "
            f"Received: LAYER_PROPERTY_EXAMPLES={value!r}"
        )
    return int(value)


EXPLORE_EXAMPLES = _explore_examples()


def property_settings(max_examples, shrink=True):
    """Return the Hypothesis settings of one property with `max_examples` CI examples.

    Args:
        max_examples: the number of examples in CI, unless `LAYER_PROPERTY_EXAMPLES` is set.
        shrink: whether to shrink a failing example. Properties whose examples are costly
            turn it off.
    """
    common = {
        "database": None,
        "deadline": None,
        "print_blob": True,
        "report_multiple_bugs": False,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    }
    if not shrink:
        common["phases"] = [Phase.explicit, Phase.reuse, Phase.generate]
    if EXPLORE_EXAMPLES is not None:
        return settings(max_examples=EXPLORE_EXAMPLES, derandomize=False, **common)

    # derandomize=True seeds each property from a hash of its own source, so every CI run
    # checks the same examples and a failure reproduces on any machine.
    return settings(max_examples=max_examples, derandomize=True, **common)


INTEGER_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
NON_INTEGER_ID_DTYPES = ["float16", "float32", "float64", "bool", "complex64", "string"]
ID_RANGE_MARGIN = 60

# Python values that no size argument accepts: zero, negatives, floats (integral ones
# included), bools, strings, None and lists.
BAD_SIZES = st.one_of(
    st.integers(max_value=0),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=4),
    st.none(),
    st.lists(st.integers(1, 9), min_size=1, max_size=2),
)
BAD_POSITIVE_FLOATS = st.one_of(
    st.floats(max_value=0.0),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.booleans(),
    st.text(max_size=4),
    st.none(),
)


# Strategies.


def id_shapes(min_inner_size=0):
    """Shapes of rank 1 to 3: a batch axis of 1 to 5, then up to two axes of up to 4."""
    inner = st.lists(st.integers(min_inner_size, 4), max_size=2)
    return st.tuples(st.integers(1, 5), inner).map(lambda parts: (parts[0], *parts[1]))


def _dtype_bounds(dtype, low, high):
    info = np.iinfo(dtype)
    return max(low, int(info.min)), min(high, int(info.max))


@st.composite
def valid_ids(draw, num_ids, dtypes=INTEGER_DTYPES):
    """An id array of random shape and integer dtype with every id in [0, num_ids)."""
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(id_shapes())
    return draw(hnp.arrays(dtype, shape, elements=st.integers(0, num_ids - 1)))


@st.composite
def ids_with_invalid(draw, num_ids, dtypes=INTEGER_DTYPES, max_id=None):
    """An id array with at least one id outside [0, num_ids), never above `max_id`."""
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(id_shapes(min_inner_size=1))
    info = np.iinfo(dtype)
    highest = int(info.max) if max_id is None else min(int(info.max), max_id)

    near_low, near_high = _dtype_bounds(dtype, -ID_RANGE_MARGIN, num_ids + ID_RANGE_MARGIN)
    near = st.integers(near_low, min(near_high, highest))
    extreme = st.sampled_from([int(info.min), highest])
    ids = draw(hnp.arrays(dtype, shape, elements=st.one_of(near, extreme)))

    invalid_values = [st.integers(num_ids, highest)]
    if info.min < 0:
        invalid_values.append(st.integers(int(info.min), -1))
    position = draw(st.integers(0, ids.size - 1))
    ids.flat[position] = draw(st.one_of(invalid_values))
    return ids


# Error-message parsers. Each returns the values that a layer's message reports, so a
# property can compare them with the input that caused the error.


def _reported_ids(message):
    """Return `(num_ids, listed_ids)` from an out-of-range id message, eager or graph."""
    # Eager: "valid range [0, 7): [-3, 9]". Graph (tf.debugging.Assert): "[0, 7):] [-3 9]".
    match = re.search(r"valid range \[0, (\d+)\):\]? \[([^\]]*)\]", message)
    assert match is not None, f"No id list in the message: {message}"
    listed = [int(token) for token in re.findall(r"-?\d+", match.group(2))]
    return int(match.group(1)), listed


def _assert_error_names_ids(message, ids, num_ids):
    """Check that the message lists the first invalid ids, in row-major order, and the range."""
    flat = np.asarray(ids).ravel().astype(object)
    invalid = [int(value) for value in flat if not 0 <= value < num_ids]

    reported_num_ids, listed = _reported_ids(message)
    assert reported_num_ids == num_ids
    assert listed == invalid[:MAX_IDS_SHOWN]

    # Eager messages count the ids left out, and graph messages end the list with "...".
    hidden_count = len(invalid) - MAX_IDS_SHOWN
    if hidden_count > 0:
        assert f"and {hidden_count} more" in message or "...]" in message


def _reported_lengths(message):
    """Return `(sequence_length, start_index, max_length)` from a too-long input message.

    `start_index` is 0 when the message omits it. `max_length` is None when the message
    rejects a negative `start_index` and so does not name it.
    """
    max_length = re.search(r"max_length=(\d+)", message)
    max_length = int(max_length.group(1)) if max_length else None

    static = re.search(r"The sequence length (\d+) exceeds", message)
    if static:
        return int(static.group(1)), 0, max_length

    with_start = re.search(r"\((\d+) \+ (\d+) = \d+\) exceeds", message)
    if with_start:
        return int(with_start.group(2)), int(with_start.group(1)), max_length

    # tf.debugging.Assert data, eager ("b'sequence length:'\n2\n...") or graph ("[2]").
    dynamic = re.search(r"sequence length:\D*?(\d+)\D*?start_index:[^\d-]*?(-?\d+)", message)
    assert dynamic is not None, f"No lengths in the message: {message}"
    return int(dynamic.group(1)), int(dynamic.group(2)), max_length


def _reported_image_size(message):
    """Return `(axis, size, max_size)` from an oversized image message, eager or graph."""
    static = re.search(r"image (height|width) (\d+) exceeds max_\1=(\d+)", message)
    if static:
        return static.group(1), int(static.group(2)), int(static.group(3))

    dynamic = re.search(r"max_(height|width)=(\d+).*?image \1:\D*?(\d+)", message, re.DOTALL)
    assert dynamic is not None, f"No image size in the message: {message}"
    return dynamic.group(1), int(dynamic.group(3)), int(dynamic.group(2))


# NumPy references.


def _one_hot_reference(ids, depth):
    return np.eye(depth, dtype="float32")[np.asarray(ids, dtype=np.int64)]


def _coordinates_reference(size):
    if size == 1:
        return np.zeros(1)
    return 2.0 * np.arange(size) / (size - 1) - 1.0


def _beta_table_reference(seed, alpha, beta, minval, maxval, shape):
    draws = np.random.default_rng(seed).beta(alpha, beta, size=shape)
    return (minval + (maxval - minval) * draws).astype("float32")


# OneHotInput.


@property_settings(max_examples=40)
@given(data=st.data(), num_tokens=st.integers(1, 50))
def test_one_hot_valid_ids_match_numpy(data, num_tokens):
    ids = data.draw(valid_ids(num_tokens))

    outputs = OneHotInput(num_tokens)(ids)

    assert outputs.dtype == tf.float32
    assert tuple(outputs.shape) == (*ids.shape, num_tokens)
    np.testing.assert_array_equal(outputs.numpy(), _one_hot_reference(ids, num_tokens))
    np.testing.assert_array_equal(outputs.numpy().sum(axis=-1), np.ones(ids.shape))


@property_settings(max_examples=40)
@given(data=st.data(), num_tokens=st.integers(1, 50))
def test_one_hot_invalid_ids_error_names_them(data, num_tokens):
    # uint64 ids above the int64 maximum have their own property below.
    ids = data.draw(ids_with_invalid(num_tokens, max_id=np.iinfo("int64").max))

    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        OneHotInput(num_tokens)(ids)

    _assert_error_names_ids(str(error.value), ids, num_tokens)


@property_settings(max_examples=10, shrink=False)
@given(
    num_tokens=st.integers(1, 50),
    big_id=st.integers(2**63, 2**64 - 1),
    batch_size=st.integers(1, 5),
)
def test_one_hot_uint64_error_names_id(num_tokens, big_id, batch_size):
    ids = np.zeros((batch_size,), dtype="uint64")
    ids[-1] = big_id

    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        OneHotInput(num_tokens)(ids)

    _assert_error_names_ids(str(error.value), ids, num_tokens)


@property_settings(max_examples=30)
@given(data=st.data(), num_tokens=st.integers(1, 50))
def test_one_hot_oov_bucket_takes_invalid_ids(data, num_tokens):
    ids = data.draw(st.one_of(valid_ids(num_tokens), ids_with_invalid(num_tokens)))

    outputs = OneHotInput(num_tokens, oov_bucket=True)(ids).numpy()

    in_range = (ids >= 0) & (ids < num_tokens)
    expected_columns = np.where(in_range, ids, num_tokens)
    assert outputs.shape == (*ids.shape, num_tokens + 1)
    np.testing.assert_array_equal(outputs, _one_hot_reference(expected_columns, num_tokens + 1))


@property_settings(max_examples=25)
@given(data=st.data(), num_tokens=st.integers(2, 50))
def test_one_hot_mask_equals_nonzero_ids(data, num_tokens):
    ids = data.draw(valid_ids(num_tokens))
    layer = OneHotInput(num_tokens, mask_zero=True)

    outputs = layer(ids).numpy()
    mask = keras.ops.convert_to_numpy(layer.compute_mask(ids))

    np.testing.assert_array_equal(mask, ids != 0)
    # Padding positions keep the one-hot row of id 0.
    np.testing.assert_array_equal(outputs, _one_hot_reference(ids, num_tokens))


@property_settings(max_examples=30)
@given(
    data=st.data(),
    num_tokens=st.integers(1, 20),
    oov_bucket=st.booleans(),
    mask_zero=st.booleans(),
)
def test_one_hot_standardize_after_adapt(data, num_tokens, oov_bucket, mask_zero):
    num_tokens = max(num_tokens, 2) if mask_zero else num_tokens
    ids = data.draw(
        ids_with_invalid(num_tokens, ["int32", "int64"]) if oov_bucket else valid_ids(num_tokens)
    )
    layer = OneHotInput(num_tokens, oov_bucket=oov_bucket, mask_zero=mask_zero, standardize=True)
    depth = num_tokens + 1 if oov_bucket else num_tokens

    columns = np.where((ids >= 0) & (ids < num_tokens), ids, num_tokens).astype(np.int64)
    counted = columns[ids != 0] if mask_zero else columns.ravel()
    if counted.size == 0:
        with pytest.raises(ValueError, match="no ids to count"):
            layer.adapt(ids)
        return

    layer.adapt(ids)
    outputs = layer(ids).numpy().astype("float64")

    frequencies = np.bincount(counted, minlength=depth) / counted.size
    variance = frequencies * (1.0 - frequencies)
    scale = np.sqrt(np.where(variance > 0, variance, 1.0))
    expected = (np.eye(depth)[columns] - frequencies) / scale
    assert np.isfinite(outputs).all()
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-5)

    # Over the counted positions every column has mean 0, and variance 1 unless constant.
    counted_outputs = outputs[ids != 0] if mask_zero else outputs.reshape(-1, depth)
    np.testing.assert_allclose(counted_outputs.mean(axis=0), 0.0, atol=1e-4)
    expected_variance = np.where(variance > 0, 1.0, 0.0)
    np.testing.assert_allclose(counted_outputs.var(axis=0), expected_variance, atol=1e-4)

    # Ids whose column never occurred in the adapted data (p = 0) stay finite too.
    other_ids = data.draw(valid_ids(num_tokens, ["int32"]))
    other_outputs = layer(other_ids).numpy().astype("float64")
    assert np.isfinite(other_outputs).all()
    other_expected = (np.eye(depth)[other_ids] - frequencies) / scale
    np.testing.assert_allclose(other_outputs, other_expected, rtol=1e-5, atol=1e-5)


@property_settings(max_examples=30)
@given(data=st.data(), num_tokens=st.integers(1, 50), oov_bucket=st.booleans())
def test_one_hot_sparse_densifies_to_dense(data, num_tokens, oov_bucket):
    if oov_bucket:
        ids = data.draw(ids_with_invalid(num_tokens, ["int32", "int64"]))
    else:
        ids = data.draw(valid_ids(num_tokens))

    sparse = OneHotInput(num_tokens, oov_bucket=oov_bucket, sparse=True)(ids)
    dense = OneHotInput(num_tokens, oov_bucket=oov_bucket)(ids)

    assert isinstance(sparse, tf.SparseTensor)
    assert tuple(sparse.dense_shape.numpy()) == tuple(dense.shape)
    np.testing.assert_array_equal(tf.sparse.to_dense(sparse).numpy(), dense.numpy())
    # One stored value per id, in canonical row-major order.
    assert sparse.values.shape[0] == ids.size
    np.testing.assert_array_equal(tf.sparse.reorder(sparse).indices.numpy(), sparse.indices.numpy())


@property_settings(max_examples=25)
@given(
    dtype=st.sampled_from(NON_INTEGER_ID_DTYPES),
    shape=id_shapes(min_inner_size=1),
    options=st.fixed_dictionaries({"oov_bucket": st.booleans(), "sparse": st.booleans()}),
)
def test_one_hot_non_integer_ids_raise_type_error(dtype, shape, options):
    ids = tf.zeros(shape, dtype=dtype) if dtype != "string" else tf.fill(shape, "3")

    with pytest.raises(TypeError, match=f"dtype {dtype}"):
        OneHotInput(7, **options)(ids)


@property_settings(max_examples=15)
@given(
    data=st.data(),
    num_tokens=st.integers(1, 50),
    dtype=st.sampled_from(["int32", "int64"]),
)
def test_one_hot_graph_checks_ids(data, num_tokens, dtype):
    ids = data.draw(
        st.one_of(valid_ids(num_tokens, [dtype]), ids_with_invalid(num_tokens, [dtype]))
    )
    layer = OneHotInput(num_tokens)
    signature = [tf.TensorSpec([None] * ids.ndim, dtype)]
    one_hot = tf.function(lambda x: layer(x), input_signature=signature)

    if ((ids >= 0) & (ids < num_tokens)).all():
        outputs = one_hot(tf.constant(ids)).numpy()
        np.testing.assert_array_equal(outputs, _one_hot_reference(ids, num_tokens))
        return

    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        one_hot(tf.constant(ids))
    _assert_error_names_ids(str(error.value), ids, num_tokens)


@pytest.mark.parametrize("argument", ["num_tokens", "oov_bucket", "standardize", "sparse"])
@property_settings(max_examples=15)
@given(data=st.data())
def test_one_hot_bad_arguments_raise_value_error(argument, data):
    if argument == "num_tokens":
        value = data.draw(BAD_SIZES)
    else:
        value = data.draw(st.one_of(st.integers(), st.none(), st.text(max_size=4)))
    arguments = {"num_tokens": 5, argument: value}

    with pytest.raises(ValueError, match=f"`{argument}`") as error:
        OneHotInput(**arguments)
    assert repr(value) in str(error.value)


# FrozenEmbedding.


@st.composite
def embedding_matrices(draw, max_input_dim=100):
    input_dim = draw(st.integers(1, max_input_dim))
    output_dim = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**16))
    return np.random.default_rng(seed).normal(size=(input_dim, output_dim)).astype("float32")


@property_settings(max_examples=40)
@given(data=st.data(), table=embedding_matrices())
def test_frozen_embedding_valid_ids_match_table(data, table):
    input_dim, output_dim = table.shape
    ids = data.draw(valid_ids(input_dim))

    outputs = FrozenEmbedding(input_dim, output_dim, embeddings=table)(ids)

    assert outputs.dtype == tf.float32
    assert tuple(outputs.shape) == (*ids.shape, output_dim)
    np.testing.assert_array_equal(outputs.numpy(), table[ids.astype(np.int64)])


@property_settings(max_examples=15, shrink=False)
@given(
    data=st.data(),
    dtype=st.sampled_from(["int8", "uint8", "int16", "uint16"]),
    extra_rows=st.integers(1, 300),
    output_dim=st.integers(1, 3),
)
def test_frozen_embedding_narrow_ids_large_vocabulary(data, dtype, extra_rows, output_dim):
    # Every id of this dtype is valid, because input_dim exceeds the dtype's maximum.
    input_dim = int(np.iinfo(dtype).max) + extra_rows
    table = np.arange(input_dim * output_dim, dtype="float32").reshape(input_dim, output_dim)
    info = np.iinfo(dtype)
    elements = st.integers(max(0, info.min), info.max)
    ids = data.draw(hnp.arrays(dtype, id_shapes(min_inner_size=1), elements=elements))
    ids.flat[-1] = info.max

    outputs = FrozenEmbedding(input_dim, output_dim, embeddings=table)(ids)

    np.testing.assert_array_equal(outputs.numpy(), table[ids.astype(np.int64)])


@property_settings(max_examples=40)
@given(data=st.data(), input_dim=st.integers(1, 100), output_dim=st.integers(1, 6))
def test_frozen_embedding_invalid_ids_error_names_them(data, input_dim, output_dim):
    ids = data.draw(ids_with_invalid(input_dim))

    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        FrozenEmbedding(input_dim, output_dim)(ids)

    _assert_error_names_ids(str(error.value), ids, input_dim)


@property_settings(max_examples=25)
@given(data=st.data(), table=embedding_matrices().filter(lambda table: table.shape[0] >= 2))
def test_frozen_embedding_mask_equals_nonzero_ids(data, table):
    input_dim, output_dim = table.shape
    ids = data.draw(valid_ids(input_dim, ["int32", "int64"]))
    layer = FrozenEmbedding(input_dim, output_dim, embeddings=table, mask_zero=True)

    outputs = layer(ids).numpy()
    mask = keras.ops.convert_to_numpy(layer.compute_mask(ids))

    np.testing.assert_array_equal(mask, ids != 0)
    # Padding positions keep row 0 of the matrix.
    np.testing.assert_array_equal(outputs, table[ids])


@property_settings(max_examples=20)
@given(data=st.data(), input_dim=st.integers(1, 100), output_dim=st.integers(1, 8))
def test_frozen_embedding_default_matrix_frozen(data, input_dim, output_dim):
    ids = data.draw(valid_ids(input_dim, ["int32"]))
    layer = FrozenEmbedding(input_dim, output_dim)

    outputs = layer(ids).numpy()

    matrix = keras.ops.convert_to_numpy(layer.embeddings)
    assert layer.trainable_weights == []
    assert matrix.shape == (input_dim, output_dim)
    assert np.isfinite(matrix).all()
    np.testing.assert_array_equal(outputs, matrix[ids])


@property_settings(max_examples=25)
@given(
    dtype=st.sampled_from(NON_INTEGER_ID_DTYPES),
    shape=id_shapes(min_inner_size=1),
    mask_zero=st.booleans(),
)
def test_frozen_embedding_non_integer_ids_raise_type_error(dtype, shape, mask_zero):
    ids = tf.zeros(shape, dtype=dtype) if dtype != "string" else tf.fill(shape, "3")

    with pytest.raises(TypeError, match=f"dtype {dtype}"):
        FrozenEmbedding(7, 3, mask_zero=mask_zero)(ids)


# NOTE: these properties run on the CPU, where `tf.gather` rejects invalid ids by itself. On a
# GPU it returns zeros, so the layer's own check is the only guard there, and no property in
# this file runs on a GPU.
@property_settings(max_examples=15)
@given(data=st.data(), table=embedding_matrices(), dtype=st.sampled_from(["int32", "int64"]))
def test_frozen_embedding_graph_checks_ids(data, table, dtype):
    input_dim, output_dim = table.shape
    ids = data.draw(st.one_of(valid_ids(input_dim, [dtype]), ids_with_invalid(input_dim, [dtype])))
    layer = FrozenEmbedding(input_dim, output_dim, embeddings=table)
    signature = [tf.TensorSpec([None] * ids.ndim, dtype)]
    lookup = tf.function(lambda x: layer(x), input_signature=signature)

    if ((ids >= 0) & (ids < input_dim)).all():
        np.testing.assert_array_equal(lookup(tf.constant(ids)).numpy(), table[ids])
        return

    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        lookup(tf.constant(ids))
    _assert_error_names_ids(str(error.value), ids, input_dim)


@property_settings(max_examples=25)
@given(
    input_dim=st.integers(1, 20),
    output_dim=st.integers(1, 20),
    matrix_shape=st.tuples(st.integers(1, 20), st.integers(1, 20)),
)
def test_frozen_embedding_matrix_shape_checked(input_dim, output_dim, matrix_shape):
    matrix = np.zeros(matrix_shape, dtype="float32")

    if matrix_shape == (input_dim, output_dim):
        layer = FrozenEmbedding(input_dim, output_dim, embeddings=matrix)
        assert tuple(layer.embeddings.shape) == matrix_shape
        return

    with pytest.raises(ValueError, match=re.escape(f"Received an array of shape {matrix_shape}")):
        FrozenEmbedding(input_dim, output_dim, embeddings=matrix)


@pytest.mark.parametrize("argument", ["input_dim", "output_dim"])
@property_settings(max_examples=15)
@given(value=BAD_SIZES)
def test_frozen_embedding_bad_sizes_raise_value_error(argument, value):
    arguments = {"input_dim": 5, "output_dim": 3, argument: value}

    with pytest.raises(ValueError, match=f"`{argument}`") as error:
        FrozenEmbedding(**arguments)
    assert repr(value) in str(error.value)


# BetaPositionalEncoding.


@st.composite
def sequence_calls(draw, max_length):
    """Between one and three `(length, start_index)` pairs that fit into `max_length`."""
    calls = []
    for _ in range(draw(st.integers(1, 3))):
        length = draw(st.integers(0, max_length))
        start_index = draw(st.integers(0, max_length - length))
        calls.append((length, start_index))
    return calls


START_INDEX_TYPES = st.sampled_from(
    [int, np.int32, np.int64, tf.constant, lambda value: tf.constant(value, "int64")]
)


@property_settings(max_examples=30)
@given(
    data=st.data(),
    max_length=st.integers(1, 40),
    hidden_dim=st.integers(1, 8),
    batch_size=st.integers(1, 4),
    seed=st.integers(0, 2**31),
    start_index_type=START_INDEX_TYPES,
)
def test_beta_encoding_adds_table_slice(
    data, max_length, hidden_dim, batch_size, seed, start_index_type
):
    layer = BetaPositionalEncoding(max_length, seed=seed)
    table = _beta_table_reference(seed, 0.5, 0.5, -1.0, 1.0, (max_length, hidden_dim))
    # Subnormal inputs are excluded because TensorFlow flushes them to zero on the CPU.
    values = st.floats(-1e3, 1e3, width=32, allow_subnormal=False)

    for length, start_index in data.draw(sequence_calls(max_length)):
        shape = (batch_size, length, hidden_dim)
        inputs = data.draw(hnp.arrays("float32", shape, elements=values))

        outputs = layer(inputs, start_index=start_index_type(start_index)).numpy()

        assert outputs.shape == shape
        np.testing.assert_array_equal(outputs, inputs + table[start_index : start_index + length])

    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.positional_encoding), table)


@property_settings(max_examples=30)
@given(
    max_length=st.integers(1, 30),
    hidden_dim=st.integers(1, 6),
    batch_size=st.integers(1, 4),
    start_index=st.integers(0, 35),
    excess=st.integers(1, 10),
)
def test_beta_encoding_too_long_error_names_lengths(
    max_length, hidden_dim, batch_size, start_index, excess
):
    length = max(max_length - start_index, 0) + excess
    layer = BetaPositionalEncoding(max_length)
    inputs = np.zeros((batch_size, length, hidden_dim), dtype="float32")

    with pytest.raises(ValueError) as error:
        layer(inputs, start_index=start_index)

    reported_length, reported_start, reported_max = _reported_lengths(str(error.value))
    assert reported_length == length
    assert reported_max == max_length
    # The first call builds the layer, and the build checks the length alone.
    assert reported_start in (0, start_index)
    assert reported_start + reported_length > max_length

    # The error leaves the layer usable.
    fitting = np.zeros((batch_size, max_length, hidden_dim), dtype="float32")
    assert layer(fitting).shape == fitting.shape


@property_settings(max_examples=15)
@given(
    data=st.data(),
    max_length=st.integers(1, 20),
    hidden_dim=st.integers(1, 6),
    seed=st.integers(0, 2**16),
    start_dtype=st.sampled_from(["int32", "int64"]),
)
def test_beta_encoding_graph_checks_lengths(data, max_length, hidden_dim, seed, start_dtype):
    layer = BetaPositionalEncoding(max_length, seed=seed)
    layer.build((None, None, hidden_dim))
    signature = [tf.TensorSpec([None, None, hidden_dim]), tf.TensorSpec([], start_dtype)]
    encode = tf.function(lambda x, start: layer(x, start_index=start), input_signature=signature)
    table = keras.ops.convert_to_numpy(layer.positional_encoding)

    length = data.draw(st.integers(0, max_length + 5))
    start_index = data.draw(st.integers(-3, max_length + 3))
    inputs = np.ones((2, length, hidden_dim), dtype="float32")
    start = tf.constant(start_index, start_dtype)

    if start_index >= 0 and start_index + length <= max_length:
        outputs = encode(inputs, start).numpy()
        np.testing.assert_array_equal(outputs, inputs + table[start_index : start_index + length])
        return

    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        encode(inputs, start)
    reported_length, reported_start, reported_max = _reported_lengths(str(error.value))
    assert reported_length == length
    assert reported_start == start_index
    if start_index >= 0:
        assert reported_max == max_length


@property_settings(max_examples=30)
@given(
    max_length=st.integers(1, 30),
    hidden_dim=st.integers(1, 6),
    alpha=st.floats(1e-3, 1e3),
    beta=st.floats(1e-3, 1e3),
    minval=st.floats(-1e3, 1e3),
    width=st.floats(1e-3, 1e3),
    seed=st.integers(0, 2**31),
)
def test_beta_encoding_table_within_range(
    max_length, hidden_dim, alpha, beta, minval, width, seed
):
    maxval = minval + width
    layer = BetaPositionalEncoding(
        max_length, alpha=alpha, beta=beta, seed=seed, minval=minval, maxval=maxval
    )
    layer.build((None, None, hidden_dim))

    table = keras.ops.convert_to_numpy(layer.positional_encoding)

    assert table.shape == (max_length, hidden_dim)
    assert np.isfinite(table).all()
    assert table.min() >= np.float32(minval)
    assert table.max() <= np.float32(maxval)
    expected = _beta_table_reference(seed, alpha, beta, minval, maxval, table.shape)
    np.testing.assert_array_equal(table, expected)


@property_settings(max_examples=10, shrink=False)
@given(
    minval=st.floats(-1e308, 0.0),
    maxval=st.floats(1e39, 1e308),
    seed=st.integers(0, 2**16),
)
def test_beta_encoding_huge_range_rejected_or_finite(minval, maxval, seed):
    try:
        layer = BetaPositionalEncoding(8, seed=seed, minval=minval, maxval=maxval)
    except ValueError:
        return
    layer.build((None, None, 8))

    assert np.isfinite(keras.ops.convert_to_numpy(layer.positional_encoding)).all()


@property_settings(max_examples=10, shrink=False)
@given(max_length=st.integers(3, 20), start_index=st.integers(0, 1), fraction=st.floats(0.1, 0.9))
def test_beta_encoding_fractional_start_rejected(max_length, start_index, fraction):
    layer = BetaPositionalEncoding(max_length)
    inputs = np.zeros((1, 2, 4), dtype="float32")

    with pytest.raises((TypeError, ValueError)):
        layer(inputs, start_index=start_index + fraction)


@property_settings(max_examples=10, shrink=False)
@given(
    dtype=st.sampled_from(["int32", "int64", "bool", "complex64"]),
    shape=st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 4)),
)
def test_beta_encoding_non_float_inputs_raise_type_error(dtype, shape):
    with pytest.raises(TypeError, match=dtype):
        BetaPositionalEncoding(8)(tf.zeros(shape, dtype=dtype))


@property_settings(max_examples=20)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=5).filter(lambda s: len(s) != 3))
def test_beta_encoding_wrong_rank_raises_value_error(shape):
    with pytest.raises(ValueError, match=re.escape(f"input_shape={tuple(shape)}")):
        BetaPositionalEncoding(8)(np.zeros(shape, dtype="float32"))


@property_settings(max_examples=15)
@given(
    data=st.data(),
    max_length=st.integers(1, 20),
    hidden_dim=st.integers(1, 8),
    seed=st.integers(0, 2**16),
)
def test_beta_encoding_mixed_float16_matches_float32(data, max_length, hidden_dim, seed):
    length = data.draw(st.integers(1, max_length))
    inputs = data.draw(
        hnp.arrays(
            "float32",
            (2, length, hidden_dim),
            elements=st.floats(-100, 100, width=16, allow_subnormal=False),
        )
    )

    mixed = BetaPositionalEncoding(max_length, seed=seed, dtype="mixed_float16")(inputs)
    full = BetaPositionalEncoding(max_length, seed=seed)(inputs)

    assert mixed.dtype == tf.float16
    assert np.isfinite(mixed.numpy()).all()
    np.testing.assert_allclose(mixed.numpy(), full.numpy(), rtol=2e-3, atol=2e-3)


BETA_ENCODING_BAD_ARGUMENTS = {
    "max_length": BAD_SIZES,
    "alpha": BAD_POSITIVE_FLOATS,
    "beta": BAD_POSITIVE_FLOATS,
    "seed": st.one_of(st.integers(max_value=-1), st.floats(), st.booleans(), st.none()),
}


@pytest.mark.parametrize("argument", sorted(BETA_ENCODING_BAD_ARGUMENTS))
@property_settings(max_examples=15)
@given(data=st.data())
def test_beta_encoding_bad_arguments_raise_value_error(argument, data):
    value = data.draw(BETA_ENCODING_BAD_ARGUMENTS[argument])
    arguments = {"max_length": 8, argument: value}

    with pytest.raises(ValueError, match=f"`{argument}`") as error:
        BetaPositionalEncoding(**arguments)
    assert repr(value) in str(error.value)


@property_settings(max_examples=15)
@given(minval=st.floats(-1e6, 1e6), gap=st.floats(0.0, 1e6))
def test_beta_encoding_empty_range_raises_value_error(minval, gap):
    with pytest.raises(ValueError, match="`minval` must be less than `maxval`"):
        BetaPositionalEncoding(8, minval=minval, maxval=minval - gap)


# PositionalChannel2D.

# TensorFlow flushes float32 subnormals to zero on the CPU, but NumPy keeps them. So the exact
# comparisons exclude every value that is subnormal in float32 or becomes subnormal in the cast.
IMAGE_ELEMENTS = {
    "float16": st.floats(-100, 100, width=16, allow_subnormal=False),
    "float32": st.floats(-1e3, 1e3, width=32, allow_subnormal=False),
    "float64": st.floats(-1e3, 1e3).filter(
        lambda value: value == 0 or abs(value) >= np.finfo("float32").tiny
    ),
    "uint8": st.integers(0, 255),
    "int32": st.integers(-1000, 1000),
    "bool": st.booleans(),
}


@st.composite
def positional_channel_cases(draw):
    """A layer's arguments and a batch of images that fit its size limits."""
    data_format = draw(st.sampled_from(["channels_last", "channels_first"]))
    height, width = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    channels, batch_size = draw(st.integers(0, 4)), draw(st.integers(1, 3))
    beta_maps = draw(st.integers(0, 2))

    arguments = {
        "with_radius": draw(st.booleans()),
        "sinusoidal_frequencies": draw(st.integers(0, 2)),
        "beta_maps": beta_maps,
        "seed": draw(st.integers(0, 2**16)),
        "data_format": data_format,
    }
    if beta_maps or draw(st.booleans()):
        arguments["max_height"] = height + draw(st.integers(0, 3))
        arguments["max_width"] = width + draw(st.integers(0, 3))

    dtype = draw(st.sampled_from(sorted(IMAGE_ELEMENTS)))
    if data_format == "channels_last":
        shape = (batch_size, height, width, channels)
    else:
        shape = (batch_size, channels, height, width)
    images = draw(hnp.arrays(dtype, shape, elements=IMAGE_ELEMENTS[dtype]))
    return arguments, images


def _to_channels_last(array, data_format):
    return array if data_format == "channels_last" else np.transpose(array, (0, 2, 3, 1))


def _positional_maps_reference(arguments, height, width):
    """Return the expected positional channels as float64 `(height, width, P)`."""
    x = np.broadcast_to(_coordinates_reference(width)[None, :], (height, width))
    y = np.broadcast_to(_coordinates_reference(height)[:, None], (height, width))
    maps = [x, y]

    if arguments["with_radius"]:
        maps.append(np.sqrt(x**2 + y**2))
    for k in range(arguments["sinusoidal_frequencies"]):
        frequency = 2.0**k * np.pi
        maps += [np.sin(frequency * x), np.cos(frequency * x)]
        maps += [np.sin(frequency * y), np.cos(frequency * y)]

    maps = np.stack(maps, axis=-1)
    if arguments["beta_maps"]:
        table_shape = (arguments["max_height"], arguments["max_width"], arguments["beta_maps"])
        table = _beta_table_reference(arguments["seed"], 0.5, 0.5, -1.0, 1.0, table_shape)
        maps = np.concatenate([maps, table[:height, :width]], axis=-1)
    return maps


@property_settings(max_examples=40)
@given(case=positional_channel_cases())
def test_positional_channels_match_formula(case):
    arguments, images = case
    data_format = arguments["data_format"]
    layer = PositionalChannel2D(**arguments)

    outputs = layer(images)

    positional = 2 + arguments["with_radius"] + arguments["beta_maps"]
    positional += 4 * arguments["sinusoidal_frequencies"]
    channel_axis = -1 if data_format == "channels_last" else 1
    assert tuple(outputs.shape) == layer.compute_output_shape(images.shape)
    assert outputs.shape[channel_axis] == images.shape[channel_axis] + positional
    assert outputs.dtype == tf.float32

    outputs = _to_channels_last(outputs.numpy(), data_format)
    images = _to_channels_last(images, data_format)
    batch_size, height, width, channels = images.shape
    assert np.isfinite(outputs[..., channels:]).all()
    np.testing.assert_array_equal(outputs[..., :channels], images.astype("float32"))

    expected = _positional_maps_reference(arguments, height, width)
    for image_maps in outputs[..., channels:]:
        np.testing.assert_allclose(image_maps, expected, rtol=0, atol=1e-5)


@property_settings(max_examples=25)
@given(
    data=st.data(),
    max_height=st.integers(1, 10),
    max_width=st.integers(1, 10),
    beta_maps=st.integers(0, 1),
    data_format=st.sampled_from(["channels_last", "channels_first"]),
)
def test_positional_channels_oversize_error_names_sizes(
    data, max_height, max_width, beta_maps, data_format
):
    height = data.draw(st.integers(1, max_height + 4))
    low_width = max_width + 1 if height <= max_height else 1
    width = data.draw(st.integers(low_width, max_width + 4))
    layer = PositionalChannel2D(
        beta_maps=beta_maps, max_height=max_height, max_width=max_width, data_format=data_format
    )
    channels_last = data_format == "channels_last"
    shape = (1, height, width, 2) if channels_last else (1, 2, height, width)

    with pytest.raises(ValueError) as error:
        layer(np.zeros(shape, dtype="float32"))

    axis, size, max_size = _reported_image_size(str(error.value))
    sizes = {"height": (height, max_height), "width": (width, max_width)}
    assert (size, max_size) == sizes[axis]
    assert size > max_size

    # The error leaves the layer usable.
    fitting = (1, max_height, max_width, 2) if channels_last else (1, 2, max_height, max_width)
    outputs = layer(np.zeros(fitting, dtype="float32"))
    assert tuple(outputs.shape) == layer.compute_output_shape(fitting)


@property_settings(max_examples=15)
@given(
    data=st.data(),
    max_height=st.integers(1, 6),
    max_width=st.integers(1, 6),
    beta_maps=st.integers(0, 1),
    data_format=st.sampled_from(["channels_last", "channels_first"]),
)
def test_positional_channels_graph_checks_sizes(
    data, max_height, max_width, beta_maps, data_format
):
    layer = PositionalChannel2D(
        beta_maps=beta_maps, max_height=max_height, max_width=max_width, data_format=data_format
    )
    channels_last = data_format == "channels_last"
    signature_shape = [None, None, None, 1] if channels_last else [None, 1, None, None]
    layer.build(signature_shape)
    add_channels = tf.function(lambda x: layer(x), input_signature=[tf.TensorSpec(signature_shape)])

    height = data.draw(st.integers(1, max_height + 3))
    width = data.draw(st.integers(1, max_width + 3))
    shape = (2, height, width, 1) if channels_last else (2, 1, height, width)
    images = np.ones(shape, dtype="float32")

    if height <= max_height and width <= max_width:
        np.testing.assert_array_equal(add_channels(images).numpy(), layer(images).numpy())
        return

    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        add_channels(images)
    axis, size, max_size = _reported_image_size(str(error.value))
    sizes = {"height": (height, max_height), "width": (width, max_width)}
    assert (size, max_size) == sizes[axis]
    assert size > max_size


@property_settings(max_examples=20)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=6).filter(lambda s: len(s) != 4),
    data_format=st.sampled_from(["channels_last", "channels_first"]),
)
def test_positional_channels_wrong_rank_raises_value_error(shape, data_format):
    with pytest.raises(ValueError, match=re.escape(f"input_shape={tuple(shape)}")):
        PositionalChannel2D(data_format=data_format)(np.zeros(shape, dtype="float32"))


@property_settings(max_examples=10, shrink=False)
@given(
    dtype=st.sampled_from(["complex64", "complex128", "string"]),
    shape=st.tuples(st.integers(1, 2), st.integers(1, 5), st.integers(1, 5), st.integers(1, 3)),
)
def test_positional_channels_non_real_images_rejected(dtype, shape):
    if dtype == "string":
        images = tf.fill(shape, "a")
    else:
        images = tf.cast(tf.complex(tf.ones(shape), tf.ones(shape)), dtype)

    with pytest.raises((TypeError, ValueError)):
        PositionalChannel2D(data_format="channels_last")(images)


@property_settings(max_examples=15)
@given(case=positional_channel_cases())
def test_positional_channels_mixed_float16_matches_float32(case):
    arguments, images = case
    images = images.astype("float16")

    mixed = PositionalChannel2D(**arguments, dtype="mixed_float16")(images)
    full = PositionalChannel2D(**arguments)(images)

    assert mixed.dtype == tf.float16
    assert np.isfinite(mixed.numpy()).all()
    np.testing.assert_allclose(mixed.numpy(), full.numpy(), rtol=2e-3, atol=2e-3)


POSITIONAL_CHANNEL_BAD_ARGUMENTS = {
    "sinusoidal_frequencies": st.one_of(st.integers(max_value=-1), st.floats(), st.none()),
    "beta_maps": st.one_of(st.integers(max_value=-1), st.floats(), st.none()),
    "beta_alpha": BAD_POSITIVE_FLOATS,
    "max_height": BAD_SIZES.filter(lambda value: value is not None),
    "data_format": st.text(max_size=12).filter(
        lambda value: value not in ("channels_last", "channels_first")
    ),
}


@pytest.mark.parametrize("argument", sorted(POSITIONAL_CHANNEL_BAD_ARGUMENTS))
@property_settings(max_examples=15)
@given(data=st.data())
def test_positional_channels_bad_arguments_raise_value_error(argument, data):
    value = data.draw(POSITIONAL_CHANNEL_BAD_ARGUMENTS[argument])

    with pytest.raises(ValueError, match=f"`{argument}`") as error:
        PositionalChannel2D(**{argument: value})
    assert repr(value) in str(error.value)
