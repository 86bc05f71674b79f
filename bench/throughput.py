"""Training throughput and model FLOPs utilization (MFU) of the zoo families.

FLOPs are counted analytically from the builder arguments: 2 FLOPs per multiply-add of every
matrix multiplication and convolution (dense and attention projections, attention scores and
weighted sums, feed-forward layers, convolutions, heads). Element-wise ops, normalization,
softmax and embedding lookups are left out. A training step counts as 3x the forward FLOPs
(the backward pass costs about twice the forward). MFU = counted FLOPs per second / the
measured `tf.linalg.matmul` peak of the same run and dtype.
"""

import time

import keras
import keras_hub
import numpy as np
import tensorflow as tf

import zoo
from bench.common import interleaved_step_times, markdown_table, train_step_function

TRAIN_FLOPS_FACTOR = 3


def matmul_peak(dtype, size, repeats):
    """Return the best GFLOP/s of a square `tf.linalg.matmul` in a `tf.function`.

    The best of `repeats` calls, not the median, because a peak is sought and other processes
    on a shared CPU only ever slow a call down.
    """
    rng = np.random.default_rng(0)
    a = tf.cast(tf.constant(rng.normal(size=(size, size)).astype("float32")), dtype)
    b = tf.cast(tf.constant(rng.normal(size=(size, size)).astype("float32")), dtype)
    matmul = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.linalg.matmul(x, y)[0, 0], tf.float32)))

    matmul(a, b).numpy()
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).numpy()
        durations.append(time.perf_counter() - start)
    return 2.0 * size**3 / min(durations) / 1e9


def transformer_flops(arguments, batch_size, length, causal):
    """Return forward FLOPs of a zoo transformer (or the same-size keras-hub stack)."""
    d, f = arguments["hidden_dim"], arguments["intermediate_dim"]
    per_token = arguments["num_layers"] * (8 * d * d + 4 * d * f + 4 * length * d)
    head = 2 * d * (arguments["vocabulary_size"] * length if causal else arguments["num_classes"])
    return batch_size * (length * per_token + head)


def convnet_flops(arguments, batch_size, positional_channels=0):
    """Return forward FLOPs of a zoo ConvNet (two 3x3 convolutions per block)."""
    height, width, channels = arguments["image_shape"]
    channels += positional_channels
    total = 0
    filters = tuple(arguments["filters"])
    for block, block_filters in enumerate(filters):
        total += 2 * height * width * 9 * (channels * block_filters + block_filters * block_filters)
        channels = block_filters
        if block < len(filters) - 1:
            height, width = height // 2, width // 2
    return batch_size * (total + 2 * channels * arguments["output_units"])


def feedforward_flops(arguments, batch_size):
    """Return forward FLOPs of a zoo feedforward model; one-hot columns count as matmuls."""
    encoding = arguments["encoding"]
    cardinalities = arguments["cardinalities"]
    one_hot = encoding.startswith("onehot")
    width = sum(cardinalities.values()) if one_hot else arguments["embedding_dim"] * len(cardinalities)
    width += arguments["numeric_features"]
    total = 0
    for units in tuple(arguments["hidden_units"]) + (arguments["output_units"],):
        total += 2 * width * units
        width = units
    return batch_size * total


def _family_case(name, batch_size, overrides, length=None):
    """Return (model, inputs, targets, forward FLOPs, examples, tokens) for a zoo model."""
    spec = zoo.get_spec(name)
    arguments = spec.resolve_arguments(**overrides)
    model = zoo.create(name, **overrides)
    task = zoo.get_task(spec.dataset)
    rng = np.random.default_rng(0)

    if spec.family == "transformer":
        causal = "decoder" in spec.variant
        inputs = rng.integers(1, arguments["vocabulary_size"], (batch_size, length)).astype("int32")
        if causal:
            targets = rng.integers(1, arguments["vocabulary_size"], (batch_size, length))
        else:
            targets = rng.integers(0, arguments["num_classes"], batch_size)
        flops = transformer_flops(arguments, batch_size, length, causal)
        return model, inputs, targets, flops, batch_size * length

    inputs = task.example_inputs(arguments, batch_size)
    targets = task.example_targets(arguments, batch_size)
    if spec.family == "convnet":
        flops = convnet_flops(arguments, batch_size)
    else:
        flops = feedforward_flops(arguments, batch_size)
    return model, inputs, targets, flops, None


