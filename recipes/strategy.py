"""Distribution strategies for recipes, and which worker writes a run's outputs.

A recipe builds its strategy with `build_strategy(name)` before any other TensorFlow call,
builds and compiles its model inside `strategy.scope()`, and passes `model.fit` the
dataset batched with the global batch size. Keras then splits every global batch across
the replicas: each of `strategy.num_replicas_in_sync` replicas gets
`global_batch_size / num_replicas_in_sync` examples and the gradients are averaged, so
one step under a strategy follows the same mean gradient as one step on one device.

Under `MultiWorkerMirroredStrategy` every worker runs the same script: `fit`, `evaluate`,
`save` and `export` take part in collective operations, so every worker calls them. Only
the chief writes into the run folder. The other workers write to a folder of their own
(`worker_run_path`) and delete it when the run has finished.

Example:
>>> strategy = build_strategy("mirrored")
>>> with strategy.scope():
...     model = build_convnet((28, 28, 1), output_units=10, positional="coords")
...     model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True))
"""

import contextlib
import json
import logging
import os
import shutil

import numpy as np
import tensorflow as tf

from recipes.callbacks import BACKUP_METADATA, BACKUP_WEIGHTS, PREVIOUS_BACKUP_SUFFIX, backup_epoch

logger = logging.getLogger(__name__)

STRATEGY_NAMES = ("default", "one_device", "mirrored", "multi_worker")

# Number of logical CPU devices to split the host CPU into, read by `build_strategy`.
LOGICAL_CPUS_VARIABLE = "ENCODING_ZOO_LOGICAL_CPUS"

TF_CONFIG_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}\''
)

# Task types a `MultiWorkerMirroredStrategy` cluster may contain. An evaluator does not
# train, so recipes do not accept it.
_TRAINING_TASK_TYPES = ("chief", "worker")


