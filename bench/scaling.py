"""Cost growth of train steps with vocabulary size, sequence length and image size."""

import numpy as np

import zoo
from bench.common import interleaved_step_times, markdown_table, train_step_function
from bench.layer_costs import one_hot_model


def _growth_rows(label, values, times):
    base_value, base_time = values[0], times[values[0]]
    return [
        [label, f"{value:,}", times[value] * 1e3, times[value] / base_time, value / base_value]
        for value in values
    ]


def vocabulary(settings):
    """Time Embedding and OneHotInput(sparse) + SparseDense train steps over vocabulary sizes."""
    values = settings.scaled((1_000, 5_000, 20_000, 50_000), (1_000, 50_000), (100, 400))
    batch_size, length = settings.scaled(64, 64, 4), settings.scaled(128, 128, 8)
    rng = np.random.default_rng(0)
    rows = []
    for encoding in ("embedding", "one_hot_sparse"):
        steps = {}
        for size in values:
            ids = rng.integers(1, size, (batch_size, length)).astype("int32")
            labels = rng.integers(0, 2, batch_size)
            steps[size] = train_step_function(one_hot_model(encoding, size), ids, labels)
        rows += _growth_rows(f"{encoding}, vocabulary", values, interleaved_step_times(
            steps, settings.warmup, settings.rounds))
    return rows


def sequence_length(settings):
    """Time the zoo causal LM's train step over sequence lengths at a fixed number of tokens."""
    values = settings.scaled((64, 128, 256, 512, 1024), (64, 256, 1024), (8, 16))
    tokens = settings.scaled(8192, 8192, 64)
    overrides = {} if not settings.tiny else zoo.get_spec("transformer-decoder_sinusoidal.python_stdlib").tiny_arguments
    rng = np.random.default_rng(0)
    steps = {}
    for length in values:
        model = zoo.create("transformer-decoder_sinusoidal.python_stdlib", max_length=length, **overrides)
        ids = rng.integers(1, 258, (tokens // length, length)).astype("int32")
        steps[length] = train_step_function(model, ids, ids)
    return _growth_rows(f"causal LM, {tokens:,} tokens per batch, length", values, interleaved_step_times(
        steps, settings.warmup, settings.rounds))


def image_size(settings):
    """Time the zoo ConvNet with coordinate channels over image sizes at batch 32."""
    values = settings.scaled((28, 56, 112), (28, 112), (8, 16))
    overrides = {} if not settings.tiny else zoo.get_spec("convnet-coords.fashion_mnist").tiny_arguments
    rng = np.random.default_rng(0)
    steps = {}
    for size in values:
        model = zoo.create("convnet-coords.fashion_mnist", image_shape=(size, size, 1), **overrides)
        images = rng.uniform(0, 255, (32, size, size, 1)).astype("float32")
        steps[size] = train_step_function(model, images, rng.integers(0, 10, 32))
    return _growth_rows("ConvNet coords, batch 32, image side", values, interleaved_step_times(
        steps, settings.warmup, settings.rounds))


def run(settings):
    """Return the Markdown section on cost growth."""
    rows = vocabulary(settings) + sequence_length(settings) + image_size(settings)
    text = (
        "### Cost growth\n\nEach row's step time relative to the first size of its group "
        "(`cost x`), beside the growth of the size itself (`size x`). The causal LM keeps the "
        "tokens per batch fixed, so a cost that grows with length comes from attention.\n\n"
    )
    columns = ["group", "size", "step ms", "cost x", "size x"]
    return [text + markdown_table(columns, rows)], {}
