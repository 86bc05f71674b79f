"""Experiment for claims 1 and 2: one-hot inputs against embeddings, and frozen embeddings.

Claim 1: one-hot inputs (0/1 columns, not zero-mean) train slower and generalize worse than
an embedding lookup initialized normal(0, 1). Claim 2: an embedding followed directly by a
linear layer is redundant, so it can be frozen.

The five encodings of `zoo.feedforward.ENCODINGS` train on NYC flights (late arrival) and
MovieLens (rating >= 4) with the same MLP head (Dense kernels Glorot-uniform, embeddings as
named by each encoding), the same epochs and the same Adam learning rate, with no tuning
for any variant. Each run records AUC and log loss at its best validation epoch, the
epochs and seconds to reach 95% of its best validation AUC, its parameter count, and the
distribution of the first hidden layer's activations on a validation batch.

Run time on the project's 2-core CPU machine, summed over the runs' wall times: quick mode
(30 runs, 3 seeds) 0.7 min; full mode (30 runs) 21.8 min, of which flights took 13.8 min
and MovieLens 7.9 min. Parts of the full runs shared the cores with test runs.

Example:
    python -m recipes.experiments.input_encoding --quick --seeds 0,1,2
"""

import functools

import zoo
from recipes.experiments import runner
from recipes.tensorboard_views import ActivationHistogram
from zoo.feedforward import ENCODINGS, adapt_feedforward

EXPERIMENT = "input_encoding"
DATASETS = ("flights", "movielens")
# Per mode: examples loaded per data set (None: all), epochs, batch size.
SETTINGS = {
    "quick": {"max_examples": 20_000, "epochs": 3, "batch_size": 512},
    "full": {"max_examples": None, "epochs": 10, "batch_size": 512},
}
ACTIVATION_LAYER = "hidden_0"
ACTIVATION_BATCH = 1024


@functools.lru_cache(maxsize=None)
def load_data(dataset, max_examples):
    """Load a data set once per process (the split seed is fixed at 0 for every run)."""
    return zoo.get_task(dataset).load(seed=0, max_examples=max_examples)


def build_model(dataset, encoding, seed, data):
    """Build and compile the registry's feedforward model for `data`'s vocabularies."""
    task = zoo.get_task(dataset)
    spec = zoo.get_spec(f"feedforward-{encoding}.{dataset}")
    arguments = spec.resolve_arguments(**task.builder_arguments(data))
    model = spec.builder(**arguments, seed=seed)
    adapt_feedforward(model, data.train.features)
    task.compile_model(model, spec.learning_rate)
    return model


def activation_batch(dataset, data):
    """Return the first validation examples as one model input batch."""
    inputs = zoo.get_task(dataset).model_inputs(data.validation.features)
    return {name: values[:ACTIVATION_BATCH] for name, values in inputs.items()}


def make_specs(args):
    """Return one `RunSpec` per data set, encoding and seed."""
    settings = SETTINGS[args.mode]
    specs = []
    for dataset in DATASETS:
        for encoding in ENCODINGS:
            for seed in args.seeds:
                specs.append(_spec(dataset, encoding, seed, settings))
    return specs


def _spec(dataset, encoding, seed, settings):
    def data():
        return load_data(dataset, settings["max_examples"])

    def datasets():
        return zoo.get_task(dataset).datasets(data(), settings["batch_size"], seed=seed)

    activations = {}

    def callbacks(model, run):
        callback = ActivationHistogram(ACTIVATION_LAYER, activation_batch(dataset, data()), run.join("logs", "activations"))
        activations["callback"] = callback
        return [callback]

    def finish(model, run, metrics):
        callback = activations["callback"]
        # A run resumed after its last epoch trains no epoch in this process.
        callback.set_model(model)
        stats = callback.stats or callback.current_stats()
        metrics["first_layer_activations"] = dict(stats, layer=ACTIVATION_LAYER)

    return runner.RunSpec(
        experiment=EXPERIMENT,
        variant=f"{dataset}/{encoding}",
        seed=seed,
        build_model=lambda: build_model(dataset, encoding, seed, data()),
        datasets=datasets,
        epochs=settings["epochs"],
        monitor="auc",
        monitor_mode="max",
        hparams={"dataset": dataset, "encoding": encoding, "batch_size": settings["batch_size"]},
        callbacks=callbacks,
        finish=finish,
    )


def main(argv=None):
    """Run the experiment from the command line; return the exit status."""
    args = runner.parse_args(EXPERIMENT, argv, description=__doc__.splitlines()[0])
    metrics = [("epoch_auc", "validation"), ("epoch_loss", "validation")]
    runner.run_experiment(EXPERIMENT, make_specs(args), args, metrics)
    return 0


if __name__ == "__main__":
    runner.main_guard(main)
