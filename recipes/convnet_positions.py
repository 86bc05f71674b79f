"""Main job: a plain ConvNet against one with coordinate channels on Fashion-MNIST.

Trains each variant with `model.fit` on a `tf.data` pipeline, writes one run folder per
variant (see `recipes.run_folder`), then reloads each exported SavedModel, evaluates it on
the same test images, and prints a comparison table.

Example:
    python -m recipes.convnet_positions --epochs 2
    tensorboard --logdir runs/
"""

import argparse
import dataclasses
import json
import logging
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from recipes import determinism, export
from recipes.errors import run_main
from recipes import strategy as strategy_lib
from recipes.run_folder import ExistingRun, RunFolder
from recipes.training import train_and_export
from zoo.convnet import POSITIONAL_CHANNELS, build_convnet
from zoo.data.fashion_mnist import load_fashion_mnist
from zoo.data.image_pipeline import image_dataset, split_validation

logger = logging.getLogger("recipes.convnet_positions")


@dataclasses.dataclass
class Config:
    """Resolved configuration of the recipe: defaults, overridden by command-line flags."""

    variants: tuple = ("none", "coords")
    epochs: int = 3
    batch_size: int = 128
    learning_rate: float = 1e-3
    filters: tuple = (32, 64)
    pooling: str = "avg"
    validation_size: int = 5000
    max_train_examples: int = 0
    seed: int = 0
    deterministic: bool = True
    strategy: str = "default"
    data_dir: str = ""
    output: str = ""
    existing: str = "reject"


