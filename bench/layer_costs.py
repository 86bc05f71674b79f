"""Our layers against their nearest Keras or keras-hub equivalents, in the same model.

- Positional encodings: `BetaPositionalEncoding` against keras-hub `SinePositionEncoding` and
  `PositionEmbedding`, inside the zoo's encoder classifier.
- `PositionalChannel2D` against a `Concatenate` of a precomputed coordinate tensor.
- `OneHotInput` (dense, and sparse into `SparseDense`) against `keras.ops.one_hot` + `Dense`
  and `Embedding`: train step time and peak RSS at vocabularies of 1k and 50k.
"""

import os
import subprocess
import sys

import keras
import numpy as np
from keras import ops

from bench.common import interleaved_step_times, markdown_table
from bench.common import train_step_function, verdict
from layers.one_hot_input import OneHotInput
from layers.positional_channel_2d import PositionalChannel2D
from layers.sparse_dense import SparseDense
from zoo.transformer import build_encoder_classifier

POSITIONAL_LIMIT = 1.03
ONE_HOT_LIMIT = 1.5


def _token_batch(batch_size, length, vocabulary_size, num_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocabulary_size, (batch_size, length)).astype("int32")
    return ids, rng.integers(0, num_classes, batch_size).astype("int32")


def _compile(model, jit_compile=False):
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    return model


def positional_encodings(settings):
    """Return the Markdown section on positional-encoding step times in one encoder model."""
    batch_size, length = 64, settings.scaled(128, 128, 16)
    ids, labels = _token_batch(batch_size, length, 1000)
    schemes = {"beta (ours)": "beta", "sinusoidal (keras-hub)": "sinusoidal", "learned (keras-hub)": "learned"}
    steps = {}
    for label, scheme in schemes.items():
        model = build_encoder_classifier(1000, 2, max_length=length, positional=scheme, dropout=0.0)
        steps[label] = train_step_function(_compile(model), ids, labels)

    times = interleaved_step_times(steps, settings.warmup, settings.rounds, steps_per_round=3)
    beta = times["beta (ours)"]
    rows = []
    for label, seconds in times.items():
        ratio = beta / seconds
        target = "-" if label.startswith("beta") else verdict(ratio, POSITIONAL_LIMIT)
        rows.append([label, seconds * 1e3, ratio, target])
    text = (
        f"Zoo encoder classifier (vocabulary 1,000, hidden 64, 2 blocks, dropout 0), batch {batch_size}, "
        f"length {length}; median train step. Ratio = beta step time / this row's step time; "
        f"target <= {POSITIONAL_LIMIT}.\n\n"
    )
    return text + markdown_table(["positional layer", "step ms", "beta / this", "target"], rows), {
        "beta_vs_sinusoidal": beta / times["sinusoidal (keras-hub)"],
        "beta_vs_learned": beta / times["learned (keras-hub)"],
    }


def _coordinate_tensor(batch_size, height, width):
    """Return the CoordConv x and y channels for a batch, precomputed with NumPy."""
    x = np.linspace(-1.0, 1.0, width, dtype="float32")
    y = np.linspace(-1.0, 1.0, height, dtype="float32")
    grid = np.stack(np.meshgrid(x, y), axis=-1)
    return np.broadcast_to(grid, (batch_size, height, width, 2)).copy()


