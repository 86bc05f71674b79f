"""Experiment for claims 3, 4 and 5: positional schemes in bidirectional and causal transformers.

Three groups of runs, each over every scheme of `zoo.positional.POSITIONAL_SCHEMES`:

- "stress": the bidirectional encoder classifies the stressed syllable of a cmudict word
  from its spelling (accuracy and macro-F1 from scikit-learn). It also runs the summed
  ("learned", "sinusoidal") against the concatenated ("*_concat") position vectors (claim 4),
  and checks order blindness: the share of test words whose predicted class changes when
  their letters are shuffled with `zoo.data.cmudict_stress.shuffle_letters`.
- "lm": the causal decoder as a byte-level language model of Python standard library
  source, scored in bits per character on held-out files.
- "copy" and "reverse": the causal decoder trained on inputs of length up to L and tested
  on lengths L+1 to 2L, exact match per length (`exact_match_by_length`).

All schemes of a group share width, depth, epochs, batch size and the Adam learning rate
of the registry; token embeddings start normal(0, 1) and dense kernels Glorot-uniform.

Run time on the project's 2-core CPU machine: quick mode (78 runs, 3 seeds) 2.8 min; full
mode (78 runs) 45.3 min, of which stress 13.4, byte LM 18.4, copy 7.0 and reverse 6.5 min
(summed run wall times). For about 15 of those minutes a test run or the main job shared
the cores.

Example:
    python -m recipes.experiments.transformer_positions --quick --seeds 0,1,2
"""

import functools

import keras
import numpy as np

import zoo
from recipes.experiments import runner
from recipes.tensorboard_views import log_positional_tables, position_table
from zoo.data import length_generalization
from zoo.data.cmudict_stress import shuffle_letters
from zoo.positional import EMBEDDING_SCHEMES, POSITIONAL_SCHEMES
from zoo.transformer import build_causal_lm

EXPERIMENT = "transformer_positions"
CONCAT_SCHEMES = ("learned_concat", "sinusoidal_concat")
LENGTH_TASKS = ("copy", "reverse")
TINY_SIZE = {"hidden_dim": 16, "num_heads": 2, "intermediate_dim": 32, "num_layers": 1}
SETTINGS = {
    "quick": {
        "stress": {"max_examples": 6_000, "epochs": 5, "batch_size": 128, "tiny": True},
        "lm": {"max_examples": 200_000, "epochs": 2, "batch_size": 64, "tiny": True},
        "length": {"max_train_length": 8, "num_train": 2_000, "num_validation": 200,
                   "num_test_per_length": 50, "epochs": 3, "batch_size": 64, "tiny": True},
    },
    "full": {
        "stress": {"max_examples": 40_000, "epochs": 6, "batch_size": 256, "tiny": False},
        "lm": {"max_examples": 1_500_000, "epochs": 3, "batch_size": 64, "tiny": False},
        "length": {"max_train_length": 10, "num_train": 10_000, "num_validation": 1_000,
                   "num_test_per_length": 100, "epochs": 8, "batch_size": 64, "tiny": False},
    },
}
SHUFFLE_SEED = 1234


@functools.lru_cache(maxsize=None)
def load_task_data(dataset, max_examples):
    """Load a registry task's data once per process (split seed 0 for every run)."""
    return zoo.get_task(dataset).load(seed=0, max_examples=max_examples)


@functools.lru_cache(maxsize=None)
def load_length_task(task, max_train_length, num_train, num_validation, num_test_per_length):
    """Generate a length-generalization task once per process (seed 0 for every run)."""
    return length_generalization.load_length_generalization(
        task, max_train_length=max_train_length, num_train=num_train, num_validation=num_validation,
        num_test_per_length=num_test_per_length, seed=0,
    )


def registry_model(name, seed, tiny, data_arguments):
    """Build and compile a registered transformer with a given seed for its fixed tables."""
    spec = zoo.get_spec(name)
    model = spec.builder(**spec.resolve_arguments(tiny=tiny, **data_arguments), seed=seed)
    zoo.get_task(spec.dataset).compile_model(model, spec.learning_rate)
    return model


def stress_scores(model, split, num_classes):
    """Score the encoder on a split: accuracy, macro-F1 and the effect of shuffled letters."""
    from sklearn.metrics import accuracy_score, f1_score

    logits = runner.predict_batches(model, split.ids)
    predicted = logits.argmax(axis=-1)
    shuffled_logits = runner.predict_batches(model, shuffle_letters(split.ids, seed=SHUFFLE_SEED))
    labels = np.arange(num_classes)
    return {
        "accuracy_sklearn": float(accuracy_score(split.labels, predicted)),
        "macro_f1": float(f1_score(split.labels, predicted, labels=labels, average="macro", zero_division=0)),
        "shuffled_prediction_change": float(np.mean(shuffled_logits.argmax(axis=-1) != predicted)),
        "shuffled_max_logit_change": float(np.max(np.abs(shuffled_logits - logits))),
        "majority_accuracy": float(np.mean(split.labels == np.bincount(split.labels).argmax())),
    }


