"""Run every claim experiment in one mode, then write docs/RESULTS.md with `zoo report`.

Example:
    python -m recipes.experiments.run_all --quick
    python -m recipes.experiments.run_all --full --seeds 0,1,2
"""

import importlib
import logging
import sys
import time

from recipes.experiments import EXPERIMENTS, runner

logger = logging.getLogger("recipes.experiments")


def main(argv=None):
    """Run the experiments, record their wall times, and write the report; return 0."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = runner.parse_args("run_all", argv, description=__doc__.splitlines()[0])
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    seconds = {}
    for experiment in EXPERIMENTS:
        start = time.perf_counter()
        importlib.import_module(f"recipes.experiments.{experiment}").main(argv)
        seconds[experiment] = time.perf_counter() - start
        logger.info("%s finished in %.1f s", experiment, seconds[experiment])

    runner.write_timing(args, seconds)
    from recipes import report

    report.main(["--runs", args.output])
    logger.info("All experiments (%s mode) took %.1f s", args.mode, sum(seconds.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
