#!/usr/bin/env bash
# Sets everything up on a fresh machine and runs every test: Rust (cargo test) and Python
# (pytest against NumPy as the oracle).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export PYO3_PYTHON="$PWD/.venv/bin/python"
export EMBER_REQUIRE_NVRTC=1  # the CUDA tests fail, not skip, when NVRTC is missing
cargo test --workspace -q 2>&1 | tail -n 200
.venv/bin/python -m pytest -q tests/python
