"""The callbacks every recipe run uses: resume, checkpoints, TensorBoard and hparams."""

import json
import os
import time

import keras
from tensorboard.plugins.hparams import api as hparams_api


# File names that Keras 3.15 `BackupAndRestore` writes in its backup folder. With
# `double_checkpoint=True` it keeps the previous epoch's files under a `.bkp` suffix.
BACKUP_METADATA = "training_metadata.json"
BACKUP_WEIGHTS = "latest.weights.h5"
PREVIOUS_BACKUP_SUFFIX = ".bkp"


def backup_epoch(backup_dir, previous=False):
    """Return the number of finished epochs that a `BackupAndRestore` backup records.

    Args:
        backup_dir: the callback's `backup_dir`.
        previous: read the previous backup that `double_checkpoint=True` keeps.

    Returns:
        The epoch count, or 0 when there is no backup.

    Example:
    >>> backup_epoch("runs/demo/coords/backup")
    2
    """
    path = os.path.join(backup_dir, BACKUP_METADATA + (PREVIOUS_BACKUP_SUFFIX if previous else ""))
    if not os.path.isfile(path):
        return 0
    with open(path) as file:
        return int(json.load(file)["epoch"])


class EpochTimer(keras.callbacks.Callback):
    """Record the wall time of each finished epoch, in seconds, as `epoch_seconds`."""

    def __init__(self):
        super().__init__()
        self.epoch_seconds = []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._start)


def hparam_value(value):
    """Convert a config value to a type the TensorBoard hparams plugin accepts."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def standard_callbacks(run, hparams, histogram_freq=1):
    """Build the callbacks of one run.

    Args:
        run: the `recipes.run_folder.RunFolder` of the run.
        hparams: dict of the run's hyperparameters, shown in TensorBoard's HParams dashboard.
        histogram_freq: epochs between weight histograms (0 turns them off).

    Returns:
        A list: `CSVLogger` (the per-epoch history, kept across resumes),
        `BackupAndRestore` (resume after an interruption), `ModelCheckpoint`
        (weights after each epoch), `TensorBoard` (scalars, histograms), the hparams
        callback and an `EpochTimer`, which is last.

    Example:
    >>> callbacks = standard_callbacks(run, {"variant": "coords", "seed": 0})
    """
    hparams = {name: hparam_value(value) for name, value in hparams.items()}
    return [
        # The history row goes before the backup: a kill between the two repeats that epoch,
        # and `read_history` keeps the last row of each epoch.
        keras.callbacks.CSVLogger(run.history_path, append=True),
        # double_checkpoint keeps the previous backup, so a kill during a backup write still
        # leaves one complete copy to resume from.
        keras.callbacks.BackupAndRestore(run.backup_dir, save_freq="epoch", double_checkpoint=True),
        keras.callbacks.ModelCheckpoint(run.checkpoint_path, save_weights_only=True),
        keras.callbacks.TensorBoard(run.log_dir, histogram_freq=histogram_freq),
        hparams_api.KerasCallback(run.log_dir, hparams, trial_id=run.name),
        EpochTimer(),
    ]


def read_history(path):
    """Read a `CSVLogger` history file into a dict of metric name -> per-epoch values.

    A run resumed after a kill may have written an epoch twice. The last row of each epoch
    wins, so every epoch appears once and in order.

    Example:
    >>> read_history("runs/demo/coords/history.csv")["val_accuracy"]
    """
    import csv

    rows = {}
    with open(path, newline="") as file:
        for row in csv.DictReader(file):
            rows[int(row["epoch"])] = row
    history = {}
    for epoch in sorted(rows):
        for name, value in rows[epoch].items():
            if name != "epoch":
                history.setdefault(name, []).append(float(value))
    return history
