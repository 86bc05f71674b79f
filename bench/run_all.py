"""Run every benchmark in one process and print the Markdown report.

Usage: `python -m bench.run_all [--quick] [--tiny] [--only SECTION ...]`. The full run took
304 s on the project's idle 2-core machine, the quick run 192 s. `--tiny`
uses minuscule sizes to check the code, and its figures mean nothing.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench import common, layer_costs, pipeline, scaling, serving, throughput, time_to_accuracy  # noqa: E402

SECTIONS = {
    "layers": ("Our layers against Keras and keras-hub", layer_costs.run),
    "throughput": ("Training throughput, MFU, XLA and bf16", throughput.run),
    "time_to_accuracy": ("Time to accuracy on cmudict", time_to_accuracy.run),
    "scaling": ("Cost growth", scaling.run),
    "pipeline": ("Input pipeline", pipeline.run),
    "serving": ("Serving", serving.run),
}


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller grids and fewer repeats")
    parser.add_argument("--tiny", action="store_true", help="minuscule sizes, to test the code only")
    parser.add_argument("--only", nargs="+", choices=sorted(SECTIONS), help="run only these sections")
    return parser.parse_args(argv)


def main(argv=None):
    """Run the selected benchmark sections and print Markdown to stdout; return the values."""
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    settings = common.Settings(quick=arguments.quick, tiny=arguments.tiny)
    start_load, start = common.load_average(), time.perf_counter()
    print("## Benchmark run\n")
    print("\n".join(common.header_lines(common.command_line())))
    print(f"- 1-minute load average at start: {start_load:.2f}", flush=True)

    values = {}
    for key in arguments.only or SECTIONS:
        title, function = SECTIONS[key]
        section_start = time.perf_counter()
        sections, section_values = function(settings)
        values.update(section_values)
        print(f"\n## {title}\n")
        print("\n\n".join(sections))
        print(f"\n_Section time: {time.perf_counter() - section_start:.0f} s._", flush=True)

    print(f"\n- 1-minute load average at end: {common.load_average():.2f}")
    print(f"- Total time: {time.perf_counter() - start:.0f} s")
    return values


if __name__ == "__main__":
    main()
