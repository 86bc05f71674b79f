"""Shared runner of the claim experiments: command line, one run folder per variant and seed.

Every experiment trains each variant for each seed into
`<output>/<experiment>/<variant>/seed<k>/`, a `recipes.run_folder.RunFolder` with
`config.json`, `history.csv`, TensorBoard logs and `metrics.json`. The metrics of a run are
taken at its best validation epoch (the weights of that epoch are restored before testing),
because a fixed epoch budget measures how fast a variant overfits rather than how good it is.

Running the same command again skips finished runs (those with `metrics.json`) and resumes
an interrupted run from the backup of its last finished epoch (`ExperimentBackup`), with the
same data order, dropout masks and best-epoch tracking as an uninterrupted run. `--overwrite`
retrains from scratch instead. The runner exports no model: the backup is removed once
`metrics.json` is written.

Example:
    python -m recipes.experiments.input_encoding --quick --seeds 0,1,2
"""

import argparse
import dataclasses
import json
import logging
import math
import os
import shutil
import sys
import time
from typing import Callable

import keras
import numpy as np

from recipes.callbacks import EpochTimer, backup_epoch, hparam_value, read_history
from recipes.experiments.backup import ExperimentBackup
from recipes.run_folder import ExistingRun, RunFolder
from recipes.training import skip_finished_shuffles
from recipes.tensorboard_views import write_hparams_config

logger = logging.getLogger("recipes.experiments")

DEFAULT_OUTPUT = os.path.join("runs", "experiments")
MODES = ("quick", "full")
# Fraction of the best validation score that "epochs to reach" measures.
REACH_FRACTION = 0.95


