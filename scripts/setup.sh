#!/usr/bin/env bash
# Prepare a fresh machine: the Fashion-MNIST Debian package (when run as root) and the
# virtual environment at .venv/ with the pinned packages. Safe to run again: each step is
# skipped when its result is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

FASHION_MNIST_DIR=/usr/share/datasets/fashion-mnist
PYTHON=${PYTHON:-python3.11}

install_fashion_mnist() {
  if [ -d "$FASHION_MNIST_DIR" ]; then
    return
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "setup: not root or no apt-get, so Fashion-MNIST is not installed;" \
      "the loader will fall back to scikit-learn's digits." >&2
    return
  fi
  echo "setup: installing the Debian package dataset-fashion-mnist"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; } >/dev/null; then
    echo "setup: apt-get failed, so Fashion-MNIST is not installed;" \
      "the loader will fall back to scikit-learn's digits." >&2
  fi
}

install_venv() {
  if ! command -v "$PYTHON" >/dev/null; then
    PYTHON=python3
  fi
  if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
  fi

  # The stamp records the hash of the files that decide what gets installed.
  local stamp=.venv/.encoding-zoo-installed
  local wanted
  wanted=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    return
  fi
  echo "setup: installing pinned packages into .venv (about 1 minute on a fast mirror)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[test]"
  echo "$wanted" > "$stamp"
}

install_fashion_mnist
install_venv
