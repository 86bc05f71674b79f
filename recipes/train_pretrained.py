"""Train a registered zoo model on its data set and publish it to saved_models/.

Example:
    zoo train pretrained convnet-coords.fashion_mnist
    python -m recipes.train_pretrained transformer-encoder_rotary.cmudict_stress --epochs 2
"""

import argparse
import logging
import os
import sys
import tempfile

import zoo
from recipes import determinism, publish
from recipes import strategy as strategy_lib
from recipes.errors import run_main
from recipes.run_folder import ExistingRun, RunFolder
from recipes.training import train_and_export
from zoo.feedforward import adapt_feedforward

logger = logging.getLogger("recipes.train_pretrained")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="zoo train pretrained",
        description="Train a registered model with its registered settings and publish it "
        "(model.keras, SavedModel, card.json, golden.npz) to saved_models/NAME.",
    )
    parser.add_argument("name", help="registry name, e.g. convnet-coords.fashion_mnist (see `zoo list`)")
    parser.add_argument("--epochs", type=int, default=0, help="override the registered epochs (0 keeps them)")
    parser.add_argument("--max-examples", type=int, default=0, help="cap the data set size, 0 for the full data (tabular and text tasks)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, split and shuffling (default: %(default)s)")
    parser.add_argument("--runs-dir", default=os.path.join("runs", "pretrained"), help="parent of the run folders (default: %(default)s)")
    parser.add_argument("--models-dir", default="", help="destination of the published entry (default: saved_models/)")
    parser.add_argument("--resume", action="store_true", help="continue an unfinished run of this model")
    parser.add_argument(
        "--strategy", default="default", choices=strategy_lib.STRATEGY_NAMES,
        help="tf.distribute strategy: mirrored uses every local GPU, multi_worker reads TF_CONFIG; "
        "the registered batch size stays the global batch (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.epochs < 0 or args.max_examples < 0:
        parser.error("--epochs and --max-examples must be >= 0")
    zoo.get_spec(args.name)
    return args


def command_line(args, spec, epochs):
    flags = [f"--epochs {epochs}", f"--seed {args.seed}"]
    if args.max_examples:
        flags.append(f"--max-examples {args.max_examples}")
    if args.strategy != "default":
        flags.append(f"--strategy {args.strategy}")
    return f"zoo train pretrained {spec.name} " + " ".join(flags)


def train_pretrained(args):
    """Train and publish one registry entry; return the published folder (`None` on a non-chief worker)."""
    strategy = strategy_lib.build_strategy(args.strategy)
    spec = zoo.get_spec(args.name)
    task = zoo.get_task(spec.dataset)
    epochs = args.epochs or spec.epochs

    data = task.load(seed=args.seed, max_examples=args.max_examples or None)
    arguments = spec.resolve_arguments(**task.builder_arguments(data))
    # Seeded before the pipelines exist, because `Dataset.shuffle` combines its seed with the
    # global one. A resumed run then replays the shuffle orders (`train_and_export`) and,
    # through `EpochSeeds`, the dropout masks of the epochs it continues.
    determinism.seed_everything(args.seed)
    epoch_seeds = determinism.EpochSeeds(args.seed)
    train, validation, test = task.datasets(data, spec.batch_size, seed=args.seed)
    with strategy.scope():
        model = spec.builder(**arguments)
        task.compile_model(model, spec.learning_rate)
        if spec.family == "feedforward":
            adapt_feedforward(model, task.model_inputs(data.train.features))

    run = RunFolder(strategy_lib.worker_run_path(os.path.join(args.runs_dir, spec.name), strategy))
    resumed = run.prepare(ExistingRun.RESUME if args.resume else ExistingRun.OVERWRITE)
    command = command_line(args, spec, epochs)
    run.write_config({"name": spec.name, "arguments": arguments, "epochs": epochs, "seed": args.seed,
                      "batch_size": spec.batch_size, "learning_rate": spec.learning_rate,
                      "max_examples": args.max_examples, "command": command, "resumed": resumed,
                      "strategy": args.strategy, "num_replicas_in_sync": strategy.num_replicas_in_sync})
    hparams = {"name": spec.name, "variant": spec.variant, "epochs": epochs, "seed": args.seed,
               "batch_size": spec.batch_size, "learning_rate": spec.learning_rate}
    trained = train_and_export(
        model, run, train, validation, test, epochs, hparams, task.input_signature(arguments), verbose=2,
        extra_callbacks=[epoch_seeds],
    )

    test_metrics = task.test_metrics(model, data)
    card = {
        "name": spec.name,
        "description": spec.description,
        "data_set": {"name": task.name, "source": getattr(data, "source", task.name),
                     "split": f"test split of the loader with seed {args.seed}",
                     "max_examples": args.max_examples or None},
        "metrics": {"test": test_metrics, "primary": task.primary_metric,
                    "higher_is_better": task.higher_is_better, "seed": args.seed,
                    "history": trained.metrics["history"]},
        "recipe": command,
        "arguments": arguments,
        "training": {"epochs": epochs, "batch_size": spec.batch_size, "learning_rate": spec.learning_rate,
                     "seed": args.seed, "fit_seconds": trained.metrics["fit_seconds"]},
        "parameters": int(model.count_params()),
    }
    golden_inputs = task.example_inputs(arguments, publish.GOLDEN_BATCH_SIZE, seed=args.seed)
    if not strategy_lib.is_chief(strategy):
        # Publishing predicts the golden outputs, a collective operation all workers join.
        with tempfile.TemporaryDirectory() as scratch:
            publish.publish(model, run, card, golden_inputs, scratch)
        strategy_lib.remove_worker_run_folder(run.path, strategy)
        return None
    destination = publish.publish(model, run, card, golden_inputs, args.models_dir or None)
    print(f"{spec.name}: test {task.primary_metric} = {test_metrics[task.primary_metric]:.4f}, "
          f"{trained.metrics['fit_seconds']:.0f} s of training; published to {destination}")
    return destination


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    train_pretrained(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, "python -m recipes.train_pretrained"))
