"""Feedforward models for categorical and numeric columns, with five input encodings.

The variants put two common claims to a test. First: one-hot inputs (0/1 columns, not
zero-mean) train slower and generalize worse than an embedding lookup initialized
normal(0, 1), although an embedding is a bias-free Dense layer on one-hot input. Second: an
embedding followed directly by a linear layer is redundant, so it can be frozen. All
variants share the same MLP head, so only the input encoding differs.

Initializers are named because Keras defaults differ from PyTorch's: Keras `Embedding`
starts uniform(-0.05, 0.05), PyTorch `nn.Embedding` starts normal(0, 1), and Keras `Dense`
starts Glorot-uniform.
"""

import keras

from layers.frozen_embedding import FrozenEmbedding
from layers.one_hot_input import OneHotInput

# Input encoding variants and what each puts in front of the shared MLP head.
ENCODINGS = {
    "onehot": "OneHotInput (0/1 columns) per categorical column",
    "onehot_standardized": "OneHotInput with columns standardized to zero mean, unit variance",
    "embedding_uniform": "trainable Embedding, Keras default uniform(-0.05, 0.05) init",
    "embedding_normal": "trainable Embedding, normal(0, 1) init",
    "frozen": "FrozenEmbedding: normal(0, 1) init, never trained",
}


def _validate(cardinalities, numeric_features, encoding, embedding_dim, hidden_units, output_units):
    if encoding not in ENCODINGS:
        raise ValueError(
            f"Unknown feedforward `encoding` {encoding!r}. Use one of {sorted(ENCODINGS)}."
        )
    if not cardinalities:
        raise ValueError("`cardinalities` must map at least one categorical column to its size.")
    for column, size in cardinalities.items():
        if isinstance(size, bool) or not isinstance(size, int) or size < 2:
            raise ValueError(
                f"Cardinality of column {column!r} must be an integer >= 2. Received: {size!r}"
            )
    for argument, value, minimum in (
        ("numeric_features", numeric_features, 0),
        ("embedding_dim", embedding_dim, 1),
        ("output_units", output_units, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"`{argument}` must be an integer >= {minimum}. Received: {argument}={value!r}")
    if any(isinstance(units, bool) or not isinstance(units, int) or units < 1 for units in hidden_units):
        raise ValueError(f"`hidden_units` must hold positive integers. Received: hidden_units={hidden_units!r}")


def encode_column(ids, column, cardinality, encoding, embedding_dim, seed):
    """Encode one categorical column of int32 ids (batch,) into a float (batch, width) tensor.

    Args:
        ids: symbolic int32 ids of one column.
        column: column name, used in layer names.
        cardinality: number of ids, including the id 0 for unknown values.
        encoding: a key of `ENCODINGS`.
        embedding_dim: width of the embedding variants.
        seed: initializer seed.

    Example:
    >>> carrier = keras.Input(shape=(), dtype="int32", name="carrier")
    >>> encode_column(carrier, "carrier", 17, "embedding_normal", 8, seed=0)
    """
    if encoding in ("onehot", "onehot_standardized"):
        return OneHotInput(
            cardinality, standardize=encoding == "onehot_standardized", name=f"{column}_onehot"
        )(ids)
    if encoding == "frozen":
        return FrozenEmbedding(
            cardinality, embedding_dim,
            embeddings_initializer=keras.initializers.RandomNormal(0.0, 1.0, seed=seed),
            name=f"{column}_embedding",
        )(ids)
    initializer = (
        keras.initializers.RandomUniform(-0.05, 0.05, seed=seed)
        if encoding == "embedding_uniform"
        else keras.initializers.RandomNormal(0.0, 1.0, seed=seed)
    )
    return keras.layers.Embedding(
        cardinality, embedding_dim, embeddings_initializer=initializer, name=f"{column}_embedding"
    )(ids)


def build_feedforward(
    cardinalities,
    numeric_features=0,
    encoding="embedding_normal",
    embedding_dim=16,
    hidden_units=(128, 64),
    output_units=1,
    dropout=0.1,
    seed=0,
    name=None,
):
    """Build an MLP over categorical columns (encoded by `encoding`) and numeric columns.

    Inputs are a dict: one int32 input of shape (batch,) per categorical column, named after
    the column, plus a float32 input `numeric` of shape (batch, numeric_features) when
    `numeric_features > 0`. Ids must lie in [0, cardinality); id 0 is the unknown value.

    Args:
        cardinalities: dict column name -> number of ids (vocabulary size + 1).
        numeric_features: width of the `numeric` input, 0 for none.
        encoding: input encoding, a key of `ENCODINGS`.
        embedding_dim: embedding width per column (embedding and frozen variants).
        hidden_units: widths of the ReLU hidden layers of the shared head (Glorot-uniform init).
        output_units: outputs (1 logit for binary labels, or K logits, or regression targets).
        dropout: dropout rate after each hidden layer.
        seed: seed of the embedding initializers.
        name: model name; defaults to `feedforward_<encoding>`.

    Returns:
        A `keras.Model` from the input dict to (batch, output_units) outputs.

    Example:
    >>> model = build_feedforward({"carrier": 17, "dest": 106}, numeric_features=2,
    ...                           encoding="onehot")
    """
    hidden_units = tuple(hidden_units)
    _validate(cardinalities, numeric_features, encoding, embedding_dim, hidden_units, output_units)

    inputs = {}
    encoded = []
    for index, (column, cardinality) in enumerate(sorted(cardinalities.items())):
        inputs[column] = keras.Input(shape=(), dtype="int32", name=column)
        encoded.append(
            encode_column(inputs[column], column, cardinality, encoding, embedding_dim, seed + index)
        )
    if numeric_features:
        inputs["numeric"] = keras.Input(shape=(numeric_features,), dtype="float32", name="numeric")
        encoded.append(inputs["numeric"])

    x = encoded[0] if len(encoded) == 1 else keras.layers.Concatenate(name="features")(encoded)
    for index, units in enumerate(hidden_units):
        x = keras.layers.Dense(units, activation="relu", name=f"hidden_{index}")(x)
        x = keras.layers.Dropout(dropout, name=f"dropout_{index}")(x)
    outputs = keras.layers.Dense(output_units, name="outputs")(x)
    return keras.Model(inputs, outputs, name=name or f"feedforward_{encoding}")


def adapt_feedforward(model, features):
    """Adapt the column statistics of standardized one-hot layers to training features.

    Only the `onehot_standardized` encoding has statistics; for other encodings this does
    nothing. Call it once on the training split before `fit`.

    Args:
        model: a model from `build_feedforward`.
        features: dict column name -> int ids of the training split.

    Example:
    >>> adapt_feedforward(model, data.train.features)
    """
    for layer in model.layers:
        if isinstance(layer, OneHotInput) and layer.standardize:
            column = layer.name[: -len("_onehot")]
            layer.adapt(features[column])
