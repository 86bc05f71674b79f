"""Serve the main job's run folders with a real TensorBoard server and read them over HTTP.

The server is a `tensorboard` subprocess bound to 127.0.0.1. It uses the pure-Python
loader (`--load_fast=false`) and loads every event file once before it starts listening
(`--reload_task=blocking --reload_interval=0`), so its first response already
covers every run. Every request goes through TensorBoard's own HTTP routes:

    GET  /data/runs                               run names
    GET  /data/plugin/scalars/scalars             one (run, tag) scalar series
    POST /data/plugin/hparams/experiment          hparams and metrics found in the logs
    POST /data/plugin/hparams/session_groups      sessions with their hparams and metrics
    GET  /data/plugin/histograms/tags             histogram tags per run
    GET  /data/plugin/histograms/histograms       one (run, tag) histogram series
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import keras
import pytest

from recipes import convnet_positions

# The main job, the server start (4.5 to 8 s) and the checks took 19 to 41 s in total
# on 2 shared CPU cores.
pytestmark = pytest.mark.slow

SMALL_RUN = [
    "--epochs", "2", "--max-train-examples", "512", "--validation-size", "256",
    "--batch-size", "64", "--filters", "8,16",
]
VARIANTS = ("none", "coords")
LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 60.0
POLL_INTERVAL_SECONDS = 0.25
REQUEST_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0

# An opener without proxy handling, so `http_proxy` variables cannot route a request
# away from loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# All four `Status` values of tensorboard/plugins/hparams/api.proto. The session_groups
# route drops every session whose status is not listed in the request.
ALL_SESSION_STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def _get_json(base_url, route, **params):
    url = f"{base_url}{route}"
    if params:
        url = f"{url}?{urllib.parse.urlencode(params)}"
    with _OPENER.open(url, timeout=REQUEST_TIMEOUT_SECONDS) as response:
        return json.load(response)


def _post_json(base_url, route, body):
    request = urllib.request.Request(
        f"{base_url}{route}",
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with _OPENER.open(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
        return json.load(response)


def _read_json(path):
    with open(path) as file:
        return json.load(file)


def _log_tail(log_path, characters=3000):
    with open(log_path, errors="replace") as file:
        return file.read()[-characters:]


def _wait_until_serving(base_url, process, log_path):
    """Poll `/data/runs` until the server responds, and fail if it exits or times out.

    Returns:
        The seconds the server took to start responding.
    """
    start = time.monotonic()
    deadline = start + STARTUP_TIMEOUT_SECONDS
    last_error = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"TensorBoard exited with code {process.returncode} before serving "
                f"{base_url}. Log tail:\n{_log_tail(log_path)}"
            )
        try:
            _get_json(base_url, "/data/runs")
            return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last_error = error
        time.sleep(POLL_INTERVAL_SECONDS)
    pytest.fail(
        f"TensorBoard did not answer {base_url}/data/runs within {STARTUP_TIMEOUT_SECONDS} s "
        f"(last error: {last_error!r}). Log tail:\n{_log_tail(log_path)}"
    )


def _stop(process):
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_SECONDS)


@pytest.fixture(scope="module")
def output_dir(tmp_path_factory):
    output = tmp_path_factory.mktemp("tensorboard_runs") / "convnet"
    exit_code = convnet_positions.main(SMALL_RUN + ["--output", str(output)])
    if exit_code != 0:
        pytest.fail(f"convnet_positions.main returned {exit_code} for output {output}")
    return output


@pytest.fixture(scope="module")
def server_url(output_dir, tmp_path_factory):
    port = _free_port()
    base_url = f"http://{LOOPBACK}:{port}"
    log_path = tmp_path_factory.mktemp("tensorboard_server") / "tensorboard.log"
    command = [
        sys.executable, "-m", "tensorboard.main",
        "--logdir", str(output_dir),
        "--host", LOOPBACK,
        "--port", str(port),
        "--load_fast=false",
        "--reload_task=blocking",
        "--reload_interval=0",
    ]
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        )
    try:
        startup_seconds = _wait_until_serving(base_url, process, log_path)
        print(f"TensorBoard served {base_url} after {startup_seconds:.1f} s")
        yield base_url
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def coords_model(output_dir):
    import layers  # noqa: F401  registers the custom layers before loading

    return keras.saving.load_model(str(output_dir / "coords" / "model.keras"), safe_mode=True)


def _metrics(output_dir, variant):
    return _read_json(output_dir / variant / "metrics.json")


def _config(output_dir, variant):
    return _read_json(output_dir / variant / "config.json")


def _session_groups(server_url):
    request = {
        "experimentName": "",
        "allowedStatuses": ALL_SESSION_STATUSES,
        "startIndex": 0,
        # The route returns groups[startIndex:startIndex + sliceSize], so 0 returns none.
        "sliceSize": 100,
        "includeMetrics": True,
    }
    return _post_json(server_url, "/data/plugin/hparams/session_groups", request)


def _find_session(groups, session_name):
    return [
        (group, session)
        for group in groups
        for session in group["sessions"]
        if session["name"] == session_name
    ]


def _metric_value(session, group, tag):
    for metric in session["metricValues"]:
        if metric["name"] == {"group": group, "tag": tag}:
            return metric
    return None


def test_runs_list_has_every_variant(server_url):
    runs = _get_json(server_url, "/data/runs")

    for variant in VARIANTS:
        for run in (f"{variant}/logs", f"{variant}/logs/train", f"{variant}/logs/validation"):
            assert run in runs, f"run {run!r} not served; /data/runs returned {runs}"


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(
    "split, tag, history_key",
    [("train", "epoch_loss", "loss"), ("validation", "epoch_accuracy", "val_accuracy")],
)
def test_scalars_match_metrics_history(server_url, output_dir, variant, split, tag, history_key):
    epochs = _config(output_dir, variant)["epochs"]
    history = _metrics(output_dir, variant)["history"][history_key]
    run = f"{variant}/logs/{split}"

    # Each point is [wall_time, step, value].
    points = _get_json(server_url, "/data/plugin/scalars/scalars", run=run, tag=tag)
    steps = [step for _, step, _ in points]
    values = [value for _, _, value in points]

    assert steps == list(range(epochs)), f"{run} {tag}: expected one step per epoch, served {points}"
    assert values == pytest.approx(history, rel=1e-6), (
        f"{run} {tag}: served {values}, metrics.json history[{history_key!r}] is {history}"
    )


def test_hparams_experiment_lists_hparams(server_url):
    experiment = _post_json(
        server_url, "/data/plugin/hparams/experiment",
        {"experimentName": "", "includeMetrics": True},
    )
    hparams = {info["name"]: info for info in experiment.get("hparamInfos", [])}

    for name in ("variant", "epochs", "seed"):
        assert name in hparams, f"hparam {name!r} not served; experiment returned {experiment}"
    assert set(hparams["variant"].get("domainDiscrete", [])) == set(VARIANTS), (
        f"variant domain served as {hparams['variant']}"
    )


def test_hparams_experiment_lists_validation_metrics(server_url):
    experiment = _post_json(
        server_url, "/data/plugin/hparams/experiment",
        {"experimentName": "", "includeMetrics": True},
    )
    metric_names = [info["name"] for info in experiment.get("metricInfos", [])]

    for tag in ("epoch_accuracy", "epoch_loss"):
        expected = {"group": "validation", "tag": tag}
        assert expected in metric_names, f"metric {expected} not served; metricInfos are {metric_names}"


def test_hparams_session_groups_count(server_url):
    response = _session_groups(server_url)

    assert response.get("totalSize") == len(VARIANTS), f"session_groups returned {response}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_hparams_session_values(server_url, output_dir, variant):
    config = _config(output_dir, variant)
    history = _metrics(output_dir, variant)["history"]
    session_name = f"{variant}/logs"
    groups = _session_groups(server_url).get("sessionGroups", [])

    matches = _find_session(groups, session_name)
    assert len(matches) == 1, f"expected one session {session_name!r}, session_groups returned {groups}"
    group, session = matches[0]
    assert group["name"] == f"{output_dir.name}/{variant}", "group names are relative to the output parent"

    assert session.get("status") == "STATUS_SUCCESS", f"session {session_name!r} served as {session}"
    assert group["hparams"].get("variant") == variant, f"group hparams served as {group['hparams']}"
    assert group["hparams"].get("epochs") == config["epochs"], f"group hparams served as {group['hparams']}"
    assert group["hparams"].get("seed") == config["seed"], f"group hparams served as {group['hparams']}"

    accuracy = _metric_value(session, "validation", "epoch_accuracy")
    assert accuracy is not None, (
        f"session {session_name!r} has no validation epoch_accuracy; metricValues are "
        f"{session['metricValues']}"
    )
    assert accuracy["value"] == pytest.approx(history["val_accuracy"][-1], rel=1e-6), (
        f"served {accuracy}, metrics.json val_accuracy is {history['val_accuracy']}"
    )
    assert accuracy.get("trainingStep") == config["epochs"] - 1, f"served {accuracy}"


def test_histogram_tags_cover_every_weight(server_url, coords_model):
    served = _get_json(server_url, "/data/plugin/histograms/tags").get("coords/logs/train", {})
    expected = {f"{weight.path}/histogram" for weight in coords_model.weights}

    assert any(tag.endswith("/kernel/histogram") for tag in served), (
        f"no kernel histogram served for coords/logs/train; tags are {sorted(served)}"
    )
    # Colliding tags would merge two weights into one tag and leave this set short.
    assert set(served) == expected, (
        f"served histogram tags {sorted(served)} differ from the model weights {sorted(expected)}"
    )


def test_histogram_matches_final_kernel(server_url, output_dir, coords_model):
    epochs = _config(output_dir, "coords")["epochs"]
    kernel = next(weight for weight in coords_model.weights if weight.path.endswith("/kernel"))
    values = keras.ops.convert_to_numpy(kernel)
    tag = f"{kernel.path}/histogram"

    # Each point is [wall_time, step, [[left_edge, right_edge, count], ...]].
    points = _get_json(
        server_url, "/data/plugin/histograms/histograms", run="coords/logs/train", tag=tag
    )
    steps = [step for _, step, _ in points]
    buckets = points[-1][2]

    assert steps == list(range(epochs)), f"{tag}: expected one histogram per epoch, steps {steps}"
    assert sum(count for _, _, count in buckets) == values.size, (
        f"{tag}: bucket counts {buckets} do not add up to the {values.size} kernel values"
    )
    # The saved model contains the weights after the last epoch, which the last histogram shows.
    assert buckets[0][0] == pytest.approx(float(values.min()), abs=1e-6), (
        f"{tag}: first bucket {buckets[0]}, final kernel minimum {values.min()}"
    )
    assert buckets[-1][1] == pytest.approx(float(values.max()), abs=1e-6), (
        f"{tag}: last bucket {buckets[-1]}, final kernel maximum {values.max()}"
    )
