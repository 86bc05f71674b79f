"""Serving latency and on-disk size of the pretrained zoo models.

Three ways to run a pretrained model on a batch: the exported SavedModel's `serve` endpoint
(`zoo.load(name, format="saved_model")`), the Keras model's `predict_on_batch` and a direct
eager call `model(x)` (`zoo.load(name)`). Each gets the batch as NumPy arrays, as a user
calling it on prepared data would; `serve` is also timed on tensors made beforehand.
"""

import os
import time

import numpy as np
import tensorflow as tf

import zoo
from bench.common import markdown_table, percentiles, verdict
from zoo import pretrained

SERVING_LIMIT = 1.2


def _directory_bytes(path):
    return sum(
        os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names
    )


def _interleaved_latencies(functions, calls):
    """Time each function `calls` times, one call of each in turn, after one warm-up call each.

    Returns:
        dict name -> (p50, p95) in milliseconds.
    """
    for function in functions.values():
        function()
    durations = {name: [] for name in functions}
    for _ in range(calls):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            durations[name].append(time.perf_counter() - start)
    return {name: percentiles(values) for name, values in durations.items()}


def _batch(name, batch_size):
    spec = zoo.get_spec(name)
    return zoo.get_task(spec.dataset).example_inputs(spec.resolve_arguments(), batch_size)


def _serving_inputs(serving, inputs, convert=tf.constant):
    """Cast inputs to the dtypes of the `serve` signature: tensors, or NumPy arrays with `convert=np.asarray`."""
    specs = serving.signatures["serve"].structured_input_signature[1]
    if isinstance(inputs, dict):
        return [{key: convert(value, dtype=specs[key].dtype.as_numpy_dtype) for key, value in inputs.items()}]
    return [convert(inputs, dtype=next(iter(specs.values())).dtype.as_numpy_dtype)]


def run(settings):
    """Return the Markdown sections on serving latency and on-disk sizes."""
    names = zoo.list_models(pretrained=True)
    if settings.quick or settings.tiny:
        quick_names = ("convnet-coords.fashion_mnist", "transformer-encoder_sinusoidal.cmudict_stress")
        names = [name for name in names if name in quick_names]
    calls = settings.scaled(200, 60, 5)
    latency_rows, size_rows, worst = [], [], 0.0
    for name in names:
        model = zoo.load(name)
        serving = zoo.load(name, format="saved_model")
        for batch_size in (1, 64):
            inputs = _batch(name, batch_size)
            serve_tensors = _serving_inputs(serving, inputs)
            serve_arrays = _serving_inputs(serving, inputs, convert=np.asarray)
            results = _interleaved_latencies({
                "SavedModel serve, tensors": lambda: serving.serve(*serve_tensors),
                "SavedModel serve, NumPy": lambda: serving.serve(*serve_arrays),
                "predict_on_batch, NumPy": lambda: model.predict_on_batch(inputs),
                "eager model(x), NumPy": lambda: model(inputs, training=False),
            }, calls)
            # Both sides of the target take the same NumPy input, so both pay its conversion.
            ratio = results["predict_on_batch, NumPy"][0] / results["SavedModel serve, NumPy"][0]
            if batch_size == 1:
                worst = max(worst, ratio)
            for method, (p50, p95) in results.items():
                latency_rows.append([name, batch_size, method, p50, p95])
            latency_rows.append([name, batch_size, "predict_on_batch / serve (p50)", ratio,
                                 verdict(ratio, SERVING_LIMIT) if batch_size == 1 else "-"])

        folder = pretrained.entry_dir(name)
        raw = sum(np.asarray(weight).nbytes for weight in model.get_weights())
        size_rows.append([
            name, f"{model.count_params():,}", f"{raw / 1024:,.0f}",
            f"{os.path.getsize(os.path.join(folder, 'model.keras')) / 1024:,.0f}",
            f"{_directory_bytes(os.path.join(folder, 'saved_model', 'variables')) / 1024:,.0f}",
            f"{_directory_bytes(os.path.join(folder, 'saved_model')) / 1024:,.0f}",
        ])

    latency = (
        f"### Serving latency\n\n{calls} calls of each method after one warm-up call, one call of "
        "each method in turn, milliseconds. Target: "
        f"`predict_on_batch` p50 at batch 1 within {SERVING_LIMIT}x of the SavedModel's `serve`, both "
        "given the same NumPy arrays (the last row of each group gives p50 ratio and verdict). The "
        "`serve, tensors` row shows what the conversion of NumPy input costs.\n\n"
    )
    latency += markdown_table(["model", "batch", "method", "p50 ms", "p95 ms"], latency_rows)
    sizes = (
        "### On-disk sizes (KiB)\n\nraw = bytes of all weights (optimizer state excluded); "
        "model.keras holds the weights, the config and the optimizer state.\n\n"
    )
    sizes += markdown_table(
        ["model", "parameters", "raw weights", "model.keras", "SavedModel variables/", "SavedModel total"],
        size_rows,
    )
    return [latency, sizes], {"serving_worst": worst}
