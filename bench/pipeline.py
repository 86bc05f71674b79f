"""Input pipeline cost: training on `tf.data` from the zoo's loaders against in-memory tensors."""

import time

import tensorflow as tf

import zoo
from bench.common import interleaved_step_times, markdown_table, verdict

PIPELINE_LIMIT = 0.05


def pipeline_case(name, batch_size, settings, max_examples=None, tiny=False):
    """Return (loader seconds, real-data step seconds, in-memory step seconds) for one model."""
    spec = zoo.get_spec(name)
    task = zoo.get_task(spec.dataset)
    start = time.perf_counter()
    data = task.load(max_examples=max_examples)
    train, _, _ = task.datasets(data, batch_size)
    load_seconds = time.perf_counter() - start

    # Each step calls the model's compiled train function on an iterator, as `fit` does, so
    # the batch is fetched inside the traced step. The real-data iterator persists: the
    # shuffle buffer fills once and prefetching overlaps with training. The in-memory
    # iterator repeats the first batch of the same pipeline, held as constant tensors.
    batches = iter(train.repeat())
    first_batch = next(batches)
    in_memory = iter(tf.data.Dataset.from_tensors(first_batch).repeat())
    real_model = zoo.create(name, tiny=tiny)
    memory_model = zoo.create(name, tiny=tiny)
    real_model.make_train_function()
    memory_model.make_train_function()

    def real_step():
        float(real_model.train_function(batches)["loss"])

    def memory_step():
        float(memory_model.train_function(in_memory)["loss"])

    times = interleaved_step_times(
        {"real": real_step, "memory": memory_step}, settings.warmup + 1, settings.rounds, steps_per_round=3
    )
    return load_seconds, times["real"], times["memory"], _fetch_seconds(batches, settings)


def _fetch_seconds(iterator, settings):
    """Return the median seconds to pull one batch from `iterator` inside a traced function, with no training."""

    @tf.function
    def pull():
        return tf.nest.flatten(next(iterator))[0][:1]

    pull()
    durations = []
    for _ in range(settings.scaled(100, 50, 3)):
        start = time.perf_counter()
        pull().numpy()
        durations.append(time.perf_counter() - start)
    return sorted(durations)[len(durations) // 2]


def run(settings):
    """Return the Markdown section on input pipeline cost."""
    cases = [
        ("convnet-none.fashion_mnist", 128, None),
        ("transformer-encoder_sinusoidal.cmudict_stress", 256, None),
        ("feedforward-embedding_normal.flights", 512, 50_000),
    ]
    if settings.quick or settings.tiny:
        cases = cases[:2]
    rows, worst = [], 0.0
    for name, batch_size, max_examples in cases:
        batch_size = 16 if settings.tiny else batch_size
        load_seconds, real, memory, fetch = pipeline_case(name, batch_size, settings, max_examples, settings.tiny)
        cost = real / memory - 1.0
        worst = max(worst, cost)
        rows.append([name, batch_size, f"{load_seconds:.1f}", real * 1e3, memory * 1e3, fetch * 1e3,
                     f"{100.0 * cost:+.1f}%", verdict(1.0 + cost, 1.0 + PIPELINE_LIMIT)])
    text = (
        "### Input pipeline\n\nTrain steps on batches drawn from the task's training `tf.data` "
        "pipeline (shuffle, batch, cast, prefetch) against steps on an iterator that repeats one "
        "batch of it held in memory, interleaved. Each step is the model's compiled train function "
        "called on the iterator, as in `fit`, so the batch is fetched inside the step; median step "
        "time. Pipeline cost = real / in-memory - 1, target <= "
        f"{100 * PIPELINE_LIMIT:.0f}%. `load s` is the loader's one-time cost (reading and "
        "encoding the data set), not part of the step time. `fetch alone ms` is the median time "
        "to pull one batch from the same pipeline with no training running: the rate at which "
        "the pipeline can produce batches.\n\n"
    )
    columns = ["model", "batch", "load s", "real-data step ms", "in-memory step ms", "fetch alone ms",
               "pipeline cost", "target"]
    return [text + markdown_table(columns, rows)], {"pipeline_worst": worst}
