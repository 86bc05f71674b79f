"""Train one model into a run folder: fit with callbacks, evaluate, save, export, record."""

import dataclasses
import json
import logging
import os
import platform
import time

import keras
import tensorflow as tf

from recipes import callbacks as run_callbacks
from recipes import export
from recipes import strategy as strategy_lib

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainedRun:
    """Result of a finished run: its model and the metrics written to metrics.json."""

    model: keras.Model
    metrics: dict


def environment_info():
    """Return the versions and machine facts recorded with every run."""
    import keras_hub

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "gpus": [device.name for device in tf.config.list_physical_devices("GPU")],
    }


def finished_epochs(run):
    """Return how many epochs the backup in `run.backup_dir` has finished (0 without one)."""
    return run_callbacks.backup_epoch(run.backup_dir)


# Iterators that `Model.fit` opens on a `tf.data` training set per epoch, measured for
# Keras 3.15.1 with TensorFlow 2.21 (tests/recipes/test_pretrained_resume.py checks it).
# NOTE: this is Keras behaviour, not API. If a Keras upgrade changes it, that test fails.
KERAS_ITERATORS_PER_EPOCH = 2


def skip_finished_shuffles(dataset, epochs):
    """Advance `dataset`'s reshuffling as far as `epochs` finished epochs had advanced it.

    `Dataset.shuffle(seed=s, reshuffle_each_iteration=True)` draws each new iterator's
    order from a generator that restarts with the process. Opening (and discarding) as
    many iterators as the finished epochs opened gives a resumed run the shuffle orders
    that an uninterrupted run would see. Opening an iterator reads no data.

    Args:
        dataset: the training `tf.data.Dataset`.
        epochs: number of epochs finished before this process started.

    Example:
    >>> skip_finished_shuffles(train_dataset, finished_epochs(run))
    """
    for _ in range(epochs * KERAS_ITERATORS_PER_EPOCH):
        iter(dataset)


def train_and_export(
    model,
    run,
    train_dataset,
    validation_dataset,
    test_dataset,
    epochs,
    hparams,
    input_signature,
    verbose="auto",
    histogram_freq=1,
    extra_callbacks=(),
):
    """Fit a compiled model, evaluate it on the test split, then save and export it.

    Training resumes from `run.backup_dir` when an earlier run of the same folder was
    interrupted. `metrics.json` is written last, so its presence marks a complete run.

    Args:
        model: a compiled `keras.Model`.
        run: the run's `RunFolder`, already prepared.
        train_dataset, validation_dataset, test_dataset: batched `tf.data.Dataset`s.
        epochs: total number of epochs, counted across resumes.
        hparams: hyperparameters for the TensorBoard HParams dashboard.
        input_signature: list of `tf.TensorSpec` for the exported serving endpoint.
        verbose: `model.fit` verbosity; `"auto"` shows a progress bar.
        histogram_freq: epochs between weight histograms in TensorBoard.
        extra_callbacks: callbacks run before the standard ones, such as the
            `recipes.determinism.EpochSeeds` of `train_dataset`.

    Returns:
        A `TrainedRun`.

    Example:
    >>> trained = train_and_export(model, run, train, validation, test, 3,
    ...                            {"variant": "coords"}, [tf.TensorSpec([None, 28, 28, 1])])
    """
    callbacks = list(extra_callbacks) + run_callbacks.standard_callbacks(
        run, hparams, histogram_freq=histogram_freq
    )
    timer = callbacks[-1]
    strategy = getattr(model, "distribute_strategy", None) or tf.distribute.get_strategy()
    strategy_lib.align_backups(run.backup_dir, strategy, epochs)
    skip_finished_shuffles(train_dataset, finished_epochs(run))

    start = time.perf_counter()
    model.fit(
        train_dataset,
        validation_data=validation_dataset,
        epochs=epochs,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # the training dataset shuffles itself each epoch
    )
    fit_seconds = time.perf_counter() - start

    test_metrics = model.evaluate(test_dataset, return_dict=True, verbose=0)
    export.save_keras_model(model, run.keras_path)
    export.export_saved_model(model, run.saved_model_path, input_signature)

    metrics = {
        "test": {name: float(value) for name, value in test_metrics.items()},
        # The CSV log spans every process of a resumed run; `history` only this process.
        "history": run_callbacks.read_history(run.history_path),
        "epochs": epochs,
        "epochs_run_in_last_process": len(timer.epoch_seconds),
        "epoch_seconds": timer.epoch_seconds,
        "fit_seconds": fit_seconds,
        "parameters": int(model.count_params()),
        "trainable_parameters": int(sum(keras.ops.size(w) for w in model.trainable_weights)),
        "environment": environment_info(),
    }
    run.write_metrics(metrics)
    logger.info("Run %s finished: test %s", run.path, metrics["test"])
    return TrainedRun(model=model, metrics=metrics)
