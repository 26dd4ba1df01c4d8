#!/usr/bin/env bash
# Creates .venv-bench with NumPy and whatever peers install here (jax, numba; tensorflow-cpu
# and torch when BENCH_HEAVY=1), and a release build of Ember. Usage: benches/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv-bench/bin/python ] || "$PY" -m venv .venv-bench
.venv-bench/bin/python -m pip install -q --upgrade pip >/dev/null
.venv-bench/bin/python -m pip install -q "maturin>=1.16,<2" "numpy>=2.0"
for peer in jax numba ${BENCH_HEAVY:+tensorflow-cpu torch}; do
  .venv-bench/bin/python -m pip install -q "$peer" || echo "note: $peer did not install; its column stays empty"
done
(cd python && VIRTUAL_ENV="$PWD/../.venv-bench" ../.venv-bench/bin/maturin develop -q --release)
