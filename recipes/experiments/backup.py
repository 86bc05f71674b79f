"""Backups of experiment runs that also keep best-epoch tracking, epoch times and dropout seeds.

`keras.callbacks.BackupAndRestore` saves the weights, the optimizer state and the epoch
number at the end of each epoch. An experiment run also needs, to resume exactly:

- the best validation value so far, its epoch and its weights (`BestWeights`), because the
  run reports the metrics of its best epoch;
- the wall time of each finished epoch (`EpochTimer`), for "seconds to 95% of the best";
- the draw counters of the model's `keras.random.SeedGenerator`s, which `save_weights`
  leaves out, so that dropout masks continue where the interrupted run stopped.

`ExperimentBackup` writes that state next to the backup, as `state_epoch<k>.json` plus
`best_epoch<j>.npz` for the best weights, before the backup of epoch `k` itself. Files are
named by epoch. So a process killed between the two writes leaves a backup of epoch `k - 1`
whose state file is still there. States older than the previous epoch are removed once a
newer backup exists.

Example:
    best = BestWeights("val_accuracy", "max")
    timer = EpochTimer()
    backup = ExperimentBackup(run.backup_dir, best, timer)
    model.fit(train, epochs=5, callbacks=[best, timer, backup])
"""

import glob
import json
import os
import re

import keras
import numpy as np

from recipes import atomic
from recipes.callbacks import backup_epoch
from recipes.determinism import seed_generator_states

_STATE_PATTERN = re.compile(r"state_epoch(\d+)\.json$")
_BEST_PATTERN = re.compile(r"best_epoch(\d+)\.npz$")


class ExperimentBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that also saves and restores the state of `BestWeights` and `EpochTimer`.

    Place it after `best_weights`, `timer` and any callback that writes logs for the epoch
    (TensorBoard, `CSVLogger`), so that a kill before the backup repeats that epoch's log
    rows rather than leaving a gap. The backup is kept after training; the caller removes
    it once the run's results are written.

    Args:
        backup_dir: folder of the backup, as for `BackupAndRestore`.
        best_weights: the run's `recipes.experiments.runner.BestWeights`.
        timer: the run's `recipes.callbacks.EpochTimer`.

    Attributes:
        restored_epoch: number of finished epochs restored from the backup (0 for a new run).
    """

    def __init__(self, backup_dir, best_weights, timer):
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=False, double_checkpoint=True)
        self.best_weights = best_weights
        self.timer = timer
        self.restored_epoch = 0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.restored_epoch = backup_epoch(self.backup_dir)
        if self.restored_epoch:
            self._load_state(self.restored_epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._save_state(epoch + 1)
        super().on_epoch_end(epoch, logs)
        self._remove_states_before(epoch)

    def _state_path(self, epoch):
        return os.path.join(self.backup_dir, f"state_epoch{epoch}.json")

    def _best_path(self, best_epoch):
        return os.path.join(self.backup_dir, f"best_epoch{best_epoch}.npz")

    def _save_state(self, epoch):
        best = self.best_weights
        if best.best_epoch is not None and not os.path.exists(self._best_path(best.best_epoch)):
            _write_npz(self._best_path(best.best_epoch), best.weights)
        state = {
            "epoch": epoch,
            "best": best.best,
            "best_epoch": best.best_epoch,
            "epoch_seconds": list(self.timer.epoch_seconds),
            "seed_states": [np.asarray(state).tolist() for state in seed_generator_states(self.model)],
        }
        atomic.write_json(self._state_path(epoch), state)

    def _load_state(self, epoch):
        path = self._state_path(epoch)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"Missing {os.path.basename(path)} in the backup {self.backup_dir} of epoch {epoch}. "
                "An older experiment runner wrote this backup: rerun with --overwrite."
            )
        with open(path) as file:
            state = json.load(file)

        self.timer.epoch_seconds = list(state["epoch_seconds"])
        if state["best_epoch"] is not None:
            with np.load(self._best_path(state["best_epoch"])) as arrays:
                weights = [arrays[f"arr_{index}"] for index in range(len(arrays.files))]
            self.best_weights.restore_state(state["best"], state["best_epoch"], weights)

        variables = seed_generator_states(self.model)
        if len(variables) != len(state["seed_states"]):
            raise ValueError(
                f"The backup in {self.backup_dir} contains {len(state['seed_states'])} seed generator states, "
                f"but the model has {len(variables)}. The model changed since the backup: rerun with --overwrite."
            )
        for variable, value in zip(variables, state["seed_states"]):
            variable.assign(np.asarray(value, dtype=variable.dtype))

    def _remove_states_before(self, epoch):
        kept_best = set()
        for path in glob.glob(os.path.join(self.backup_dir, "state_epoch*.json")):
            state_epoch = int(_STATE_PATTERN.search(path).group(1))
            if state_epoch < epoch:
                os.remove(path)
                continue
            with open(path) as file:
                kept_best.add(json.load(file)["best_epoch"])
        for path in glob.glob(os.path.join(self.backup_dir, "best_epoch*.npz")):
            if int(_BEST_PATTERN.search(path).group(1)) not in kept_best:
                os.remove(path)


def _write_npz(path, arrays):
    with atomic.atomic_path(path) as temporary:
        with open(temporary, "wb") as file:
            np.savez(file, *arrays)