def configure_logical_cpus(count):
    """Split the first physical CPU into `count` logical CPU devices.

    `MirroredStrategy` needs one device per replica. On a machine without GPUs, logical
    CPU devices give it several replicas, which is how the tests check mirrored training.
    TensorFlow fixes its devices when it first initializes them (on the first op, tensor
    or strategy), so call this at the start of the program.

    Args:
        count: int, the number of logical CPU devices, at least 1.

    Returns:
        The names of the logical CPU devices, e.g. `["/device:CPU:0", "/device:CPU:1"]`.

    Example:
    >>> configure_logical_cpus(2)
    ['/device:CPU:0', '/device:CPU:1']
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"`count` must be a positive integer. Received: count={count!r}")

    cpu = tf.config.list_physical_devices("CPU")[0]
    configured = tf.config.get_logical_device_configuration(cpu)
    if configured is None or len(configured) != count:
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
            )
        except RuntimeError as error:
            raise RuntimeError(
                f"Cannot split the CPU into {count} logical devices because TensorFlow has "
                "already initialized its devices. Call `configure_logical_cpus` (or set "
                f"{LOGICAL_CPUS_VARIABLE}) before any other TensorFlow call."
            ) from error
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def logical_cpus_from_environment():
    """Return the logical CPU count set in `ENCODING_ZOO_LOGICAL_CPUS`, or 0 when unset."""
    value = os.environ.get(LOGICAL_CPUS_VARIABLE, "").strip()
    if not value:
        return 0
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 1:
        raise ValueError(
            f"{LOGICAL_CPUS_VARIABLE} must be a positive integer such as 2. Received: {value!r}"
        )
    return count


def read_tf_config():
    """Read and check the `TF_CONFIG` environment variable of a multi-worker job.

    Returns:
        The parsed dict, with `cluster` (task type to a list of `host:port` addresses) and
        `task` (this process's `type` and `index`).

    Raises:
        ValueError: when `TF_CONFIG` is missing, is not JSON, or does not name this
            process's task in its cluster. The message shows a valid example.

    Example:
    >>> os.environ["TF_CONFIG"] = json.dumps({
    ...     "cluster": {"worker": ["localhost:12345", "localhost:12346"]},
    ...     "task": {"type": "worker", "index": 0}})
    >>> read_tf_config()["task"]
    {'type': 'worker', 'index': 0}
    """
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        raise ValueError(_tf_config_error("The TF_CONFIG environment variable is missing or empty."))
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(_tf_config_error(f"TF_CONFIG is not valid JSON ({error}). Received: {text!r}")) from None

    problem = _tf_config_problem(config)
    if problem:
        raise ValueError(_tf_config_error(f"TF_CONFIG is invalid: {problem} Received: {text!r}"))
    return config


def _tf_config_problem(config):
    """Return a sentence describing what is wrong with a parsed TF_CONFIG, or `None`."""
    if not isinstance(config, dict):
        return "it must be a JSON object with the keys 'cluster' and 'task'."
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        return "'cluster' must map task types such as 'worker' to lists of 'host:port' addresses."
    for task_type, addresses in cluster.items():
        if task_type not in _TRAINING_TASK_TYPES:
            return f"cluster task type {task_type!r} is not one of {list(_TRAINING_TASK_TYPES)}."
        if not isinstance(addresses, list) or not addresses or not all(
            isinstance(address, str) and ":" in address for address in addresses
        ):
            return f"cluster[{task_type!r}] must be a non-empty list of 'host:port' strings."
    if len(cluster.get("chief", [])) > 1:
        return "a cluster has at most one chief."
    if not isinstance(task, dict):
        return "'task' must be an object such as {\"type\": \"worker\", \"index\": 0}."
    task_type, index = task.get("type"), task.get("index")
    if task_type not in cluster:
        return f"task type {task_type!r} is not a task type of the cluster {sorted(cluster)}."
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[task_type]):
        return f"task index {index!r} must be an integer in [0, {len(cluster[task_type])})."
    return None


def _tf_config_error(problem):
    return (
        f"{problem} `--strategy multi_worker` reads the cluster and this process's place in it "
        f"from TF_CONFIG. Set it on every machine, with the same cluster and that machine's "
        f"task index, for example:\n  {TF_CONFIG_EXAMPLE}"
    )


def build_strategy(name="default", logical_cpus=None):
    """Build the `tf.distribute` strategy called `name`.

    Call it at the start of the program, before any other TensorFlow call: logical
    devices and `MultiWorkerMirroredStrategy` both need TensorFlow uninitialized.

    Args:
        name: one of `STRATEGY_NAMES`:
            `"default"`: `tf.distribute.get_strategy()`, plain Keras placement.
            `"one_device"`: `OneDeviceStrategy` on the first GPU, or on the CPU without one.
            `"mirrored"`: `MirroredStrategy` over every local GPU, or over every logical
                CPU device without GPUs (one CPU device unless `logical_cpus` is set).
            `"multi_worker"`: `MultiWorkerMirroredStrategy` over the cluster in
                `TF_CONFIG` (see `read_tf_config`), every local GPU or the CPU per worker.
        logical_cpus: int, split the CPU into this many logical devices first (see
            `configure_logical_cpus`). `None` reads `ENCODING_ZOO_LOGICAL_CPUS`, and 0 or an
            unset variable leaves the CPU whole.

    Returns:
        A `tf.distribute.Strategy`.

    Example:
    >>> strategy = build_strategy("mirrored", logical_cpus=2)
    >>> strategy.num_replicas_in_sync
    2
    """
    if name not in STRATEGY_NAMES:
        raise ValueError(f"Unknown strategy {name!r}. Use one of {list(STRATEGY_NAMES)}.")
    if logical_cpus is None:
        logical_cpus = logical_cpus_from_environment()
    if logical_cpus:
        configure_logical_cpus(logical_cpus)

    if name == "default":
        strategy = tf.distribute.get_strategy()
    elif name == "multi_worker":
        read_tf_config()
        strategy = KerasMultiWorkerMirroredStrategy()
    else:
        gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
        cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
        if name == "one_device":
            strategy = tf.distribute.OneDeviceStrategy((gpus or cpus)[0])
        else:
            strategy = tf.distribute.MirroredStrategy(gpus or cpus)

    logger.info(
        "Strategy %s: %s with %d replicas in sync.",
        name, type(strategy).__name__, strategy.num_replicas_in_sync,
    )
    return strategy


class KerasMultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """`MultiWorkerMirroredStrategy` whose `reduce` accepts the calls Keras 3.15 makes.

    Keras 3.15 `fit` and `evaluate` fail under the parent class with TensorFlow 2.21, in
    two places of keras/src/backend/tensorflow/trainer.py:
    - `_maybe_symbolic_build` passes the whole first `(inputs, targets)` batch to one
      `strategy.reduce` call, and the collective reduction raises "Attempt to convert a
      value (PerReplica...) with an unsupported type to a Tensor".
    - `reduce_per_replica` averages each scalar log (loss, metrics) across workers with
      `strategy.reduce("MEAN", value, axis=0)`, which raises "Invalid reduction dimension
      0 for input with 0 dimensions".
    This subclass reduces each tensor of a nested structure separately, and reduces a
    scalar across replicas only when `axis` is given, the result Keras computes for a
    single worker (`tf.reduce_mean` over the stacked replica values). Remove it once
    `fit` works under the parent class.

    Example:
    >>> strategy = KerasMultiWorkerMirroredStrategy()  # reads TF_CONFIG
    """

    def reduce(self, reduce_op, value, axis):
        if isinstance(value, (tuple, list, dict)):
            return tf.nest.map_structure(lambda tensor: self.reduce(reduce_op, tensor, axis), value)
        if axis is not None and _replica_rank(self, value) == 0:
            axis = None
        return super().reduce(reduce_op, value, axis)


def _replica_rank(strategy, value):
    """Return the rank of one replica's part of `value`, or `None` when it is unknown."""
    if isinstance(value, tf.distribute.DistributedValues):
        value = strategy.experimental_local_results(value)[0]
    shape = getattr(value, "shape", None)
    return None if shape is None else shape.rank


def is_multi_worker(strategy):
    """Return whether `strategy` spans more than one worker process."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return False
    return sum(len(addresses) for addresses in resolver.cluster_spec().as_dict().values()) > 1


def is_chief(strategy):
    """Return whether this process writes the run's outputs.

    The chief is the `chief` task when the cluster has one, else worker 0. Every process
    of a single-machine strategy is the chief.

    Example:
    >>> is_chief(tf.distribute.get_strategy())
    True
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief_task = "chief" in resolver.cluster_spec().as_dict()
    return not has_chief_task and resolver.task_type == "worker" and resolver.task_id == 0


def worker_run_path(path, strategy):
    """Return the folder this process writes the run at `path` to.

    The chief writes to `path`. Another worker writes to
    `<parent of path>/.workertemp_<type>_<index>/<name of path>`: a path that is the same
    after a restart, so a restarted worker finds its own `BackupAndRestore` state there.
    Keras 3.15 `BackupAndRestore` writes and deletes its folder on every worker, so
    workers that shared one backup folder would overwrite each other's files.

    A worker that dies after the others saved an epoch's backup, but before it saved its
    own, leaves backups one epoch apart. On restart, `align_backups` rolls the others back.

    Example:
    >>> worker_run_path("runs/job/coords", strategy)  # on worker 1
    'runs/job/.workertemp_worker_1/coords'
    """
    if is_chief(strategy):
        return path
    resolver = strategy.cluster_resolver
    parent, name = os.path.split(os.path.normpath(path))
    return os.path.join(parent, f".workertemp_{resolver.task_type}_{resolver.task_id}", name)


def remove_worker_run_folder(path, strategy):
    """Delete `path` when it is a non-chief worker's temporary run folder.

    Call it after the run has finished, so an interrupted worker keeps its backup for
    `--resume`. On the chief this does nothing.

    Example:
    >>> run = RunFolder(worker_run_path("runs/job/coords", strategy))
    >>> ...  # train, evaluate and export into run
    >>> remove_worker_run_folder(run.path, strategy)
    """
    if is_chief(strategy):
        return
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(path))  # succeeds only once no other run is left in it


