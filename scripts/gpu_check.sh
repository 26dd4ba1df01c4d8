#!/usr/bin/env bash
# Ember's GPU checks, in one run on a machine with an NVIDIA GPU (the device tool's lent
# machines): the Rust CUDA test binaries, the Python device tests, and the GPU benchmark
# (W1-W3 against CuPy, JAX and PyTorch), from what scripts/gpu_pack.sh built into .gpu/.
# Logs go to $OUT (the device tool's folder that comes back), else /tmp/ember-gpu; the
# summary goes to stdout. Each step has its own time limit, and all of them together stay
# under 9 minutes, so one device call runs everything.
#
#     device run: command "scripts/gpu_check.sh", carry [".gpu"], timeout_s 600
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/ember-gpu}"
mkdir -p "$out"
py="${EMBER_GPU_PYTHON_EXE:-python3}"
[ -d .gpu/bin ] || { echo "no .gpu/: run scripts/gpu_pack.sh first and carry .gpu"; exit 2; }
echo "packed at $(cat .gpu/commit), checked out at $(git rev-parse --short HEAD 2>/dev/null)"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem \
    --format=csv | tee "$out/gpu.txt"

# NVRTC and cuBLAS. Ember looks for them by file (EMBER_NVRTC_PATH, EMBER_CUBLAS_PATH) and
# cudarc then opens them by name, `libnvrtc.so` first: links of those names to the
# machine's libraries (CUDA 12's if there, else 13's), on LD_LIBRARY_PATH, serve both.
libs=/tmp/ember-cuda-libs
mkdir -p "$libs"
dirs="$($py -c 'import site; print(" ".join(site.getsitepackages()))') /usr/local/cuda/lib64"
for name in nvrtc cublas cublasLt; do
    f=$(find $dirs -name "lib$name.so.1[23]*" 2>/dev/null | grep -v builtins | sort -V |
        awk '/\.so\.12/ {twelve = $0} {last = $0} END {print twelve ? twelve : last}')
    [ -n "$f" ] && ln -sf "$f" "$libs/lib$name.so" && echo "lib$name: $f"
done
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export EMBER_NVRTC_PATH="$libs/libnvrtc.so" EMBER_CUBLAS_PATH="$libs/libcublas.so"
export EMBER_REQUIRE_NVRTC=1 RUST_BACKTRACE=1

status=0
step() { # name, seconds, command...
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" >"$out/$name.txt" 2>&1
    local rc=$?
    if [ $rc -eq 124 ] && [ -n "${CUT_OK:-}" ]; then
        rc="124 (cut short at its limit)"
    elif [ $rc -ne 0 ]; then
        status=1
    fi
    printf '== %s: exit %s in %ds\n' "$name" "$rc" $((SECONDS - t0))
    grep -E 'test result|passed|failed|SKIP|GB/s|\| w[0-9]' "$out/$name.txt" | tail -n 25
}
step cuda_gpu 120 .gpu/bin/cuda_gpu --test-threads=1 --nocapture
step cuda_epilogue 45 .gpu/bin/cuda_epilogue
step device_matmul 45 .gpu/bin/device_matmul
step device_profile 30 .gpu/bin/device_profile
export PYTHONPATH="$PWD/.gpu/pkg"
step pytest_devices 100 "$py" -m pytest -q -p no:cacheprovider tests/python/test_devices.py
step gpu_bench 150 "$py" benches/gpu_bench.py
# Last, as far as the time allows: every jit op case on the GPU (each compiles its kernels
# with NVRTC once; the limit cuts the run short rather than the check).
CUT_OK=1 step pytest_jit_ops_cuda 40 "$py" -m pytest -q -p no:cacheprovider -k cuda \
    tests/python/test_jit_ops.py
exit $status
