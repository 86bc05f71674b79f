"""Tasks: what each registry data set feeds a model, how the model is compiled and scored.

A task connects a data loader in `zoo.data` to the models of the registry: it loads the
splits as `tf.data` pipelines, supplies data-dependent builder arguments (vocabulary sizes),
compiles a model with the task's loss and metrics, and gives the serving signature and
small synthetic example batches for tests.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from zoo.data import cmudict_stress, flights, movielens, not_so_clevr, splits, text_corpus
from zoo.data.fashion_mnist import load_fashion_mnist
from zoo.data.image_pipeline import image_dataset, split_validation


class Task:
    """Base class of a task; subclasses set the class attributes and override the methods.

    Attributes:
        name: the data set part of registry names.
        primary_metric: the test metric recorded on model cards.
        higher_is_better: whether a larger `primary_metric` is better.
    """

    name = ""
    primary_metric = ""
    higher_is_better = True

    def load(self, seed=0, max_examples=None):
        """Load the data set; `max_examples` caps its size for quick runs."""
        raise NotImplementedError

    def builder_arguments(self, data):
        """Return builder arguments that depend on the loaded data (e.g. vocabulary sizes)."""
        return {}

    def datasets(self, data, batch_size, seed=0):
        """Return the (train, validation, test) `tf.data.Dataset`s."""
        raise NotImplementedError

    def compile_model(self, model, learning_rate=1e-3):
        """Compile `model` with the task's optimizer, loss and metrics."""
        raise NotImplementedError

    def input_signature(self, arguments):
        """Return the serving `tf.TensorSpec` list for a model built with `arguments`."""
        raise NotImplementedError

    def example_inputs(self, arguments, batch_size, seed=0):
        """Return a synthetic input batch that fits a model built with `arguments`."""
        raise NotImplementedError

    def example_targets(self, arguments, batch_size, seed=0):
        """Return a synthetic target batch that fits a model built with `arguments`."""
        raise NotImplementedError

    def test_metrics(self, model, data, batch_size=1024):
        """Evaluate a compiled model on the test split; return a dict with `primary_metric`."""
        _, _, test = self.datasets(data, batch_size)
        return {name: float(value) for name, value in model.evaluate(test, return_dict=True, verbose=0).items()}


def _adam(learning_rate):
    return keras.optimizers.Adam(learning_rate)