def _small_convnet(front, image_shape, filters):
    """Build the zoo's ConvNet stack with positional channels from `front`: layer or concat."""
    images = keras.Input(shape=image_shape, name="images")
    inputs = [images]
    x = keras.layers.Rescaling(1.0 / 255.0)(images)
    if front == "layer":
        x = PositionalChannel2D()(x)
    else:
        coordinates = keras.Input(shape=image_shape[:2] + (2,), name="coordinates")
        inputs.append(coordinates)
        x = keras.layers.Concatenate()([x, coordinates])
    for block, block_filters in enumerate(filters):
        x = keras.layers.Conv2D(block_filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(block_filters, 3, padding="same", activation="relu")(x)
        if block < len(filters) - 1:
            x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


def positional_channels(settings):
    """Return the Markdown section on PositionalChannel2D against a precomputed Concatenate."""
    batch_size, size = 64, settings.scaled(28, 28, 8)
    filters = settings.scaled((32, 64), (32, 64), (4, 8))
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch_size, size, size, 1)).astype("float32")
    labels = rng.integers(0, 10, batch_size).astype("int32")
    coordinates = _coordinate_tensor(batch_size, size, size)

    layer_model = _compile(_small_convnet("layer", (size, size, 1), filters))
    concat_model = _compile(_small_convnet("concat", (size, size, 1), filters))
    times = interleaved_step_times(
        {
            "PositionalChannel2D": train_step_function(layer_model, images, labels),
            "Concatenate(precomputed)": train_step_function(concat_model, [images, coordinates], labels),
        },
        settings.warmup, settings.rounds, steps_per_round=3,
    )
    ratio = times["PositionalChannel2D"] / times["Concatenate(precomputed)"]
    rows = [[name, seconds * 1e3] for name, seconds in times.items()]
    text = (
        f"ConvNet filters {filters}, {size}x{size}x1 images, batch {batch_size}; median train step. "
        f"PositionalChannel2D / Concatenate = {ratio:.3f} (target <= {POSITIONAL_LIMIT}: "
        f"{verdict(ratio, POSITIONAL_LIMIT)}).\n\n"
    )
    return text + markdown_table(["front", "step ms"], rows), {"channels_vs_concat": ratio}


class KerasOneHot(keras.layers.Layer):
    """`keras.ops.one_hot` as a layer: the Keras baseline, without a range check."""

    def __init__(self, num_tokens, **kwargs):
        super().__init__(**kwargs)
        self.num_tokens = num_tokens
        self.autocast = False

    def call(self, ids):
        return ops.one_hot(ids, self.num_tokens, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.num_tokens)


def one_hot_model(encoding, vocabulary_size, units=64):
    """Build ids -> encoding (width `units`) -> masked mean -> 2 logits.

    Encodings: "embedding", "keras_one_hot" (`ops.one_hot` + Dense), "one_hot_input"
    (`OneHotInput` + Dense) and "one_hot_sparse" (`OneHotInput(sparse=True)` + `SparseDense`).
    Every dense variant has a bias-free kernel, so it has the same parameters as the embedding.
    """
    ids = keras.Input(shape=(None,), dtype="int32")
    if encoding == "embedding":
        x = keras.layers.Embedding(vocabulary_size, units)(ids)
    elif encoding == "keras_one_hot":
        x = keras.layers.Dense(units, use_bias=False)(KerasOneHot(vocabulary_size)(ids))
    elif encoding == "one_hot_input":
        x = keras.layers.Dense(units, use_bias=False)(OneHotInput(vocabulary_size)(ids))
    elif encoding == "one_hot_sparse":
        x = SparseDense(units, use_bias=False)(OneHotInput(vocabulary_size, sparse=True)(ids))
    else:
        raise ValueError(f"Unknown encoding {encoding!r}.")
    x = keras.layers.GlobalAveragePooling1D()(x)
    return _compile(keras.Model(ids, keras.layers.Dense(2)(x)))