def parse_args(experiment, argv=None, description=""):
    """Parse the command line shared by every experiment.

    Returns:
        An `argparse.Namespace` with `mode` ("quick" or "full"), `seeds` (list of int),
        `output`, `overwrite`, `only` (list of variant-name prefixes, empty for all) and
        `verbose`.
    """
    parser = argparse.ArgumentParser(prog=f"python -m recipes.experiments.{experiment}", description=description)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="tiny data slices and a few epochs (the default)")
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="the full data sets and epoch budgets")
    parser.set_defaults(mode="quick")
    parser.add_argument("--seeds", default="0,1,2", type=parse_seeds,
                        help="comma-separated seeds; each variant trains once per seed (default 0,1,2)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help=f"root folder of the runs (default {DEFAULT_OUTPUT})")
    parser.add_argument("--overwrite", action="store_true",
                        help="retrain finished runs and restart interrupted ones from scratch")
    parser.add_argument("--only", default="", help="comma-separated prefixes of the variants to run (default: all)")
    parser.add_argument("--verbose", action="store_true", help="print one Keras log line per epoch")
    args = parser.parse_args(argv)
    args.only = [prefix for prefix in args.only.split(",") if prefix]
    return args


def parse_seeds(text):
    """Parse "0,1,2" into `[0, 1, 2]`; raise `argparse.ArgumentTypeError` on bad input."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds must be comma-separated integers. Received: {text!r}") from None
    if not seeds or any(seed < 0 for seed in seeds):
        raise argparse.ArgumentTypeError(f"--seeds needs at least one non-negative integer. Received: {text!r}")
    return seeds


def selected(variant, args):
    """Return whether `--only` selects `variant` (every variant when `--only` is empty)."""
    return not args.only or any(variant.startswith(prefix) for prefix in args.only)


def reproduce_command(experiment, args, variant=None):
    """Return the command line that reruns this experiment (or one variant) with the same mode and seeds."""
    seeds = ",".join(str(seed) for seed in args.seeds)
    command = f"python -m recipes.experiments.{experiment} --{args.mode} --seeds {seeds}"
    return f"{command} --only {variant}" if variant else command


@dataclasses.dataclass
class RunSpec:
    """One training run of an experiment.

    Attributes:
        experiment: experiment name, the first folder level under the output root.
        variant: variant name, the second folder level; may contain "/" for sub-groups,
            e.g. `"flights/onehot"`.
        seed: the seed of weights, data order and data draws.
        build_model: function returning a compiled `keras.Model`; called after seeding.
        datasets: function returning `(train, validation, test)` `tf.data.Dataset`s.
        epochs: epoch budget.
        monitor: validation metric (without `val_`) that picks the best epoch.
        monitor_mode: `"max"` or `"min"`.
        hparams: hyperparameters for the HParams dashboard and `config.json`.
        evaluate: optional function `(model) -> dict` of extra test metrics, called with the
            best-epoch weights.
        callbacks: optional function `(model, run) -> list` of extra callbacks.
        finish: optional function `(model, run, metrics)` called after `evaluate`, to log
            images or add facts to `metrics`.
    """

    experiment: str
    variant: str
    seed: int
    build_model: Callable
    datasets: Callable
    epochs: int
    monitor: str
    monitor_mode: str = "max"
    hparams: dict = dataclasses.field(default_factory=dict)
    evaluate: Callable = None
    callbacks: Callable = None
    finish: Callable = None


class BestWeights(keras.callbacks.Callback):
    """Keep the weights of the best validation epoch in memory and restore them after `fit`.

    Args:
        monitor: a `logs` key such as `"val_auc"`.
        mode: `"max"` or `"min"`.
    """

    def __init__(self, monitor, mode="max"):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f'`mode` must be "max" or "min". Received: mode={mode!r}')
        self.monitor = monitor
        self.mode = mode
        self.best = None
        self.best_epoch = None
        self._weights = None

    def _improves(self, value):
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"Metric {self.monitor!r} is not in the epoch logs {sorted(logs)}. Check `monitor`.")
        value = float(logs[self.monitor])
        if math.isfinite(value) and self._improves(value):
            self.best, self.best_epoch = value, epoch
            self._weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        if self._weights is not None:
            self.model.set_weights(self._weights)

    @property
    def weights(self):
        """The weights of the best epoch so far, as a list of arrays (`None` before the first)."""
        return self._weights

    def restore_state(self, best, best_epoch, weights):
        """Continue tracking from a backup: the best value, its 0-based epoch and its weights."""
        self.best, self.best_epoch, self._weights = best, best_epoch, list(weights)


class TracedModelCache:
    """Reuse one compiled model, and the `tf.function`s it traced, across the seeds of a variant.

    Tracing the train and test steps costs several seconds per model on a CPU, more than
    training a quick-mode model. For a later seed of the same variant, the cache copies the
    freshly built model's variables (weights and dropout seed states) into the model that
    already trained. It also resets that model's optimizer variables to their values before
    the first step, so the run starts from the state a fresh model would start from.

    Example:
    >>> cache = TracedModelCache()
    >>> model = cache.take(("input_encoding", "flights/onehot"), build_model())
    """

    def __init__(self):
        self.key = None
        self.model = None
        self._initial_optimizer_values = None

    def take(self, key, fresh):
        """Return the model to train: `fresh` itself, or the cached model loaded with its state."""
        if key != self.key or not _same_variables(self.model, fresh):
            fresh.optimizer.build(fresh.trainable_variables)
            self.key, self.model = key, fresh
            self._initial_optimizer_values = [np.array(variable) for variable in fresh.optimizer.variables]
            return fresh
        for target, source in zip(self.model.variables, fresh.variables):
            target.assign(source)
        for variable, value in zip(self.model.optimizer.variables, self._initial_optimizer_values):
            variable.assign(value)
        return self.model


def _same_variables(model, other):
    if model is None or len(model.variables) != len(other.variables):
        return False
    return all(tuple(a.shape) == tuple(b.shape) for a, b in zip(model.variables, other.variables))


def epochs_to_reach(values, fraction=REACH_FRACTION, mode="max"):
    """Return the 1-based epoch at which a validation curve first reaches `fraction` of its best.

    For `mode="max"` the target is `fraction * max(values)`; for `"min"` it is
    `min(values) / fraction`. Returns `None` for an empty curve.

    Example:
    >>> epochs_to_reach([0.5, 0.78, 0.8])
    2
    """
    values = [float(value) for value in values]
    if not values:
        return None
    if mode == "max":
        target = fraction * max(values)
        return next(index + 1 for index, value in enumerate(values) if value >= target)
    target = min(values) / fraction
    return next(index + 1 for index, value in enumerate(values) if value <= target)


def run_one(spec, args, environment, cache=None):
    """Train one run into its folder, resuming an interrupted one; return its metrics.

    A complete run of the same mode is returned as it is unless `--overwrite` is given.
    """
    run = RunFolder(os.path.join(args.output, spec.experiment, spec.variant, f"seed{spec.seed}"))
    if run.is_complete() and not args.overwrite:
        previous = read_json(run.metrics_path)
        if previous.get("mode") == args.mode:
            logger.info("Skip %s: already complete in %s mode", run.path, args.mode)
            return previous

    config = {
        "experiment": spec.experiment, "variant": spec.variant, "seed": spec.seed, "mode": args.mode,
        "epochs": spec.epochs, "monitor": f"val_{spec.monitor}", "hparams": _json_ready(spec.hparams),
        "command": reproduce_command(spec.experiment, args, spec.variant),
    }
    resume = not args.overwrite and _can_resume(run, config)
    run.prepare(ExistingRun.RESUME if resume else ExistingRun.OVERWRITE)
    if resume:
        logger.info("Resume %s after epoch %d", run.path, backup_epoch(run.backup_dir))
    else:
        run.write_config(config)

    start = time.perf_counter()
    keras.utils.set_random_seed(spec.seed)
    model = spec.build_model()
    if cache is not None:
        model = cache.take((spec.experiment, spec.variant), model)
    train, validation, test = spec.datasets()
    metrics = _fit_and_score(spec, run, model, train, validation, test, verbose=2 if args.verbose else 0)
    metrics["wall_seconds"] = time.perf_counter() - start
    metrics.update(config)
    metrics["environment"] = environment
    metrics["finished_at"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")

    run.write_metrics(metrics)
    shutil.rmtree(run.backup_dir, ignore_errors=True)
    logger.info("%s/%s seed %d: %s at best epoch %d, %.1f s", spec.experiment, spec.variant, spec.seed,
                spec.monitor, metrics["best_epoch"], metrics["wall_seconds"])
    return metrics


def _can_resume(run, config):
    """Return whether `run` contains an interrupted run of the same settings (all but the command)."""
    if run.is_complete() or not os.path.isfile(run.config_path) or not backup_epoch(run.backup_dir):
        return False
    previous = read_json(run.config_path)
    return all(previous.get(name) == value for name, value in config.items() if name != "command")


def _json_ready(value):
    """Return `value` as it reads back from JSON (tuples become lists), for comparing configs."""
    return json.loads(json.dumps(value))


def predict_batches(model, inputs, batch_size=1024):
    """Call the model eagerly on batches of an array and return the NumPy outputs.

    Eager calls skip the tracing of `Model.predict`, which costs more than the call itself
    for the small models and test sets of the quick mode.
    """
    outputs = [np.asarray(model(inputs[start:start + batch_size], training=False))
               for start in range(0, len(inputs), batch_size)]
    return np.concatenate(outputs, axis=0)


def read_json(path):
    """Return the JSON content of `path`."""
    with open(path) as file:
        return json.load(file)


def experiment_callbacks(spec, model, run, best, timer, backup):
    """Return the callbacks of one experiment run, in the order they must run.

    TensorBoard, the hparams summary, best-epoch tracking, the epoch timer, the spec's own
    callbacks and the `history.csv` row all handle an epoch before its backup is written,
    so a kill between them repeats that epoch on resume instead of losing it.
    """
    hparams = {name: hparam_value(value) for name, value in {**spec.hparams, "seed": spec.seed}.items()}
    callbacks = [
        keras.callbacks.TensorBoard(run.log_dir, histogram_freq=1),
        _hparams_callback(run, hparams),
        best,
        timer,
    ]
    if spec.callbacks is not None:
        callbacks.extend(spec.callbacks(model, run))
    callbacks.append(keras.callbacks.CSVLogger(run.history_path, append=True))
    callbacks.append(backup)
    return callbacks


def _fit_and_score(spec, run, model, train, validation, test, verbose=0):
    best = BestWeights(f"val_{spec.monitor}", spec.monitor_mode)
    timer = EpochTimer()
    backup = ExperimentBackup(run.backup_dir, best, timer)
    callbacks = experiment_callbacks(spec, model, run, best, timer, backup)
    skip_finished_shuffles(train, backup_epoch(run.backup_dir))

    fit_start = time.perf_counter()
    model.fit(train, validation_data=validation, epochs=spec.epochs, callbacks=callbacks, verbose=verbose,
              shuffle=False)  # the training dataset shuffles itself
    fit_seconds = time.perf_counter() - fit_start
    earlier_seconds = float(sum(timer.epoch_seconds[:backup.restored_epoch]))

    # history.csv spans every process of a resumed run; `fit`'s History only the last one.
    history = read_history(run.history_path)
    curve = history[f"val_{spec.monitor}"]
    reach_epoch = epochs_to_reach(curve, mode=spec.monitor_mode)
    metrics = {
        "best_epoch": best.best_epoch + 1 if best.best_epoch is not None else None,
        "validation": {
            name[len("val_"):]: values[best.best_epoch or 0] for name, values in history.items() if name.startswith("val_")
        },
        "test": {name: float(value) for name, value in model.evaluate(test, return_dict=True, verbose=0).items()},
        "epochs_to_95_percent": reach_epoch,
        "seconds_to_95_percent": float(sum(timer.epoch_seconds[:reach_epoch])) if reach_epoch else None,
        "history": history,
        "epoch_seconds": timer.epoch_seconds,
        # Fit time of this process plus the epoch times of the processes before it.
        "fit_seconds": fit_seconds + earlier_seconds,
        "resumed_after_epoch": backup.restored_epoch,
        "parameters": int(model.count_params()),
        "trainable_parameters": int(sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)),
    }
    if spec.evaluate is not None:
        metrics["test"].update(spec.evaluate(model))
    if spec.finish is not None:
        spec.finish(model, run, metrics)
    return metrics


def _hparams_callback(run, hparams):
    from tensorboard.plugins.hparams import api as hparams_api

    return hparams_api.KerasCallback(run.log_dir, hparams, trial_id=run.name)


def write_experiment_hparams(args, experiment, specs, metrics):
    """Write the HParams config of an experiment from its run specs (see `write_hparams_config`)."""
    domains = {"seed": [spec.seed for spec in specs]}
    for spec in specs:
        for name, value in spec.hparams.items():
            domains.setdefault(name, []).append(hparam_value(value))
    write_hparams_config(os.path.join(args.output, experiment), domains, metrics)


def run_experiment(experiment, specs, args, hparams_metrics):
    """Run every selected spec, write the HParams config, and return `{folder: metrics}`."""
    from recipes.training import environment_info

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    specs = [spec for spec in specs if selected(spec.variant, args)]
    if not specs:
        raise ValueError(f"--only {','.join(args.only)!r} selects no variant of {experiment}.")
    environment = environment_info()
    write_experiment_hparams(args, experiment, specs, hparams_metrics)

    start = time.perf_counter()
    results = {}
    cache = TracedModelCache()
    for spec in specs:
        results[f"{spec.variant}/seed{spec.seed}"] = run_one(spec, args, environment, cache)
    logger.info("%s (%s mode): %d runs in %.1f s", experiment, args.mode, len(specs), time.perf_counter() - start)
    return results


def write_timing(args, seconds):
    """Record the wall time of each experiment of one `run_all` call in `timing_<mode>.json`.

    The seconds include runs that were skipped because they were already complete.
    """
    path = os.path.join(args.output, f"timing_{args.mode}.json")
    os.makedirs(args.output, exist_ok=True)
    record = {"mode": args.mode, "seeds": args.seeds, "seconds": seconds, "total_seconds": sum(seconds.values()),
              "finished_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpu_count": os.cpu_count(),
              "load_average": list(os.getloadavg())}
    with open(path, "w") as file:
        json.dump(record, file, indent=2)


def main_guard(main):
    """Run an experiment's `main` as a script and exit with its status."""
    sys.exit(main(sys.argv[1:]))