def parse_args(argv=None):
    """Parse command-line flags into a `Config`."""
    defaults = Config()
    parser = argparse.ArgumentParser(
        prog="python -m recipes.convnet_positions",
        description="Train a plain ConvNet and one with coordinate channels on Fashion-MNIST, "
        "then compare their exported SavedModels on the test set.",
    )
    parser.add_argument(
        "--variants", default=",".join(defaults.variants),
        help=f"comma-separated positional variants, from {sorted(POSITIONAL_CHANNELS)} "
        "(default: %(default)s)",
    )
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="training epochs per variant (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="examples per training batch (default: %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate, help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--filters", default=",".join(map(str, defaults.filters)), help="filters per ConvNet block, comma-separated (default: %(default)s)")
    parser.add_argument("--pooling", default=defaults.pooling, choices=("avg", "max", "flatten"), help="head pooling (default: %(default)s)")
    parser.add_argument("--validation-size", type=int, default=defaults.validation_size, help="training images held out for validation (default: %(default)s)")
    parser.add_argument("--max-train-examples", type=int, default=0, help="use only this many training images, 0 for all (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of weights, split and shuffling (default: %(default)s)")
    parser.add_argument(
        "--deterministic", action=argparse.BooleanOptionalAction, default=defaults.deterministic,
        help="enable TensorFlow op determinism, so equal seeds give equal results (default: on)",
    )
    parser.add_argument(
        "--strategy", default=defaults.strategy, choices=strategy_lib.STRATEGY_NAMES,
        help="tf.distribute strategy: mirrored uses every local GPU, multi_worker reads TF_CONFIG; "
        "--batch-size stays the global batch (default: %(default)s)",
    )
    parser.add_argument("--data-dir", default="", help="folder with the Fashion-MNIST IDX files (default: the standard places)")
    parser.add_argument("--output", default="", help="parent folder of the run folders (default: runs/convnet_positions-<time>)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="continue unfinished runs in --output")
    group.add_argument("--overwrite", action="store_true", help="delete existing runs in --output first")
    args = parser.parse_args(argv)

    variants = tuple(name.strip() for name in args.variants.split(",") if name.strip())
    for name in variants:
        if name not in POSITIONAL_CHANNELS:
            parser.error(f"unknown variant {name!r} in --variants; use names from {sorted(POSITIONAL_CHANNELS)}")
    for flag, value, minimum in (
        ("--epochs", args.epochs, 1), ("--batch-size", args.batch_size, 1),
        ("--validation-size", args.validation_size, 1), ("--max-train-examples", args.max_train_examples, 0),
    ):
        if value < minimum:
            parser.error(f"{flag} must be at least {minimum}; received {value}")
    try:
        filters = tuple(int(value) for value in args.filters.split(","))
    except ValueError:
        parser.error(f"--filters must be comma-separated integers such as 32,64; received {args.filters!r}")

    existing = "reject"
    if args.resume:
        existing = "resume"
    elif args.overwrite:
        existing = "overwrite"
    output = args.output or os.path.join("runs", time.strftime("convnet_positions-%Y%m%d-%H%M%S"))
    return Config(
        variants=variants, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, filters=filters, pooling=args.pooling,
        validation_size=args.validation_size, max_train_examples=args.max_train_examples,
        seed=args.seed, deterministic=args.deterministic, strategy=args.strategy, data_dir=args.data_dir, output=output, existing=existing,
    )


def build_datasets(config):
    """Load the images and build the train, validation and test pipelines."""
    data = load_fashion_mnist(config.data_dir or None)
    (x_train, y_train), (x_validation, y_validation) = split_validation(
        data.x_train, data.y_train, min(config.validation_size, len(data.x_train) // 5), config.seed
    )
    if config.max_train_examples:
        x_train, y_train = x_train[: config.max_train_examples], y_train[: config.max_train_examples]

    epoch_seeds = determinism.EpochSeeds(config.seed)
    datasets = {
        "train": epoch_seeds.dataset(
            (x_train, y_train), lambda x, y: image_dataset(x, y, config.batch_size)
        ),
        "validation": image_dataset(x_validation, y_validation, 1024),
        "test": image_dataset(data.x_test, data.y_test, 1024),
    }
    sizes = {"train": len(x_train), "validation": len(x_validation), "test": len(data.x_test)}
    return data, datasets, sizes, epoch_seeds


def train_variant(variant, config, data, datasets, sizes, epoch_seeds, strategy=None):
    """Train, evaluate and export one positional variant in its own run folder."""
    strategy = strategy or tf.distribute.get_strategy()
    run = RunFolder(strategy_lib.worker_run_path(os.path.join(config.output, variant), strategy))
    resumed = run.prepare(ExistingRun(config.existing))
    complete = run.is_complete() and resumed is False and config.existing == "resume"
    if strategy_lib.chief_decision(strategy, complete):
        logger.info("Run %s is already complete; reading its metrics.", run.path)
        strategy_lib.remove_worker_run_folder(run.path, strategy)
        return run

    image_shape = data.image_shape + (1,)
    run_config = dict(
        dataclasses.asdict(config), variant=variant, data_set=data.name, data_source=data.source,
        image_shape=image_shape, split_sizes=sizes, resumed=resumed,
        num_replicas_in_sync=strategy.num_replicas_in_sync,
        recipe=f"python -m recipes.convnet_positions --variants {variant} --epochs {config.epochs} "
        f"--batch-size {config.batch_size} --seed {config.seed}",
    )
    run.write_config(run_config)

    determinism.seed_everything(config.seed, op_determinism=config.deterministic)
    with strategy.scope():
        model = build_convnet(
            image_shape, output_units=data.num_classes, positional=variant,
            filters=config.filters, pooling=config.pooling, seed=config.seed,
        )
        model.compile(
            optimizer=keras.optimizers.Adam(config.learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    print(f"\n== {variant}: {model.count_params():,} parameters, {config.epochs} epochs, run folder {run.path}")
    hparams = {
        "variant": variant, "epochs": config.epochs, "batch_size": config.batch_size,
        "learning_rate": config.learning_rate, "pooling": config.pooling, "seed": config.seed,
        "data_set": data.name,
    }
    train_and_export(
        model, run, datasets["train"], datasets["validation"], datasets["test"],
        config.epochs, hparams, [tf.TensorSpec((None,) + image_shape, tf.float32)],
        extra_callbacks=[epoch_seeds],
    )
    strategy_lib.remove_worker_run_folder(run.path, strategy)
    return run


def compare_exported(runs, data):
    """Evaluate each run's exported SavedModel on the test set and return table rows."""
    images = data.x_test[..., np.newaxis].astype(np.float32)
    rows = []
    for variant, run in runs.items():
        logits = export.predict_with_saved_model(run.saved_model_path, images)
        accuracy = float(np.mean(np.argmax(logits, axis=-1) == data.y_test))
        metrics = _read_metrics(run)
        rows.append({
            "variant": variant,
            "test_accuracy": accuracy,
            "parameters": metrics["parameters"],
            "fit_seconds": metrics["fit_seconds"],
        })
    return rows


def _read_metrics(run):
    with open(run.metrics_path) as file:
        return json.load(file)


def format_table(rows, data, sizes):
    """Format the comparison rows as a fixed-width text table."""
    lines = [
        f"Test set: {data.name} ({sizes['test']:,} images), scored by each exported SavedModel",
        f"{'variant':<16}{'test accuracy':>15}{'parameters':>12}{'train time (s)':>16}",
    ]
    for row in rows:
        lines.append(
            f"{row['variant']:<16}{row['test_accuracy']:>15.4f}{row['parameters']:>12,}{row['fit_seconds']:>16.1f}"
        )
    return "\n".join(lines)


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    config = parse_args(argv)
    strategy = strategy_lib.build_strategy(config.strategy)
    data, datasets, sizes, epoch_seeds = build_datasets(config)
    print(f"Data: {data.name} from {data.source}; split sizes {sizes}")

    runs = {
        variant: train_variant(variant, config, data, datasets, sizes, epoch_seeds, strategy)
        for variant in config.variants
    }
    if not strategy_lib.is_chief(strategy):
        return 0
    rows = compare_exported(runs, data)
    print()
    print(format_table(rows, data, sizes))
    print(f"\nRun folders: {os.path.abspath(config.output)}\nTensorBoard: tensorboard --logdir {config.output}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, "python -m recipes.convnet_positions"))