def chief_decision(strategy, decision):
    """Return the chief's `decision` on every worker of `strategy`.

    Workers must make the same choices, such as skipping a run the chief has finished,
    or one worker waits for the others in a collective operation that never comes. This
    is itself a collective operation, so every worker calls it at the same point.

    Args:
        strategy: the `tf.distribute.Strategy` of the job.
        decision: bool, this process's value. Only the chief's value is used.

    Example:
    >>> skip = chief_decision(strategy, run.is_complete())
    """
    if not is_multi_worker(strategy):
        return bool(decision)

    vote = tf.constant(1 if (decision and is_chief(strategy)) else 0, tf.int32)

    @tf.function  # eager `strategy.run` under this strategy logs a warning about overhead
    def count_votes():
        votes = strategy.run(lambda: tf.identity(vote))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, votes, axis=None)

    return bool(count_votes() > 0)


def align_backups(backup_dir, strategy, epochs):
    """Roll this worker's backup back to the last epoch that every worker has backed up.

    Workers save their `BackupAndRestore` backups one after another at the end of each
    epoch. A job killed in between leaves some workers one epoch ahead, and resuming them
    as they are would start the workers at different epochs. With `double_checkpoint=True`
    each backup keeps the previous epoch as `*.bkp` files, which this restores where needed.
    Every worker calls it at the same point, before `fit`, because it is a collective
    operation. Outside multi-worker training it does nothing.

    Args:
        backup_dir: this worker's `BackupAndRestore` folder.
        strategy: the job's `tf.distribute.Strategy`.
        epochs: the run's epoch budget (the largest epoch a backup can record).

    Returns:
        The number of finished epochs that training resumes after.

    Example:
    >>> align_backups(run.backup_dir, strategy, epochs=4)
    2
    """
    epoch = backup_epoch(backup_dir)
    if not is_multi_worker(strategy):
        return epoch
    lowest = _lowest_across_workers(strategy, epoch, epochs)
    if epoch > lowest:
        roll_back_backup(backup_dir, lowest)
    return lowest


