"""Shared benchmark tools: the machine header, interleaved timing, peak RSS and Markdown tables."""

import datetime
import os
import platform
import re
import statistics
import sys
import time

import keras
import numpy as np
import tensorflow as tf

# CPU flags that decide which oneDNN kernels run (bf16 and int8 dot products, AMX tiles).
RELEVANT_CPU_FLAGS = (
    "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
    "avx_vnni", "amx_tile", "amx_bf16", "amx_int8",
)


def cpu_description():
    """Return the CPU model name, core count and the relevant flags from /proc/cpuinfo."""
    model, flags = platform.processor() or "unknown", set()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as file:
            text = file.read()
        match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        model = match.group(1).strip() if match else model
        match = re.search(r"^flags\s*:\s*(.+)$", text, re.MULTILINE)
        flags = set(match.group(1).split()) if match else set()
    present = [flag for flag in RELEVANT_CPU_FLAGS if flag in flags]
    absent = [flag for flag in RELEVANT_CPU_FLAGS if flag not in flags]
    return model, os.cpu_count(), present, absent


def load_average():
    """Return the 1-minute load average."""
    return os.getloadavg()[0]


def header_lines(command):
    """Return the Markdown header lines: machine, versions, command, date and load."""
    import keras_hub

    model, cores, present, absent = cpu_description()
    return [
        f"- Machine: {model}, {cores} logical cores; flags present: {', '.join(present) or 'none'}; "
        f"absent: {', '.join(absent) or 'none'}",
        f"- Versions: Python {platform.python_version()}, TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__}, keras-hub {keras_hub.__version__}, NumPy {np.__version__}",
        f"- Command: `{command}`",
        f"- Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
    ]


def command_line():
    """Return the command that started this process, as typed (module form when run with -m)."""
    arguments = " ".join(sys.argv[1:])
    module = "bench.run_all" if sys.argv[0].endswith(os.path.join("bench", "run_all.py")) else sys.argv[0]
    return f"python -m {module} {arguments}".strip()


def interleaved_step_times(cases, warmup, rounds, steps_per_round=1):
    """Time callables side by side and return the median seconds per call of each.

    Every case runs `warmup` calls first. Then each round calls every case `steps_per_round`
    times in turn, so a load change on a shared CPU affects all cases alike.

    Args:
        cases: dict name -> callable that runs one step and blocks until it is done.
        warmup: untimed calls per case.
        rounds: timed rounds.
        steps_per_round: calls per case per round, each timed alone.

    Example:
    >>> interleaved_step_times({"a": step_a, "b": step_b}, warmup=2, rounds=5)
    """
    for step in cases.values():
        for _ in range(warmup):
            step()

    durations = {name: [] for name in cases}
    for _ in range(rounds):
        for name, step in cases.items():
            for _ in range(steps_per_round):
                start = time.perf_counter()
                step()
                durations[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in durations.items()}


def percentiles(durations, points=(50, 95)):
    """Return the requested percentiles of a list of durations, in milliseconds."""
    return [float(np.percentile(np.asarray(durations) * 1e3, point)) for point in points]


def markdown_table(columns, rows):
    """Format rows (lists of values) as a Markdown table; floats get 3 significant digits."""
    def cell(value):
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1e5 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ratio, limit):
    """Return 'met' or 'missed by X%' for a ratio that should be at most `limit`."""
    if ratio <= limit:
        return "met"
    return f"missed by {100.0 * (ratio / limit - 1.0):.0f}%"


def train_step_function(model, inputs, targets):
    """Return a callable that runs one `train_on_batch` step of a compiled model on fixed data."""
    def step():
        model.train_on_batch(inputs, targets)

    return step


class Settings:
    """Sizes and repeat counts of a benchmark run: `quick=True` for smaller grids, fewer repeats.

    Attributes:
        quick: whether this is the quick run.
        warmup: untimed steps per case.
        rounds: timed interleaved rounds per case.
    """

    # On the idle 2-core machine the quick run took 192 s and the full run 304 s.
    def __init__(self, quick=False, tiny=False):
        self.quick = quick
        self.tiny = tiny
        self.warmup = 1 if tiny else 2
        self.rounds = 8
        if quick:
            self.rounds = 5
        if tiny:
            self.rounds = 1

    def scaled(self, full, quick, tiny):
        """Return the value for this run's size."""
        if self.tiny:
            return tiny
        return quick if self.quick else full