_MEMORY_SCRIPT = """
import resource, sys
import numpy as np
from bench.layer_costs import one_hot_model
encoding, vocabulary_size, batch_size, length = sys.argv[1], *map(int, sys.argv[2:5])
rng = np.random.default_rng(0)
ids = rng.integers(1, vocabulary_size, (batch_size, length)).astype("int32")
labels = rng.integers(0, 2, batch_size)
model = one_hot_model(encoding, vocabulary_size)
for _ in range(3):
    model.train_on_batch(ids, labels)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_in_subprocesses(vocabulary_size, batch_size, length):
    """Return the peak RSS in MiB of 3 train steps of each one-hot encoding, one process each.

    `tf.config.experimental.get_memory_info('CPU:0')` returns zeros on CPU in TensorFlow 2.21,
    and a process's peak RSS never goes down, so each case runs in a fresh process. The
    processes run at the same time, because only their memory is measured.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    processes = {
        label: subprocess.Popen(
            [sys.executable, "-c", _MEMORY_SCRIPT, encoding, str(vocabulary_size), str(batch_size), str(length)],
            cwd=root, env=environment, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        for label, encoding in ONE_HOT_ENCODINGS.items()
    }
    memory = {}
    for label, process in processes.items():
        output, _ = process.communicate(timeout=900)
        lines = output.split()
        memory[label] = int(lines[-1]) / 1024.0 if process.returncode == 0 and lines else "failed"
    return memory


ONE_HOT_ENCODINGS = {
    "Embedding": "embedding",
    "OneHotInput(sparse) + SparseDense": "one_hot_sparse",
    "OneHotInput + Dense": "one_hot_input",
    "ops.one_hot + Dense": "keras_one_hot",
}


def one_hot_inputs(settings):
    """Return the Markdown section on one-hot against embedding train steps and peak memory."""
    batch_size, length = settings.scaled(64, 64, 4), settings.scaled(128, 128, 8)
    vocabularies = settings.scaled((1_000, 50_000), (1_000, 50_000), (100, 500))
    rows, ratios = [], {}
    for vocabulary_size in vocabularies:
        ids, labels = _token_batch(batch_size, length, vocabulary_size)
        memory = {}
        if not (settings.quick or settings.tiny) or vocabulary_size == vocabularies[-1]:
            memory = peak_rss_in_subprocesses(vocabulary_size, batch_size, length)
        steps = {}
        for label, encoding in ONE_HOT_ENCODINGS.items():
            model = one_hot_model(encoding, vocabulary_size)
            steps[label] = train_step_function(model, ids, labels)

        # The dense one-hot cases at 50k take about a second per step, so they get fewer rounds.
        rounds = max(1, settings.rounds // 2) if vocabulary_size > 10_000 else settings.rounds
        times = interleaved_step_times(steps, 0, rounds)
        embedding = times["Embedding"]
        for label, seconds in times.items():
            ratio = seconds / embedding
            rows.append([f"{vocabulary_size:,}", label, seconds * 1e3, ratio, memory.get(label, "-")])
        ratios[vocabulary_size] = times["OneHotInput(sparse) + SparseDense"] / embedding

    largest = vocabularies[-1]
    text = (
        f"ids (batch {batch_size}, length {length}) -> encoding to width 64 -> masked mean -> 2 logits, "
        "Adam; median train step. Peak RSS = `ru_maxrss` of a fresh process that builds the model "
        "and runs 3 train steps (the TensorFlow import alone accounts for a few hundred MiB). Target: OneHotInput(sparse) + SparseDense "
        f"within {ONE_HOT_LIMIT}x of Embedding at vocabulary {largest:,}: "
        f"{ratios[largest]:.2f}x ({verdict(ratios[largest], ONE_HOT_LIMIT)}).\n\n"
    )
    table = markdown_table(["vocabulary", "encoding", "step ms", "/ Embedding", "peak RSS MiB"], rows)
    return text + table, {"sparse_vs_embedding": ratios}


def run(settings):
    """Run every layer benchmark; return Markdown sections and the target ratios."""
    sections, ratios = [], {}
    for title, function in (
        ("Positional encodings in the same encoder", positional_encodings),
        ("PositionalChannel2D against a precomputed Concatenate", positional_channels),
        ("One-hot inputs against Embedding", one_hot_inputs),
    ):
        text, values = function(settings)
        sections.append(f"### {title}\n\n{text}")
        ratios.update(values)
    return sections, ratios
