#!/usr/bin/env bash
# Sets up a fresh machine for Ember: a Python venv (.venv) with maturin, NumPy, pytest,
# hypothesis, ruff and the NVRTC wheel (CUDA kernels compile to PTX without a GPU), then
# builds the extension into the venv. Usage: scripts/setup.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q "maturin>=1.16,<2" "numpy>=2.0" pytest hypothesis ruff nvidia-cuda-nvrtc-cu12
profile_flag=()
if [ "${1:-}" = "--release" ]; then profile_flag=(--release); fi
(cd python && VIRTUAL_ENV="$PWD/../.venv" ../.venv/bin/maturin develop -q "${profile_flag[@]}")
