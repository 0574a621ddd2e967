#!/usr/bin/env bash
# The backend conformance test on LibTorch (burn-tch, `--features tch`).
#
# Sets up LibTorch 2.9.0 the way burn-tch 0.21 expects it: PyPI's torch==2.9.0 in a venv
# (about 4 GB with its CUDA wheels), used through LIBTORCH_USE_PYTORCH=1. Then runs
# tests/conformance.rs on tch (CPU; TRRG_DEVICE=cuda:0 for a GPU).
#
#   scripts/test-tch.sh              # venv in target/tch-venv, build in target/tch
#   TRRG_TCH_VENV=/path/venv scripts/test-tch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${TRRG_TCH_VENV:-${CARGO_TARGET_DIR:-target}/tch-venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import sys, torch; sys.exit(torch.__version__.split("+")[0] != "2.9.0")' 2>/dev/null; then
    echo "installing torch==2.9.0 into $venv" >&2
    "$venv/bin/pip" install --quiet torch==2.9.0
fi
# Absolute, and announced as the active venv: torch-sys's build script runs `python` (with
# VIRTUAL_ENV) or `python3` from PATH in its own directory, where a relative entry finds nothing.
venv=$(cd "$venv" && pwd)
export VIRTUAL_ENV="$venv"
torch_lib=$("$venv/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)
export LIBTORCH_USE_PYTORCH=1
export PATH="$venv/bin:$PATH"
export LD_LIBRARY_PATH="$torch_lib:${LD_LIBRARY_PATH:-}"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/tch}
cargo test --features tch --test conformance -- --nocapture