class FashionMnistTask(Task):
    """Fashion-MNIST 10-class image classification; test accuracy on the 10,000 test images."""

    name = "fashion_mnist"
    primary_metric = "accuracy"
    validation_size = 5000

    def load(self, seed=0, max_examples=None):
        return load_fashion_mnist()

    def builder_arguments(self, data):
        return {"image_shape": data.image_shape + (1,), "output_units": data.num_classes}

    def datasets(self, data, batch_size, seed=0):
        (x_train, y_train), (x_validation, y_validation) = split_validation(
            data.x_train, data.y_train, min(self.validation_size, len(data.x_train) // 5), seed
        )
        return (
            image_dataset(x_train, y_train, batch_size, shuffle=True, seed=seed),
            image_dataset(x_validation, y_validation, 1024),
            image_dataset(data.x_test, data.y_test, 1024),
        )

    def compile_model(self, model, learning_rate=1e-3):
        model.compile(
            optimizer=_adam(learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )

    def input_signature(self, arguments):
        return [tf.TensorSpec((None,) + tuple(arguments["image_shape"]), tf.float32)]

    def example_inputs(self, arguments, batch_size, seed=0):
        shape = (batch_size,) + tuple(arguments["image_shape"])
        return np.random.default_rng(seed).uniform(0, 255, shape).astype(np.float32)

    def example_targets(self, arguments, batch_size, seed=0):
        return np.random.default_rng(seed + 1).integers(0, arguments["output_units"], batch_size)


class NotSoClevrTask(Task):
    """CoordConv's Not-so-Clevr: regress the centre of a 9x9 square on a 64x64 canvas.

    The test metric is the mean absolute error of the normalized centre coordinates. On the
    64-pixel canvas, one pixel is 2 / 63 of the [-1, 1] range.
    """

    name = "not_so_clevr"
    primary_metric = "mean_absolute_error"
    higher_is_better = False
    split = "uniform"

    def load(self, seed=0, max_examples=None):
        return not_so_clevr.load_not_so_clevr(split=self.split, seed=seed)

    def builder_arguments(self, data):
        return {"image_shape": (data.canvas_size, data.canvas_size, 1), "output_units": 2}

    def datasets(self, data, batch_size, seed=0):
        return (
            _cast_images(data.train.to_tf_dataset(batch_size, "regression", shuffle=True, seed=seed)),
            _cast_images(data.validation.to_tf_dataset(1024, "regression")),
            _cast_images(data.test.to_tf_dataset(1024, "regression")),
        )

    def compile_model(self, model, learning_rate=1e-3):
        model.compile(
            optimizer=_adam(learning_rate),
            loss="mean_squared_error",
            metrics=[keras.metrics.MeanAbsoluteError(name="mean_absolute_error")],
        )

    input_signature = FashionMnistTask.input_signature
    example_inputs = FashionMnistTask.example_inputs

    def example_targets(self, arguments, batch_size, seed=0):
        return np.random.default_rng(seed + 1).uniform(-1, 1, (batch_size, 2)).astype(np.float32)


def _cast_images(dataset):
    return dataset.map(lambda x, y: (tf.cast(x, tf.float32), y))


class _CategoricalTask(Task):
    """Shared parts of the tabular tasks: dict inputs of int32 columns plus numeric features."""

    categorical_columns = ()
    numeric_columns = ()

    def model_inputs(self, features):
        """Map a loader's feature dict to the feedforward model's input dict."""
        inputs = {column: features[column] for column in self.categorical_columns}
        if self.numeric_columns:
            inputs["numeric"] = np.stack([features[column] for column in self.numeric_columns], axis=1)
        return inputs

    def input_signature(self, arguments):
        signature = {
            column: tf.TensorSpec((None,), tf.int32, name=column) for column in sorted(arguments["cardinalities"])
        }
        if arguments["numeric_features"]:
            signature["numeric"] = tf.TensorSpec((None, arguments["numeric_features"]), tf.float32, name="numeric")
        return [signature]

    def example_inputs(self, arguments, batch_size, seed=0):
        rng = np.random.default_rng(seed)
        inputs = {
            column: rng.integers(0, size, batch_size).astype(np.int32)
            for column, size in arguments["cardinalities"].items()
        }
        if arguments["numeric_features"]:
            inputs["numeric"] = rng.normal(size=(batch_size, arguments["numeric_features"])).astype(np.float32)
        return inputs

    def example_targets(self, arguments, batch_size, seed=0):
        return np.random.default_rng(seed + 1).integers(0, 2, (batch_size, 1)).astype(np.float32)

    def compile_model(self, model, learning_rate=1e-3):
        model.compile(
            optimizer=_adam(learning_rate),
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
            metrics=[
                keras.metrics.AUC(from_logits=True, name="auc"),
                keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy"),
            ],
        )


class FlightsTask(_CategoricalTask):
    """NYC flights 2013: is the arrival more than 15 minutes late? Test AUC on 10% of flights."""

    name = "flights"
    primary_metric = "auc"
    categorical_columns = flights.CATEGORICAL_COLUMNS
    numeric_columns = flights.NUMERIC_COLUMNS

    def load(self, seed=0, max_examples=None):
        return flights.load_flights(seed=seed, max_examples=max_examples)

    def builder_arguments(self, data):
        return {"cardinalities": dict(data.cardinalities), "numeric_features": len(self.numeric_columns)}

    def datasets(self, data, batch_size, seed=0):
        def to_dataset(split, size, shuffle):
            labels = split.labels.astype(np.float32)[:, None]
            return splits.to_tf_dataset(
                self.model_inputs(split.features), labels, batch_size=size, shuffle=shuffle, seed=seed
            )

        return to_dataset(data.train, batch_size, True), to_dataset(data.validation, 4096, False), to_dataset(data.test, 4096, False)


class MovielensTask(_CategoricalTask):
    """MovieLens ratings: does the user rate the movie 4 stars or more? Test AUC."""

    name = "movielens"
    primary_metric = "auc"
    categorical_columns = movielens.INPUT_COLUMNS

    def load(self, seed=0, max_examples=None):
        return movielens.load_movielens(seed=seed, max_examples=max_examples)

    def builder_arguments(self, data):
        return {"cardinalities": dict(data.cardinalities), "numeric_features": 0}

    def datasets(self, data, batch_size, seed=0):
        def to_dataset(split, size, shuffle):
            labels = split.liked.astype(np.float32)[:, None]
            return splits.to_tf_dataset(
                self.model_inputs(split.features), labels, batch_size=size, shuffle=shuffle, seed=seed
            )

        return to_dataset(data.train, batch_size, True), to_dataset(data.validation, 4096, False), to_dataset(data.test, 4096, False)


class _SequenceTask(Task):
    """Shared parts of the token-sequence tasks: int32 ids (batch, length), 0 is padding."""

    def input_signature(self, arguments):
        return [tf.TensorSpec((None, None), tf.int32, name="token_ids")]

    def example_inputs(self, arguments, batch_size, seed=0):
        rng = np.random.default_rng(seed)
        length = min(arguments["max_length"], 12)
        ids = rng.integers(1, arguments["vocabulary_size"], (batch_size, length)).astype(np.int32)
        lengths = rng.integers(length // 2, length + 1, batch_size)
        ids[np.arange(length)[None, :] >= lengths[:, None]] = 0  # right padding
        return ids


class CmudictStressTask(_SequenceTask):
    """Primary-stress syllable from a word's spelling (CMU dictionary); test accuracy.

    The classes are imbalanced, so recipes also report macro-F1; the card keeps accuracy.
    """

    name = "cmudict_stress"
    primary_metric = "accuracy"

    def load(self, seed=0, max_examples=None):
        return cmudict_stress.load_cmudict_stress(seed=seed, max_examples=max_examples)

    def builder_arguments(self, data):
        return {
            "vocabulary_size": data.vocabulary_size,
            "num_classes": data.num_classes,
            "max_length": data.max_length,
        }

    def datasets(self, data, batch_size, seed=0):
        return (
            data.train.to_tf_dataset(batch_size, shuffle=True, seed=seed),
            data.validation.to_tf_dataset(1024),
            data.test.to_tf_dataset(1024),
        )

    compile_model = FashionMnistTask.compile_model

    def example_targets(self, arguments, batch_size, seed=0):
        return np.random.default_rng(seed + 1).integers(0, arguments["num_classes"], batch_size)


class PythonTextTask(_SequenceTask):
    """Character (byte) level language modelling of the CPython standard library source.

    The test metric is bits per character: the mean next-byte cross-entropy in bits.
    """

    name = "python_stdlib"
    primary_metric = "bits_per_character"
    higher_is_better = False
    sequence_length = 128
    max_characters = 3_000_000

    def load(self, seed=0, max_examples=None):
        return text_corpus.load_stdlib_corpus(max_characters=max_examples or self.max_characters, seed=seed)

    def builder_arguments(self, data):
        return {"vocabulary_size": data.vocabulary_size, "max_length": self.sequence_length}

    def datasets(self, data, batch_size, seed=0):
        return (
            data.train.to_tf_dataset(self.sequence_length, batch_size, shuffle=True, seed=seed),
            data.validation.to_tf_dataset(self.sequence_length, 256),
            data.test.to_tf_dataset(self.sequence_length, 256),
        )

    def compile_model(self, model, learning_rate=1e-3):
        model.compile(
            optimizer=_adam(learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )

    def example_targets(self, arguments, batch_size, seed=0):
        length = min(arguments["max_length"], 12)
        return np.random.default_rng(seed + 1).integers(1, arguments["vocabulary_size"], (batch_size, length))

    def test_metrics(self, model, data, batch_size=256):
        metrics = super().test_metrics(model, data, batch_size)
        metrics["bits_per_character"] = metrics["loss"] / math.log(2)
        return metrics


TASKS = {
    task.name: task
    for task in (
        FashionMnistTask(), NotSoClevrTask(), FlightsTask(), MovielensTask(),
        CmudictStressTask(), PythonTextTask(),
    )
}


def get_task(name):
    """Return the task registered as `name`."""
    if name not in TASKS:
        raise ValueError(f"Unknown task {name!r}. Tasks: {sorted(TASKS)}.")
    return TASKS[name]
