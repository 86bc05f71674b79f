#!/usr/bin/env bash
# Set up, then run the default test suite (slow checks are behind `-m slow`).
# Extra arguments go to pytest. pytest exits 5 when no test ran, which fails this script.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
exec .venv/bin/python -m pytest "$@"