def _stress_spec(scheme, seed, settings):
    name = f"transformer-encoder_{scheme}.cmudict_stress"
    positional = scheme.replace("_concat", "")

    def data():
        return load_task_data("cmudict_stress", settings["max_examples"])

    def build():
        return registry_model(name, seed, settings["tiny"], zoo.get_task("cmudict_stress").builder_arguments(data()))

    def finish(model, run, metrics):
        if positional in EMBEDDING_SCHEMES and "concat" not in scheme:
            layer = model.get_layer("positional_encoding")
            width = model.get_layer("token_embedding").output_dim
            table = position_table(positional, data().max_length, width, layer=layer)
            np.save(run.join("position_table.npy"), table)
            log_positional_tables(run.join("logs", "images"), {positional: table})

    return runner.RunSpec(
        experiment=EXPERIMENT, variant=f"stress/{scheme}", seed=seed, build_model=build,
        datasets=lambda: zoo.get_task("cmudict_stress").datasets(data(), settings["batch_size"], seed=seed),
        epochs=settings["epochs"], monitor="accuracy", monitor_mode="max",
        hparams={"group": "stress", "positional": scheme, "attention": "bidirectional"},
        evaluate=lambda model: stress_scores(model, data().test, data().num_classes),
        finish=finish,
    )


def _lm_spec(scheme, seed, settings):
    name = f"transformer-decoder_{scheme}.python_stdlib"
    task = zoo.get_task("python_stdlib")

    def data():
        return load_task_data("python_stdlib", settings["max_examples"])

    def evaluate(model):
        return {"bits_per_character": model.evaluate(task.datasets(data(), 256)[2], return_dict=True, verbose=0)["loss"] / np.log(2)}

    return runner.RunSpec(
        experiment=EXPERIMENT, variant=f"lm/{scheme}", seed=seed,
        build_model=lambda: registry_model(name, seed, settings["tiny"], task.builder_arguments(data())),
        datasets=lambda: task.datasets(data(), settings["batch_size"], seed=seed),
        epochs=settings["epochs"], monitor="loss", monitor_mode="min",
        hparams={"group": "lm", "positional": scheme, "attention": "causal"},
        evaluate=evaluate,
    )


def build_length_model(data, positional, seed, tiny):
    """Build and compile a causal decoder for a length-generalization task."""
    spec = zoo.get_spec(f"transformer-decoder_{positional}.python_stdlib")
    arguments = spec.resolve_arguments(tiny=tiny)
    arguments.update(
        vocabulary_size=data.vocabulary_size,
        # Room for the longest test sequence, so learned and beta tables have rows for it;
        # rows past the training lengths are never trained.
        max_length=data.test.sequences.shape[1],
        seed=seed,
    )
    model = build_causal_lm(**arguments)
    model.compile(
        optimizer=keras.optimizers.Adam(spec.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=["accuracy"],
    )
    return model


def length_scores(model, data):
    """Exact match per input length on the longer test lengths and on validation lengths."""
    scores = {}
    for split_name, split in (("test", data.test), ("validation", data.validation)):
        inputs, _, _ = split.lm_arrays()
        predicted = runner.predict_batches(model, inputs).argmax(axis=-1)
        by_length = length_generalization.exact_match_by_length(predicted, split)
        scores[f"{split_name}_exact_match_by_length"] = {str(length): value for length, value in by_length.items()}
        scores[f"{split_name}_exact_match"] = float(np.mean(list(by_length.values())))
    return scores


def _length_spec(task, scheme, seed, settings):
    def data():
        return load_length_task(task, settings["max_train_length"], settings["num_train"],
                                settings["num_validation"], settings["num_test_per_length"])

    def datasets():
        return (data().train.to_tf_dataset(settings["batch_size"], shuffle=True, seed=seed),
                data().validation.to_tf_dataset(512), data().test.to_tf_dataset(512))

    def evaluate(model):
        scores = length_scores(model, data())
        return {"exact_match": scores.pop("test_exact_match"), **scores}

    return runner.RunSpec(
        experiment=EXPERIMENT, variant=f"{task}/{scheme}", seed=seed,
        build_model=lambda: build_length_model(data(), scheme, seed, settings["tiny"]),
        datasets=datasets, epochs=settings["epochs"], monitor="loss", monitor_mode="min",
        hparams={"group": task, "positional": scheme, "attention": "causal",
                 "max_train_length": settings["max_train_length"]},
        evaluate=evaluate,
    )


def make_specs(args):
    """Return the run specs of every group, scheme and seed, the seeds of a variant together."""
    settings = SETTINGS[args.mode]
    specs = []
    for scheme in POSITIONAL_SCHEMES + CONCAT_SCHEMES:
        specs.extend(_stress_spec(scheme, seed, settings["stress"]) for seed in args.seeds)
    for scheme in POSITIONAL_SCHEMES:
        specs.extend(_lm_spec(scheme, seed, settings["lm"]) for seed in args.seeds)
    for task in LENGTH_TASKS:
        for scheme in POSITIONAL_SCHEMES:
            specs.extend(_length_spec(task, scheme, seed, settings["length"]) for seed in args.seeds)
    return specs


def main(argv=None):
    """Run the experiment from the command line; return the exit status."""
    args = runner.parse_args(EXPERIMENT, argv, description=__doc__.splitlines()[0])
    metrics = [("epoch_accuracy", "validation"), ("epoch_loss", "validation")]
    runner.run_experiment(EXPERIMENT, make_specs(args), args, metrics)
    return 0


if __name__ == "__main__":
    runner.main_guard(main)
