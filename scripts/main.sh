#!/usr/bin/env bash
# Set up, then run the main job: plain ConvNet versus ConvNet with coordinate channels on
# Fashion-MNIST. Extra arguments go to the recipe (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
exec .venv/bin/python -m recipes.convnet_positions "$@"
