#!/usr/bin/env bash
# Sets everything up (release build) and runs the main demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --release
.venv/bin/python examples/demo.py
