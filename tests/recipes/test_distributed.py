"""Recipes under tf.distribute: strategy building, mirrored replicas, two workers on loopback."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import types

import numpy as np
import pytest
import tensorflow as tf

from recipes import convnet_positions, train_pretrained
from recipes import strategy as strategy_lib
from recipes.callbacks import backup_epoch
from tests.testing import REPOSITORY_ROOT, load_json, run_python

# One registry entry per model family. The standardized one-hot model also checks that
# statistics set by `adapt` reach every replica.
FAMILY_MODELS = (
    "convnet-coords.fashion_mnist",
    "feedforward-onehot_standardized.flights",
    "transformer-encoder_rotary.cmudict_stress",
    "transformer-decoder_alibi.python_stdlib",
)

# Trains each model for a few steps under MirroredStrategy over two logical CPU devices,
# then prints one JSON line with, per model, the losses and the variables whose replica
# copies differ. It also trains one ConvNet without dropout on the same batches under the
# default strategy and under MirroredStrategy, and reports how far their weights differ.
_MIRRORED_SCRIPT = r"""
import json
import sys

from recipes import strategy as strategy_lib

strategy = strategy_lib.build_strategy("mirrored", logical_cpus=2)

import keras
import numpy as np
import tensorflow as tf

import zoo
from zoo.convnet import build_convnet
from zoo.feedforward import adapt_feedforward

GLOBAL_BATCH = 8
STEPS = 3


def replica_copies(variable):
    value = variable.value
    if not isinstance(value, tf.distribute.DistributedValues):
        return None
    return [np.asarray(copy.numpy()) for copy in strategy.experimental_local_results(value)]


def train_family_model(name):
    spec = zoo.get_spec(name)
    task = zoo.get_task(spec.dataset)
    arguments = spec.resolve_arguments(tiny=True)
    inputs = task.example_inputs(arguments, GLOBAL_BATCH * STEPS, seed=0)
    targets = task.example_targets(arguments, GLOBAL_BATCH * STEPS, seed=0)

    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = zoo.create(name, tiny=True)
        if spec.family == "feedforward":
            adapt_feedforward(model, inputs)
    initial = [np.array(keras.ops.convert_to_numpy(w)) for w in model.trainable_weights]
    history = model.fit(inputs, targets, batch_size=GLOBAL_BATCH, epochs=2, shuffle=False, verbose=0)

    variables = list(model.weights) + list(model.optimizer.variables)
    copies = {variable.path: replica_copies(variable) for variable in variables}
    changed = [
        not np.array_equal(before, keras.ops.convert_to_numpy(after))
        for before, after in zip(initial, model.trainable_weights)
    ]
    return {
        "losses": [float(value) for value in history.history["loss"]],
        "variables": len(variables),
        "not_distributed": sorted(path for path, value in copies.items() if value is None),
        "replica_counts": sorted({len(value) for value in copies.values() if value is not None}),
        "unequal_replicas": sorted(
            path for path, value in copies.items()
            if value is not None and not all(np.array_equal(value[0], other) for other in value[1:])
        ),
        "trainable_changed": sum(changed),
        "trainable": len(changed),
    }