def roll_back_backup(backup_dir, epoch):
    """Make `epoch` the latest backup in `backup_dir`: restore the previous backup, or delete all.

    Raises:
        RuntimeError: when the previous backup is not at `epoch`, so the workers cannot
            agree on an epoch to resume from.
    """
    if epoch == 0:
        shutil.rmtree(backup_dir, ignore_errors=True)
        return

    previous_epoch = backup_epoch(backup_dir, previous=True)
    if previous_epoch != epoch:
        raise RuntimeError(
            f"Failed to roll the backup in {backup_dir} back to epoch {epoch}, where the other "
            f"workers resume: its previous backup is at epoch {previous_epoch}. "
            "Restart the job with --overwrite."
        )
    for name in (BACKUP_WEIGHTS, BACKUP_METADATA):
        os.replace(os.path.join(backup_dir, name + PREVIOUS_BACKUP_SUFFIX), os.path.join(backup_dir, name))


def _lowest_across_workers(strategy, epoch, epochs):
    # The strategy reduces only by sum or mean, so each worker adds a one-hot vector of its
    # epoch and the lowest epoch is the first non-zero entry of the sum.
    vote = tf.one_hot(epoch, epochs + 1, dtype=tf.int32)

    @tf.function
    def count_epochs():
        votes = strategy.run(lambda: tf.identity(vote))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, votes, axis=None)

    counts = count_epochs().numpy()
    return int(np.flatnonzero(counts)[0])
