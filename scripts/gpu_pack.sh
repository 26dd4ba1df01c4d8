#!/usr/bin/env bash
# Builds, on this (GPU-less) machine, what scripts/gpu_check.sh runs on a lent GPU machine,
# into .gpu/ (git-ignored; name it in the device tool's `carry`). The GPU machines have CUDA,
# a CPython with NumPy, pytest, CuPy, JAX and PyTorch, but no Rust toolchain and no network,
# so everything compiled travels: the Rust test binaries that use a real device, and the
# extension module built for that machine's CPython (3.12 unless EMBER_GPU_PYTHON says
# otherwise; PyO3 is told the version by a config file, so no such interpreter is needed here,
# and the module does not link libpython, as an extension module should not).
#
#     scripts/gpu_pack.sh                      # then, on the device: scripts/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
pyver="${EMBER_GPU_PYTHON:-3.12}"
out=.gpu
rm -rf "$out"
mkdir -p "$out/bin" "$out/pkg/ember"

# The test binaries, built as `cargo test --release` builds them.
for t in "ember-codegen cuda_gpu" "ember-codegen cuda_epilogue" "ember device_matmul" \
    "ember device_profile"; do
    set -- $t
    exe=$(cargo test --release -q -p "$1" --test "$2" --no-run --message-format=json |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])' | tail -n 1)
    cp "$exe" "$out/bin/$2"
done

# The extension for the device's CPython. A separate target directory keeps the workspace's
# own build (for this machine's Python) intact; it starts as a copy of target/release so
# only PyO3 and the bindings are rebuilt.
target=target/gpu-py$pyver
if [ ! -d "$target/release" ] && [ -d target/release ]; then
    mkdir -p "$target" && cp -a target/release "$target/"
fi
cfg="$PWD/$out/pyo3-$pyver.cfg"
printf '%s\n' implementation=CPython "version=$pyver" shared=true abi3=false pointer_width=64 \
    suppress_build_script_link_lines=true >"$cfg"
PYO3_CONFIG_FILE="$cfg" CARGO_TARGET_DIR="$target" cargo build --release -q -p ember-python
cp "$target/release/lib_ember.so" "$out/pkg/ember/_ember.cpython-${pyver/./}-x86_64-linux-gnu.so"
cp python/ember/*.py "$out/pkg/ember/"
strip "$out"/bin/* "$out"/pkg/ember/*.so 2>/dev/null || true
git rev-parse --short HEAD >"$out/commit"
du -sh "$out"