def train_without_dropout(strategy_to_use):
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, (64, 12, 12, 1)).astype(np.float32)
    labels = rng.integers(0, 3, 64)
    keras.utils.set_random_seed(0)
    with strategy_to_use.scope():
        model = build_convnet((12, 12, 1), output_units=3, positional="coords", filters=(4,), dropout=0.0)
        model.compile(
            optimizer=keras.optimizers.SGD(0.05),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    initial = np.concatenate([np.ravel(keras.ops.convert_to_numpy(w)) for w in model.weights])
    history = model.fit(images, labels, batch_size=16, epochs=2, shuffle=False, verbose=0)
    final = np.concatenate([np.ravel(keras.ops.convert_to_numpy(w)) for w in model.weights])
    return initial, final, history.history["loss"]


results = {"replicas": strategy.num_replicas_in_sync, "models": {}}
for name in json.loads(sys.argv[1]):
    results["models"][name] = train_family_model(name)

one_device = train_without_dropout(tf.distribute.get_strategy())
mirrored = train_without_dropout(strategy)
results["without_dropout"] = {
    "initial_difference": float(np.max(np.abs(one_device[0] - mirrored[0]))),
    "final_difference": float(np.max(np.abs(one_device[1] - mirrored[1]))),
    "distance_trained": float(np.max(np.abs(one_device[1] - one_device[0]))),
    "one_device_losses": [float(value) for value in one_device[2]],
    "mirrored_losses": [float(value) for value in mirrored[2]],
}
print("RESULTS " + json.dumps(results))
"""

SMALL_MAIN_JOB = [
    "--epochs", "2", "--max-train-examples", "512", "--validation-size", "256",
    "--batch-size", "64", "--filters", "8,16", "--variants", "coords",
    # Global average pooling of 16 filters stays near chance accuracy (10-16%) after 16
    # steps, where a difference of one argmax flips accuracy by several points. Flattening
    # the feature map reaches 51-65% test accuracy in the same steps (seeds 0, 1, 2).
    "--pooling", "flatten",
]

# Measured with SMALL_MAIN_JOB, seeds 0, 1 and 2, on a 2-core CPU (TensorFlow 2.21,
# Keras 3.15): the two-worker chief and the single-process run differed by at most 0.0134
# in test accuracy and 0.0185 in test loss. Dropout causes most of it. Each replica draws
# the mask for its half of the global batch from the same seed, so the masks differ from
# the single process's mask over the whole batch. In one process with Adam (lr 0.01, 16
# steps), MirroredStrategy and the default strategy ended 1e-3 apart in loss with dropout
# 0.2 and 3e-6 apart without dropout. The tolerances below leave room for other seeds.
# An untrained model scores about 0.1 accuracy and 2.30 loss.
ACCURACY_TOLERANCE = 0.03
LOSS_TOLERANCE = 0.05

# Two workers with one CPU replica each split every batch as MirroredStrategy over two
# logical CPUs does, and a sum of two gradients does not depend on the order. Measured
# with seed 0: equal metrics. The tolerance allows for float rounding only.
SAME_SPLIT_TOLERANCE = 1e-4

WORKER_TIMEOUT = 420


# Building strategies and reading TF_CONFIG.


def test_build_strategy_rejects_unknown_name():
    with pytest.raises(ValueError, match="Unknown strategy 'tpu'") as error:
        strategy_lib.build_strategy("tpu")
    for name in strategy_lib.STRATEGY_NAMES:
        assert name in str(error.value)


def test_default_and_one_device_strategies():
    assert strategy_lib.build_strategy("default", logical_cpus=0) is tf.distribute.get_strategy()
    one_device = strategy_lib.build_strategy("one_device", logical_cpus=0)
    assert isinstance(one_device, tf.distribute.OneDeviceStrategy)
    assert one_device.num_replicas_in_sync == 1


@pytest.mark.parametrize(
    "tf_config, message",
    [
        (None, "missing or empty"),
        ("{not json", "not valid JSON"),
        ('["worker"]', "must be a JSON object"),
        ('{"cluster": {}, "task": {"type": "worker", "index": 0}}', "'cluster' must map"),
        ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "task type 'ps'"),
        ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', "host:port"),
        ('{"cluster": {"worker": ["a:1", "b:1"]}}', "'task' must be an object"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "task type 'chief'"),
        ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}', r"task index 2 must be an integer in \[0, 2\)"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": "0"}}', "task index '0'"),
    ],
)
def test_multi_worker_rejects_bad_tf_config(monkeypatch, tf_config, message):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ValueError, match=message) as error:
        strategy_lib.build_strategy("multi_worker", logical_cpus=0)
    assert "TF_CONFIG" in str(error.value)
    assert '"cluster": {"worker": ["host1:12345", "host2:12345"]}' in str(error.value)


def test_read_tf_config_accepts_chief_and_workers(monkeypatch):
    config = {"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "task": {"type": "worker", "index": 1}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert strategy_lib.read_tf_config() == config


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_logical_cpus_variable_rejects_bad_values(monkeypatch, value):
    monkeypatch.setenv(strategy_lib.LOGICAL_CPUS_VARIABLE, value)
    with pytest.raises(ValueError, match=strategy_lib.LOGICAL_CPUS_VARIABLE):
        strategy_lib.logical_cpus_from_environment()


def test_logical_cpus_variable_read(monkeypatch):
    monkeypatch.setenv(strategy_lib.LOGICAL_CPUS_VARIABLE, "3")
    assert strategy_lib.logical_cpus_from_environment() == 3
    monkeypatch.delenv(strategy_lib.LOGICAL_CPUS_VARIABLE)
    assert strategy_lib.logical_cpus_from_environment() == 0


@pytest.mark.parametrize("count", [0, -1, 1.5, True, "2"])
def test_configure_logical_cpus_rejects_bad_count(count):
    with pytest.raises(ValueError, match="`count` must be a positive integer"):
        strategy_lib.configure_logical_cpus(count)


def test_configure_logical_cpus_after_initialization():
    tf.constant(1.0)  # initializes the devices of this process
    with pytest.raises(RuntimeError, match="already initialized") as error:
        strategy_lib.configure_logical_cpus(7)
    assert strategy_lib.LOGICAL_CPUS_VARIABLE in str(error.value)


# Which process writes the run folder.


def _fake_strategy(cluster, task_type, task_id):
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id
    )
    return types.SimpleNamespace(cluster_resolver=resolver)


@pytest.mark.parametrize(
    "cluster, task_type, task_id, chief",
    [
        ({"worker": ["a:1", "b:1"]}, "worker", 0, True),
        ({"worker": ["a:1", "b:1"]}, "worker", 1, False),
        ({"chief": ["a:1"], "worker": ["b:1"]}, "chief", 0, True),
        ({"chief": ["a:1"], "worker": ["b:1"]}, "worker", 0, False),
    ],
)
def test_is_chief(cluster, task_type, task_id, chief):
    strategy = _fake_strategy(cluster, task_type, task_id)
    assert strategy_lib.is_chief(strategy) is chief
    assert strategy_lib.is_multi_worker(strategy)


def test_single_machine_process_is_chief():
    assert strategy_lib.is_chief(tf.distribute.get_strategy())
    assert not strategy_lib.is_multi_worker(tf.distribute.get_strategy())
    assert strategy_lib.chief_decision(tf.distribute.get_strategy(), True) is True
    assert strategy_lib.chief_decision(tf.distribute.get_strategy(), False) is False


def test_worker_run_folder_is_temporary(tmp_path):
    path = str(tmp_path / "job" / "coords")
    chief = _fake_strategy({"worker": ["a:1", "b:1"]}, "worker", 0)
    worker = _fake_strategy({"worker": ["a:1", "b:1"]}, "worker", 1)
    assert strategy_lib.worker_run_path(path, chief) == path
    worker_path = strategy_lib.worker_run_path(path, worker)
    assert worker_path == str(tmp_path / "job" / ".workertemp_worker_1" / "coords")

    for folder in (path, worker_path):
        os.makedirs(os.path.join(folder, "backup"))
    strategy_lib.remove_worker_run_folder(path, chief)
    strategy_lib.remove_worker_run_folder(worker_path, worker)
    assert os.path.isdir(os.path.join(path, "backup")), "the chief's run folder is kept"
    assert not os.path.exists(os.path.dirname(worker_path)), "the worker's folder is deleted"


def test_strategy_flag_in_recipes():
    assert convnet_positions.parse_args([]).strategy == "default"
    assert convnet_positions.parse_args(["--strategy", "mirrored"]).strategy == "mirrored"
    arguments = train_pretrained.parse_args(["convnet-coords.fashion_mnist", "--strategy", "multi_worker"])
    assert arguments.strategy == "multi_worker"
    with pytest.raises(SystemExit):
        convnet_positions.parse_args(["--strategy", "parameter_server"])


# MirroredStrategy over two logical CPU devices, in a fresh process.


@pytest.fixture(scope="module")
def mirrored_results():
    process = run_python(_MIRRORED_SCRIPT, json.dumps(FAMILY_MODELS), timeout=600)
    assert process.returncode == 0, process.stderr[-4000:]
    line = [line for line in process.stdout.splitlines() if line.startswith("RESULTS ")][-1]
    return json.loads(line[len("RESULTS "):])


def test_mirrored_strategy_has_two_replicas(mirrored_results):
    assert mirrored_results["replicas"] == 2
    assert sorted(mirrored_results["models"]) == sorted(FAMILY_MODELS)


@pytest.mark.parametrize("name", FAMILY_MODELS)
def test_mirrored_replicas_stay_identical(mirrored_results, name):
    result = mirrored_results["models"][name]
    assert result["not_distributed"] == [], "variables created outside strategy.scope()"
    assert result["replica_counts"] == [2]
    assert result["unequal_replicas"] == []
    assert result["trainable_changed"] == result["trainable"], "some trainable weights did not train"


@pytest.mark.parametrize("name", FAMILY_MODELS)
def test_mirrored_loss_is_finite(mirrored_results, name):
    losses = mirrored_results["models"][name]["losses"]
    assert len(losses) == 2
    assert all(abs(loss) < float("inf") for loss in losses), losses


def test_mirrored_step_equals_one_device_step(mirrored_results):
    # Each replica gets half of every global batch and the gradients are averaged, so
    # without dropout, training under MirroredStrategy follows the one-device run.
    result = mirrored_results["without_dropout"]
    assert result["initial_difference"] == 0.0
    assert result["distance_trained"] > 1e-2, "the comparison needs weights that moved"
    assert result["final_difference"] < 1e-5
    for one_device, mirrored in zip(result["one_device_losses"], result["mirrored_losses"]):
        assert mirrored == pytest.approx(one_device, rel=1e-5)


# Several worker processes on loopback.


def _free_ports(count):
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for server in sockets:
            server.bind(("127.0.0.1", 0))
        return [server.getsockname()[1] for server in sockets]
    finally:
        for server in sockets:
            server.close()


def _tf_config(ports, index):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


@pytest.fixture
def start_process(tmp_path):
    """Start recipe processes that are killed at teardown if still running."""
    started = []

    def start(module, arguments, log_name, tf_config=None, extra_env=None):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        env.pop("TF_CONFIG", None)
        env.pop(strategy_lib.LOGICAL_CPUS_VARIABLE, None)
        env.update(extra_env or {})
        if tf_config is not None:
            env["TF_CONFIG"] = tf_config
        log = open(tmp_path / log_name, "w")
        process = subprocess.Popen(
            [sys.executable, "-m", module, *map(str, arguments)],
            cwd=REPOSITORY_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        process.log_path = tmp_path / log_name
        log.close()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _wait_success(process, timeout=WORKER_TIMEOUT):
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
    log = process.log_path.read_text(errors="replace")
    assert process.returncode == 0, f"{process.args[2]} exited with {process.returncode}:\n{log[-4000:]}"


def _start_workers(start_process, module, arguments, ports, log_prefix):
    return [
        start_process(module, arguments, f"{log_prefix}-{index}.log", _tf_config(ports, index))
        for index in range(len(ports))
    ]


@pytest.mark.slow
def test_two_workers_match_single_worker(tmp_path, start_process):
    multi, single, mirrored = tmp_path / "multi", tmp_path / "single", tmp_path / "mirrored"
    module = "recipes.convnet_positions"
    workers = _start_workers(
        start_process, module, SMALL_MAIN_JOB + ["--strategy", "multi_worker", "--output", multi],
        _free_ports(2), "worker",
    )
    single_process = start_process(module, SMALL_MAIN_JOB + ["--output", single], "single.log")
    mirrored_process = start_process(
        module, SMALL_MAIN_JOB + ["--strategy", "mirrored", "--output", mirrored], "mirrored.log",
        extra_env={strategy_lib.LOGICAL_CPUS_VARIABLE: "2"},
    )
    for process in workers + [single_process, mirrored_process]:
        _wait_success(process)

    chief_run = multi / "coords"
    for name in ("config.json", "metrics.json", "model.keras", "checkpoint.weights.h5"):
        assert (chief_run / name).is_file(), f"{name} missing in {chief_run}"
    assert (chief_run / "saved_model" / "saved_model.pb").is_file()
    assert (chief_run / "logs" / "train").is_dir()
    assert sorted(os.listdir(multi)) == ["coords"], "the non-chief worker left files behind"

    config = load_json(chief_run / "config.json")
    assert config["strategy"] == "multi_worker"
    assert config["num_replicas_in_sync"] == 2
    assert load_json(single / "coords" / "config.json")["num_replicas_in_sync"] == 1
    assert load_json(mirrored / "coords" / "config.json")["num_replicas_in_sync"] == 2

    chief = load_json(chief_run / "metrics.json")
    reference = load_json(single / "coords" / "metrics.json")
    assert len(chief["history"]["loss"]) == 2
    assert chief["test"]["accuracy"] > 0.3, "the two-worker job did not learn"
    assert chief["test"]["accuracy"] == pytest.approx(reference["test"]["accuracy"], abs=ACCURACY_TOLERANCE)
    assert chief["test"]["loss"] == pytest.approx(reference["test"]["loss"], abs=LOSS_TOLERANCE)

    same_split = load_json(mirrored / "coords" / "metrics.json")
    for name in ("accuracy", "loss"):
        assert chief["test"][name] == pytest.approx(same_split["test"][name], abs=SAME_SPLIT_TOLERANCE)


def _backup_epoch(run_path):
    """Return the epoch recorded in a run's BackupAndRestore state, or -1 without one."""
    try:
        return load_json(run_path / "backup" / "training_metadata.json")["epoch"]
    except (OSError, ValueError, KeyError):
        return -1  # not written yet, or read while Keras rewrites it


@pytest.mark.slow
def test_killed_worker_resumes_from_backup(tmp_path, start_process):
    output = tmp_path / "job"
    module = "recipes.convnet_positions"
    arguments = SMALL_MAIN_JOB + ["--epochs", "4", "--strategy", "multi_worker", "--output", output]
    chief_run, worker_run = output / "coords", output / ".workertemp_worker_1" / "coords"

    workers = _start_workers(start_process, module, arguments, _free_ports(2), "first")
    deadline = time.monotonic() + WORKER_TIMEOUT
    while min(_backup_epoch(chief_run), _backup_epoch(worker_run)) < 2:
        assert all(process.poll() is None for process in workers), "a worker exited before its second backup"
        assert time.monotonic() < deadline, "no backup of epoch 2 within the time limit"
        time.sleep(0.1)
    workers[1].send_signal(signal.SIGKILL)
    workers[1].wait(timeout=30)

    # The chief cannot finish a step without worker 1: TensorFlow's coordination service
    # notices the missing heartbeats and aborts the collective operations.
    workers[0].wait(timeout=WORKER_TIMEOUT)
    assert workers[0].returncode != 0
    assert "UnavailableError" in workers[0].log_path.read_text(errors="replace")
    assert not (chief_run / "metrics.json").exists(), "the job finished before the kill"
    killed_at = _backup_epoch(chief_run)
    assert killed_at >= 2
    assert _backup_epoch(worker_run) == killed_at, "the workers' backups are at different epochs"

    # As if the chief had died before its last backup: the worker's backup is one epoch ahead,
    # and the restarted job must roll it back so both workers start at the same epoch.
    strategy_lib.roll_back_backup(str(chief_run / "backup"), killed_at - 1)
    resumed_from = killed_at - 1

    restarted = _start_workers(start_process, module, arguments + ["--resume"], _free_ports(2), "second")
    for process in restarted:
        _wait_success(process)

    config = load_json(chief_run / "config.json")
    metrics = load_json(chief_run / "metrics.json")
    assert config["resumed"] is True
    assert metrics["epochs_run_in_last_process"] == 4 - resumed_from
    assert len(metrics["history"]["loss"]) == 4, "history.csv has every epoch once"
    assert not (chief_run / "backup").exists(), "a finished run keeps no backup"
    assert not (output / ".workertemp_worker_1").exists()
    assert metrics["test"]["accuracy"] > 0.3

    # A complete run is skipped by every worker, not only by the chief that can see it.
    finished = os.path.getmtime(chief_run / "metrics.json")
    again = _start_workers(start_process, module, arguments + ["--resume"], _free_ports(2), "third")
    for process in again:
        _wait_success(process, timeout=240)
    assert os.path.getmtime(chief_run / "metrics.json") == finished
    assert "already complete" in again[0].log_path.read_text(errors="replace")
    assert not (output / ".workertemp_worker_1").exists()


def _backup_two_epochs(backup_dir):
    """Train a tiny model for 2 epochs with a double-checkpoint backup; return each epoch's weights."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    weights = []
    saver = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: weights.append(model.get_weights()))
    backup = keras.callbacks.BackupAndRestore(str(backup_dir), double_checkpoint=True, delete_checkpoint=False)
    features, targets = np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")
    model.fit(features, targets, epochs=2, callbacks=[saver, backup], verbose=0)
    return model, weights


def test_roll_back_backup_restores_previous_epoch(tmp_path):
    model, weights = _backup_two_epochs(tmp_path)

    strategy_lib.roll_back_backup(str(tmp_path), 1)

    assert backup_epoch(str(tmp_path)) == 1
    model.load_weights(str(tmp_path / "latest.weights.h5"))
    for restored, expected in zip(model.get_weights(), weights[0]):
        np.testing.assert_array_equal(restored, expected)


def test_roll_back_backup_to_zero_removes_it(tmp_path):
    _backup_two_epochs(tmp_path / "backup")

    strategy_lib.roll_back_backup(str(tmp_path / "backup"), 0)

    assert not (tmp_path / "backup").exists()


def test_roll_back_backup_rejects_distant_epoch(tmp_path):
    _backup_two_epochs(tmp_path)

    with pytest.raises(RuntimeError, match="--overwrite"):
        strategy_lib.roll_back_backup(str(tmp_path), 3)


def test_align_backups_single_worker_keeps_backup(tmp_path):
    _backup_two_epochs(tmp_path)

    assert strategy_lib.align_backups(str(tmp_path), tf.distribute.get_strategy(), epochs=4) == 2
    assert backup_epoch(str(tmp_path)) == 2


def test_lowest_epoch_reduces_over_replicas():
    assert strategy_lib._lowest_across_workers(tf.distribute.get_strategy(), 3, epochs=5) == 3
