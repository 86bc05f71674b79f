"""Input pipeline cost: training on `tf.data` from the zoo's loaders against in-memory tensors."""

import time

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

    # The real-data step pulls its batch from a persistent iterator, so the shuffle buffer
    # fills once and prefetching overlaps with training as in `fit`. The in-memory step reuses
    # the first batch of the same pipeline as constant tensors.
    batches = iter(train.repeat())
    first_inputs, first_targets = next(batches)
    real_model = zoo.create(name, tiny=tiny)
    memory_model = zoo.create(name, tiny=tiny)

    def real_step():
        inputs, targets = next(batches)
        real_model.train_on_batch(inputs, targets)

    def memory_step():
        memory_model.train_on_batch(first_inputs, first_targets)

    times = interleaved_step_times(
        {"real": real_step, "memory": memory_step}, settings.warmup + 1, settings.rounds, steps_per_round=3
    )
    return load_seconds, times["real"], times["memory"]


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
        load_seconds, real, memory = pipeline_case(name, batch_size, settings, max_examples, settings.tiny)
        cost = real / memory - 1.0
        worst = max(worst, cost)
        rows.append([name, batch_size, f"{load_seconds:.1f}", real * 1e3, memory * 1e3,
                     f"{100.0 * cost:+.1f}%", verdict(1.0 + cost, 1.0 + PIPELINE_LIMIT)])
    text = (
        "### Input pipeline\n\nTrain steps on batches drawn from the task's training `tf.data` "
        "pipeline (shuffle, batch, cast, prefetch) against steps on one batch of it kept as "
        "in-memory tensors, interleaved; median step time including the batch fetch. Pipeline cost = real / in-memory - 1, target <= "
        f"{100 * PIPELINE_LIMIT:.0f}%. `load s` is the loader's one-time cost (reading and "
        "encoding the data set), not part of the step time.\n\n"
    )
    columns = ["model", "batch", "load s", "real-data step ms", "in-memory step ms", "pipeline cost", "target"]
    return [text + markdown_table(columns, rows)], {"pipeline_worst": worst}
