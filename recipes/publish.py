"""Publish a trained model into saved_models/ with its card and golden input/output pair."""

import json
import os
import platform
import shutil
import subprocess

import numpy as np

from recipes import atomic
from recipes.training import environment_info
from zoo import pretrained

GOLDEN_BATCH_SIZE = 4
# Absolute tolerance of the golden-output check after reload. Float32 kernels may sum in
# another order on another CPU, so the check is not bit-exact.
GOLDEN_ATOL = 1e-4
# Test metrics re-evaluated from the shipped model must match the card within this.
METRIC_ATOL = 2e-3


def git_commit():
    """Return the current git commit, with `-dirty` when the work tree has changes."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def _golden_arrays(inputs, outputs):
    arrays = {"outputs": np.asarray(outputs)}
    if isinstance(inputs, dict):
        arrays.update({f"inputs_{name}": np.asarray(value) for name, value in inputs.items()})
    else:
        arrays["inputs_"] = np.asarray(inputs)
    return arrays


def publish(model, run, card, golden_inputs, models_dir=None):
    """Write saved_models/<name>/ from a finished run, atomically.

    Args:
        model: the trained Keras model (used for the golden outputs).
        run: the `RunFolder` holding `model.keras` and `saved_model/`.
        card: the card dict; must hold `name`. Golden and version fields are added here.
        golden_inputs: a small input batch (array or dict of arrays).
        models_dir: destination parent folder; defaults to `zoo.pretrained.models_dir()`.

    Returns:
        The entry's folder.

    Example:
    >>> publish(model, run, {"name": "convnet-coords.fashion_mnist", ...}, images[:4])
    """
    destination = os.path.join(models_dir or pretrained.models_dir(), card["name"])
    outputs = model.predict_on_batch(golden_inputs)
    card = dict(card)
    card.update({
        "golden": {"file": pretrained.GOLDEN_FILE, "atol": GOLDEN_ATOL, "batch_size": GOLDEN_BATCH_SIZE},
        "metric_atol": METRIC_ATOL,
        "versions": environment_info(),
        "hardware": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.processor() or 'unknown processor'}",
        "git_commit": git_commit(),
    })

    with atomic.atomic_path(destination) as temporary:
        os.makedirs(temporary)
        shutil.copy2(run.keras_path, os.path.join(temporary, pretrained.KERAS_FILE))
        shutil.copytree(run.saved_model_path, os.path.join(temporary, pretrained.SAVED_MODEL_DIR))
        np.savez(os.path.join(temporary, pretrained.GOLDEN_FILE), **_golden_arrays(golden_inputs, outputs))
        with open(os.path.join(temporary, pretrained.CARD_FILE), "w") as file:
            json.dump(card, file, indent=2, sort_keys=True, default=str)
            file.write("\n")
    return destination
