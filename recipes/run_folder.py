"""The folder one recipe run writes, and the rules for reusing an existing one.

Layout of a run folder:

    config.json        the resolved configuration (defaults, then command-line flags)
    logs/              TensorBoard event files: train/, validation/ scalars and histograms,
                       hparams, and images where a recipe adds them
    backup/            `keras.callbacks.BackupAndRestore` state, present while a run is unfinished
    history.csv        metrics of every finished epoch, appended across resumes
    checkpoint.weights.h5  weights after the last finished epoch
    model.keras        the trained model in Keras format
    saved_model/       the exported TF SavedModel (serving endpoint `serve`)
    metrics.json       final metrics; its presence marks the run as complete
"""

import enum
import os
import shutil

from recipes import atomic


class ExistingRun(enum.Enum):
    """Policy for a run folder that already exists."""

    REJECT = "reject"
    RESUME = "resume"
    OVERWRITE = "overwrite"


class RunFolderExistsError(FileExistsError):
    """Raised when a run folder exists and neither resume nor overwrite was requested."""


class RunFolder:
    """Paths and writers for one run's output folder.

    Args:
        path: the run folder.

    Example:
    >>> run = RunFolder("runs/convnet_positions/plain")
    >>> run.prepare(ExistingRun.REJECT)
    >>> run.write_config({"epochs": 3})
    """

    def __init__(self, path):
        self.path = os.path.abspath(path)

    @property
    def name(self):
        """`<parent folder>/<run folder>`: names the run in TensorBoard without the full path."""
        return os.path.join(os.path.basename(os.path.dirname(self.path)), os.path.basename(self.path))

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    @property
    def config_path(self):
        return self.join("config.json")

    @property
    def metrics_path(self):
        return self.join("metrics.json")

    @property
    def history_path(self):
        return self.join("history.csv")

    @property
    def log_dir(self):
        return self.join("logs")

    @property
    def backup_dir(self):
        return self.join("backup")

    @property
    def checkpoint_path(self):
        return self.join("checkpoint.weights.h5")

    @property
    def keras_path(self):
        return self.join("model.keras")

    @property
    def saved_model_path(self):
        return self.join("saved_model")

    def is_complete(self):
        return os.path.isfile(self.metrics_path)

    def prepare(self, existing=ExistingRun.REJECT):
        """Create the folder, or check that reusing it was requested.

        Args:
            existing: an `ExistingRun`: `REJECT` raises `RunFolderExistsError` if the folder
                has content, `RESUME` keeps it so training continues from `backup/`, and
                `OVERWRITE` deletes it first.

        Returns:
            `True` when an unfinished run will be resumed, `False` otherwise.
        """
        existing = ExistingRun(existing)
        has_content = os.path.isdir(self.path) and bool(os.listdir(self.path))
        if has_content and existing is ExistingRun.REJECT:
            state = "a complete run" if self.is_complete() else "an unfinished run"
            raise RunFolderExistsError(
                f"Run folder {self.path} already contains {state}. Pass --resume to continue it, "
                "--overwrite to delete it and start again, or choose another --output folder."
            )
        if has_content and existing is ExistingRun.OVERWRITE:
            shutil.rmtree(self.path)
        os.makedirs(self.path, exist_ok=True)
        return has_content and existing is ExistingRun.RESUME and os.path.isdir(self.backup_dir)

    def write_config(self, config):
        atomic.write_json(self.config_path, config)

    def write_metrics(self, metrics):
        atomic.write_json(self.metrics_path, metrics)