def family_cases(settings):
    """Return the zoo models timed for throughput: default and larger sizes of each family."""
    cases = [
        ("convnet-none.fashion_mnist", "default", 128, {}, None),
        ("convnet-none.fashion_mnist", "filters (64, 128)", 128, {"filters": (64, 128)}, None),
        ("feedforward-embedding_normal.flights", "default", 512, {}, None),
        ("feedforward-embedding_normal.flights", "hidden (512, 256)", 512,
         {"hidden_units": (512, 256), "embedding_dim": 64}, None),
        ("transformer-encoder_sinusoidal.cmudict_stress", "default", 256, {}, 16),
        ("transformer-decoder_sinusoidal.python_stdlib", "default", 64, {}, 128),
        ("transformer-decoder_sinusoidal.python_stdlib", "hidden 256, 4 blocks", 32,
         {"hidden_dim": 256, "intermediate_dim": 1024, "num_layers": 4, "num_heads": 8}, 128),
    ]
    if settings.tiny:
        return [(name, size, 8, dict(overrides, **zoo.get_spec(name).tiny_arguments), length and 8)
                for name, size, _, overrides, length in cases[::2]]
    return cases


def families(settings, peaks):
    """Return the Markdown section on zoo family throughput and MFU."""
    rows = []
    for name, size, batch_size, overrides, length in family_cases(settings):
        model, inputs, targets, flops, tokens = _family_case(name, batch_size, overrides, length)
        seconds = interleaved_step_times(
            {name: train_step_function(model, inputs, targets)}, settings.warmup, settings.rounds
        )[name]
        train_flops = TRAIN_FLOPS_FACTOR * flops / seconds
        rows.append([
            name, size, batch_size, seconds * 1e3, batch_size / seconds,
            f"{tokens / seconds:,.0f}" if tokens else "-", train_flops / 1e9,
            f"{100.0 * train_flops / 1e9 / peaks['float32']:.1f}%",
        ])
    columns = ["model", "size", "batch", "step ms", "examples/s", "tokens/s", "GFLOP/s", "MFU (fp32)"]
    return markdown_table(columns, rows)


def hub_reference_stack(vocabulary_size, num_classes, length, hidden_dim, num_heads, intermediate_dim,
                        num_layers):
    """Build the keras-hub encoder classifier with the zoo transformer's sizes and layout."""
    ids = keras.Input(shape=(None,), dtype="int32")
    x = keras_hub.layers.TokenAndPositionEmbedding(
        vocabulary_size, length, hidden_dim, mask_zero=True
    )(ids)
    for _ in range(num_layers):
        x = keras_hub.layers.TransformerEncoder(
            intermediate_dim, num_heads, dropout=0.1, normalize_first=True, layer_norm_epsilon=1e-5
        )(x)
    x = keras.layers.LayerNormalization(epsilon=1e-5)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(ids, keras.layers.Dense(num_classes, dtype="float32")(x))


def _compile(model, jit_compile):
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    return model


