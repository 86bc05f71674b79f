"""Benchmarks of the encoding zoo: layer costs, training throughput, scaling, input pipelines, serving.

Run `python -m bench.run_all [--quick]`; docs/benchmarks.md explains the tables.
"""
