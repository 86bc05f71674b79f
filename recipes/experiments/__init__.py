"""Experiments that put the project's claims to a measured test, one module per family.

Each module runs as `python -m recipes.experiments.<name>` (or `zoo train <name>`) with
`--quick` (tiny slices, the default) or `--full`, and `--seeds`. Runs go to
`runs/experiments/<experiment>/<variant>/seed<k>/`; `zoo report` turns them into
docs/RESULTS.md.
"""

EXPERIMENTS = ("input_encoding", "transformer_positions", "convnet_positions_claims")