def transformer_options(settings, peaks):
    """Return the Markdown section: zoo vs keras-hub encoder under XLA, bf16 and batch sizes."""
    sizes = {"hidden_dim": 64, "num_heads": 4, "intermediate_dim": 128, "num_layers": 2}
    if settings.tiny:
        sizes = {"hidden_dim": 16, "num_heads": 2, "intermediate_dim": 32, "num_layers": 1}
    vocabulary_size, num_classes, length = 1000, 5, settings.scaled(128, 128, 8)
    batch_sizes = settings.scaled((64, 256), (64, 256), (8,))
    options = [("fp32", False), ("fp32", True), ("bf16", False)]
    if not settings.quick:
        options.append(("bf16", True))

    rng = np.random.default_rng(0)
    rows, best = [], None
    for batch_size in batch_sizes:
        ids = rng.integers(1, vocabulary_size, (batch_size, length)).astype("int32")
        labels = rng.integers(0, num_classes, batch_size)
        steps = {}
        for dtype, jit in options:
            keras.config.set_dtype_policy("mixed_bfloat16" if dtype == "bf16" else "float32")
            try:
                zoo_model = zoo.create(
                    "transformer-encoder_learned.cmudict_stress", compile=False,
                    vocabulary_size=vocabulary_size, num_classes=num_classes, max_length=length, **sizes,
                )
                hub_model = hub_reference_stack(vocabulary_size, num_classes, length, **sizes)
            finally:
                keras.config.set_dtype_policy("float32")
            for stack, model in (("zoo", zoo_model), ("keras-hub", hub_model)):
                steps[(stack, dtype, jit)] = train_step_function(_compile(model, jit), ids, labels)

        times = interleaved_step_times(steps, settings.warmup, settings.rounds)
        arguments = dict(sizes, vocabulary_size=vocabulary_size, num_classes=num_classes)
        flops = TRAIN_FLOPS_FACTOR * transformer_flops(arguments, batch_size, length, causal=False)
        for (stack, dtype, jit), seconds in times.items():
            tokens = batch_size * length / seconds
            peak = peaks["bfloat16" if dtype == "bf16" else "float32"]
            rows.append([stack, dtype, "yes" if jit else "no", batch_size, seconds * 1e3,
                         f"{tokens:,.0f}", f"{100.0 * flops / seconds / 1e9 / peak:.1f}%"])
            if best is None or tokens > best[0]:
                best = (tokens, stack, dtype, jit, batch_size)

        zoo_default = times[("zoo", "fp32", False)]
        hub_default = times[("keras-hub", "fp32", False)]
        rows.append([f"zoo / keras-hub step time (fp32, no XLA, batch {batch_size})", "", "", "",
                     zoo_default / hub_default, "", ""])

    text = (
        f"Encoder classifier, hidden {sizes['hidden_dim']}, {sizes['num_layers']} blocks, "
        f"length {length}, vocabulary {vocabulary_size:,}: the zoo's `build_encoder_classifier` "
        "(learned positions) against keras-hub `TokenAndPositionEmbedding` + `TransformerEncoder` "
        "(pre-layer-norm) at the same sizes. MFU is against the matmul peak of the row's dtype. "
        f"Fastest: {best[1]}, {best[2]}, XLA {'on' if best[3] else 'off'}, batch {best[4]} "
        f"({best[0]:,.0f} tokens/s).\n\n"
    )
    columns = ["stack", "dtype", "XLA", "batch", "step ms", "tokens/s", "MFU"]
    return text + markdown_table(columns, rows), {"transformer_best": best[1:]}


def convnet_xla(settings):
    """Return the Markdown section on XLA (`jit_compile=True`) for a small ConvNet."""
    batch_size = settings.scaled(128, 128, 8)
    overrides = {} if not settings.tiny else zoo.get_spec("convnet-none.fashion_mnist").tiny_arguments
    spec = zoo.get_spec("convnet-none.fashion_mnist")
    arguments = spec.resolve_arguments(**overrides)
    task = zoo.get_task(spec.dataset)
    inputs = task.example_inputs(arguments, batch_size)
    targets = task.example_targets(arguments, batch_size)

    steps = {}
    for jit in (False, True):
        model = zoo.create("convnet-none.fashion_mnist", compile=False, **overrides)
        task.compile_model(model)
        model.compile(optimizer=model.optimizer, loss=model.loss, jit_compile=jit)
        steps[jit] = train_step_function(model, inputs, targets)
    times = interleaved_step_times(steps, settings.warmup, settings.rounds)
    ratio = times[True] / times[False]
    rows = [["default", times[False] * 1e3], ["jit_compile=True", times[True] * 1e3]]
    text = (
        f"Zoo ConvNet `convnet-none.fashion_mnist` (filters {arguments['filters']}), batch {batch_size}. "
        f"XLA / default step time = {ratio:.2f}: XLA is {'slower' if ratio > 1 else 'faster'} here.\n\n"
    )
    return text + markdown_table(["compile", "step ms"], rows), {"convnet_xla_ratio": ratio}


def run(settings):
    """Run the throughput benchmarks; return Markdown sections and values for the targets."""
    size = settings.scaled(2048, 2048, 256)
    repeats = settings.scaled(20, 10, 2)
    peaks = {dtype: matmul_peak(dtype, size, repeats) for dtype in ("float32", "bfloat16")}
    peak_text = (
        f"### Matmul peak\n\n`tf.linalg.matmul` of two {size}x{size} matrices, best of {repeats}: "
        f"float32 {peaks['float32']:.0f} GFLOP/s, bfloat16 {peaks['bfloat16']:.0f} GFLOP/s."
    )
    sections = [peak_text, "### Zoo families: training throughput and MFU\n\n" + families(settings, peaks)]
    values = {"peaks": peaks}
    for title, function in (
        ("Zoo transformer against the keras-hub stack: XLA, bf16, batch size", transformer_options),
        ("XLA for convolutions", convnet_xla),
    ):
        if function is transformer_options:
            text, extra = function(settings, peaks)
        else:
            text, extra = function(settings)
        sections.append(f"### {title}\n\n{text}")
        values.update(extra)
    return sections, values
