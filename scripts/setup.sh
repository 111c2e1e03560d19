#!/usr/bin/env bash
# Installs libtorch for the `torch` feature: PyTorch's wheel (torch==2.11.0, the version tch
# 0.24 is built for) into .venv, reused when already there, and links its package folder
# (lib/ + include/) at .venv/libtorch, where .cargo/config.toml points LIBTORCH.
# Other routes: LIBTORCH=/path/to/libtorch (the C++ distribution) in the environment, or
# tch's `download-libtorch` feature on a machine with internet access.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.11.0
have() {
    .venv/bin/python - <<PY 2>/dev/null
import sys, torch
sys.exit(torch.__version__.split("+")[0] != "$TORCH_VERSION")
PY
}

if ! have; then
    echo "setup: installing torch==$TORCH_VERSION into .venv (about 4.6 GB with its CUDA libraries)" >&2
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check "torch==$TORCH_VERSION"
fi
torch_dir=$(.venv/bin/python -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null)
ln -sfn "$torch_dir" .venv/libtorch
echo "setup: libtorch at .venv/libtorch -> $torch_dir" >&2
