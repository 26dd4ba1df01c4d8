"""GPU benchmarks: W1, W2 and W3 of the Cranelift issue on a CUDA device, at sizes that fill
the GPU, side by side with CuPy, JAX (GPU) and PyTorch where installed, with the achieved
bandwidth against the device's measured copy bandwidth.

    .venv-bench/bin/python benches/gpu_bench.py                 # on cuda:0
    .venv-bench/bin/python benches/gpu_bench.py --simulate      # smoke run, no GPU needed

Every workload takes device-resident inputs and leaves its result on the device; each timing
synchronizes the device before stopping the clock. ``--simulate`` runs the same code at tiny
sizes on Ember's simulated device (a CPU interpreter): it checks that the script works and
that the results are right, and its timings mean nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import ember
import numpy as np


def timed(f, sync, repeat=7, min_time=0.2):
    """Median seconds per call (each round synchronized at its end)."""
    f()
    sync()
    t0 = time.perf_counter()
    f()
    sync()
    one = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(min_time / one))
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            f()
        sync()
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)


def w1(a, b, c):
    return np.tanh(a * b + c) * 0.5 + a / (1 + np.exp(-b))


def w2(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def w3(x, w1_, b1, w2_, b2):
    return np.maximum(x @ w1_ + b1, 0) @ w2_ + b2


def sizes(simulate):
    if simulate:
        return {"w1": 1 << 12, "w2": (16, 64), "w3": (8, 16, 32)}
    # 4 x 1 GiB for W1, 1 GiB for W2, an MLP of 8192 x 4096 x 16384.
    return {"w1": 1 << 28, "w2": (16384, 16384), "w3": (8192, 4096, 16384)}


def inputs(sz, rng):
    f32 = np.float32
    n = sz["w1"]
    m2, n2 = sz["w2"]
    b, d, h = sz["w3"]
    return {
        "w1": [rng.standard_normal(n, dtype=f32) for _ in range(3)],
        "w2": [rng.standard_normal((m2, n2), dtype=f32)],
        "w3": [
            rng.standard_normal((b, d), dtype=f32),
            # Scaled by float32 factors: a NumPy float64 scalar would make the weights float64
            # (NEP 50), and a float32 @ float64 product does not run on the device.
            rng.standard_normal((d, h), dtype=f32) / f32(np.sqrt(d)),
            rng.standard_normal(h, dtype=f32),
            rng.standard_normal((h, d), dtype=f32) / f32(np.sqrt(h)),
            rng.standard_normal(d, dtype=f32),
        ],
    }


def traffic(name, args):
    """Bytes a workload must move at least (inputs read once, the result written once)."""
    out = args[0].shape[0] * args[-1].shape[0] * 4 if name == "w3" else args[0].nbytes
    return sum(a.nbytes for a in args) + out


def flops(name, args):
    if name != "w3":
        return None
    (b, d), h = args[0].shape, args[1].shape[1]
    return 2 * b * d * h * 2


FUNCS = {"w1": w1, "w2": w2, "w3": w3}


def ember_times(data, dev):
    sync = lambda: ember.synchronize(dev)  # noqa: E731
    out = {}
    for name, args in data.items():
        f = ember.jit(FUNCS[name])
        dargs = [ember.asarray(a).to(dev) for a in args]
        r = f(*dargs)
        want = FUNCS[name](*[a.astype(np.float64) for a in args])
        np.testing.assert_allclose(np.asarray(r), want, rtol=2e-3, atol=2e-3)
        out[name] = timed(lambda f=f, d=dargs: f(*d), sync)
        if name == "w3":
            # Which engine runs the matmuls: cuBLAS, or the tiled kernel and why.
            out["w3 plan"] = f.explain(*dargs).plan
    x = ember.asarray(data["w1"][0]).to(dev)
    out["copy"] = timed(lambda: np.negative(x), sync)
    host = data["w1"][0]
    out["h2d"] = timed(lambda: ember.asarray(host).to(dev), sync, repeat=3)
    return out


def run_peer(fns, data, to_device, sync):
    """Times each workload of a peer on inputs it moved to its device once."""
    out = {}
    for name, args in data.items():
        d = [to_device(a) for a in args]
        out[name] = timed(lambda f=fns[name], d=d: f(*d), sync)
    return out


def peer_times(data):
    """CuPy, JAX and PyTorch on the same workloads, where installed and a GPU is present."""
    peers = {}
    try:
        import cupy as cp

        peers["cupy"] = run_peer(FUNCS, data, cp.asarray, cp.cuda.Device().synchronize)
    except Exception as e:  # noqa: BLE001 - a missing peer drops its column
        print(f"cupy: not measured ({type(e).__name__}: {e})", file=sys.stderr)
    try:
        import jax
        import jax.numpy as jnp

        if jax.default_backend() != "gpu":
            raise RuntimeError("jax has no GPU backend here")
        jw = {
            "w1": lambda a, b, c: jnp.tanh(a * b + c) * 0.5 + a / (1 + jnp.exp(-b)),
            "w2": lambda x: jax.nn.softmax(x, axis=1),
            "w3": lambda x, w1_, b1, w2_, b2: jnp.maximum(x @ w1_ + b1, 0) @ w2_ + b2,
        }
        peers["jax"] = {}
        for name, args in data.items():
            f = jax.jit(jw[name])
            d = [jax.device_put(a) for a in args]
            peers["jax"][name] = timed(lambda f=f, d=d: f(*d).block_until_ready(), lambda: None)
    except Exception as e:  # noqa: BLE001
        print(f"jax: not measured ({type(e).__name__}: {e})", file=sys.stderr)
    try:
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("torch sees no GPU")
        tw = {
            "w1": lambda a, b, c: torch.tanh(a * b + c) * 0.5 + a / (1 + torch.exp(-b)),
            "w2": lambda x: torch.softmax(x, dim=1),
            "w3": lambda x, w1_, b1, w2_, b2: torch.relu(x @ w1_ + b1) @ w2_ + b2,
        }
        peers["torch"] = run_peer(tw, data, lambda a: torch.from_numpy(a).cuda(), torch.cuda.synchronize)
    except Exception as e:  # noqa: BLE001
        print(f"torch: not measured ({type(e).__name__}: {e})", file=sys.stderr)
    return peers


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simulate", action="store_true", help="tiny sizes on the simulated device")
    ap.add_argument("--device", default="cuda:0")
    opts = ap.parse_args()
    if opts.simulate:
        ember.testing.simulate_cuda(memory=256 << 20)
    dev = opts.device
    if dev not in ember.devices():
        sys.exit(f"{dev} is not available: {ember.devices()} (use --simulate without a GPU)")
    print(f"device: {ember.describe_device(dev)}")
    data = inputs(sizes(opts.simulate), np.random.default_rng(0))
    ours = ember_times(data, dev)
    peers = {} if opts.simulate else peer_times(data)
    copy_bw = 2 * data["w1"][0].nbytes / ours["copy"]
    print(f"device copy bandwidth (Ember negative, read + write): {copy_bw / 1e9:.1f} GB/s")
    print(f"host -> device: {data['w1'][0].nbytes / ours['h2d'] / 1e9:.1f} GB/s")
    print(f"w3 plan: {ours['w3 plan']}")
    names = list(peers)
    header = ["workload", "ember", *names, "GB/s (% of copy)", "GFLOP/s"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, args in data.items():
        t = ours[name]
        gbs = traffic(name, args) / t
        fl = flops(name, args)
        cells = [f"{t * 1e3:.3f} ms"] + [
            f"{peers[p][name] * 1e3:.3f} ms ({t / peers[p][name]:.2f}x)" if name in peers[p] else "-" for p in names
        ]
        print(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {gbs / 1e9:.1f} ({100 * gbs / copy_bw:.0f}%) | "
            + (f"{fl / t / 1e9:.0f}" if fl else "-")
            + " |"
        )
    if opts.simulate:
        print("(simulated device: timings are of a CPU interpreter and mean nothing)")


if __name__ == "__main__":
    main()
