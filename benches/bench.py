"""Ember's benchmark suite (W1-W6 of the Cranelift issue, plus eager ops), side by side with
NumPy and the peers installed in this venv, in one process; reports medians and ratios.

    benches/setup.sh && .venv-bench/bin/python benches/bench.py [--quick] [--only W1,W4]

Ratios are Ember time / peer time (below 1 means Ember is faster). Results are printed as a
Markdown table and written to benches/results/latest.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import ember
import numpy as np

PEERS = {}
try:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_platforms", "cpu")
    PEERS["jax"] = jax
except Exception:  # noqa: BLE001 - any import failure just drops the column
    pass
try:
    import numba

    PEERS["numba"] = numba
except Exception:  # noqa: BLE001
    pass


def median_time(f, *args, repeat=7, min_time=0.05):
    """Median seconds per call over `repeat` rounds of enough calls to last `min_time`."""
    f(*args)
    t0 = time.perf_counter()
    f(*args)
    one = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(min_time / one))
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            f(*args)
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)


def fmt(t):
    if t is None:
        return "-"
    return f"{t * 1e6:.2f} us" if t < 1e-3 else f"{t * 1e3:.2f} ms"


ROWS = []

#: The machine's memory bandwidth (read + write bytes per second), measured at the start of
#: this run: the host's load changes it from hour to hour, so W1/W2 are reported against it.
BANDWIDTH = None


def measure_bandwidth():
    """Best of 5 `np.copyto` of 256 MB, counting the bytes read and written."""
    src = np.random.default_rng(1).standard_normal(1 << 26, dtype=np.float32)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best


def of_bandwidth(nbytes, seconds):
    gbs = nbytes / seconds / 1e9
    return f"ember {gbs:.1f} GB/s = {100 * gbs * 1e9 / BANDWIDTH:.0f}% of {BANDWIDTH / 1e9:.1f}"


def report(name, times, note=""):
    e = times.get("ember")
    cells = [fmt(times.get(k)) for k in ("ember", "numpy", "numba", "jax")]
    ratios = []
    for k in ("numpy", "numba", "jax"):
        if e and times.get(k):
            ratios.append(f"{e / times[k]:.2f}")
        else:
            ratios.append("-")
    ROWS.append((name, *cells, *ratios, note))
    print(
        f"{name:<28} " + "  ".join(f"{c:>11}" for c in cells) + "   ratios " + " ".join(ratios) + f"  {note}",
        flush=True,
    )


def w1(quick):
    def f(a, b, c):
        return np.tanh(a * b + c) * 0.5 + a / (1 + np.exp(-b))

    for n in [1 << 10, 1 << 22] if quick else [1 << 10, 1 << 24]:
        rng = np.random.default_rng(0)
        a, b, c = (rng.standard_normal(n, dtype=np.float32) for _ in range(3))
        times = {"numpy": median_time(f, a, b, c), "ember": median_time(ember.jit(f), a, b, c)}
        if "numba" in PEERS:
            nf = PEERS["numba"].njit(parallel=True, fastmath=False)(f)
            times["numba"] = median_time(nf, a, b, c)
        if "jax" in PEERS:
            jf = PEERS["jax"].jit(lambda a, b, c: jnp.tanh(a * b + c) * 0.5 + a / (1 + jnp.exp(-b)))
            ja, jb, jc = (PEERS["jax"].device_put(x) for x in (a, b, c))
            times["jax"] = median_time(lambda *x: jf(*x).block_until_ready(), ja, jb, jc)
        report(f"W1 fused elementwise n={n}", times, of_bandwidth(4 * n * 4, times["ember"]))


def w2(quick):
    n = 1024 if quick else 4096
    x = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)

    def f(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    times = {"numpy": median_time(f, x), "ember": median_time(ember.jit(lambda v: ember.softmax(v, axis=1)), x)}
    if "jax" in PEERS:
        jf = PEERS["jax"].jit(lambda v: PEERS["jax"].nn.softmax(v, axis=1))
        jx = PEERS["jax"].device_put(x)
        times["jax"] = median_time(lambda v: jf(v).block_until_ready(), jx)
    report(f"W2 row softmax {n}x{n}", times, of_bandwidth(2 * x.nbytes, times["ember"]))


def w3(quick):
    m, k, h = (256, 512, 1024) if quick else (1024, 1024, 4096)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((m, k), dtype=np.float32)
    w1_ = rng.standard_normal((k, h), dtype=np.float32) * 0.05
    b1 = rng.standard_normal(h, dtype=np.float32)
    w2_ = rng.standard_normal((h, k), dtype=np.float32) * 0.05
    b2 = rng.standard_normal(k, dtype=np.float32)

    def f(x, w1, b1, w2, b2):
        return np.maximum(x @ w1 + b1, 0) @ w2 + b2

    times = {
        "numpy": median_time(f, x, w1_, b1, w2_, b2, repeat=3),
        "ember": median_time(ember.jit(f), x, w1_, b1, w2_, b2, repeat=3),
    }
    if "jax" in PEERS:
        jf = PEERS["jax"].jit(lambda x, w1, b1, w2, b2: jnp.maximum(x @ w1 + b1, 0) @ w2 + b2)
        args = [PEERS["jax"].device_put(v) for v in (x, w1_, b1, w2_, b2)]
        times["jax"] = median_time(lambda *a: jf(*a).block_until_ready(), *args, repeat=3)
    flops = 2 * m * k * h * 2
    report(f"W3 MLP {m}/{k}/{h}", times, f"ember {flops / times['ember'] / 1e9:.0f} GFLOP/s")


def w4(quick):
    x = np.arange(4, dtype=np.float32)

    def f(x):
        return x * 2 + 1

    times = {"numpy": median_time(f, x), "ember": median_time(ember.jit(f), x)}
    if "numba" in PEERS:
        times["numba"] = median_time(PEERS["numba"].njit(f), x)
    if "jax" in PEERS:
        jf = PEERS["jax"].jit(f)
        jx = PEERS["jax"].device_put(x)
        times["jax"] = median_time(lambda v: jf(v).block_until_ready(), jx)
    report("W4 cached call x*2+1, n=4", times, "numpy column = plain call")


def w5(quick):
    for k in [10, 100] if quick else [10, 100, 1000]:

        def chain(x, k=k):
            for i in range(k):
                x = x * 1.0001 + 0.5 if i % 2 else np.tanh(x)
            return x

        x = np.ones(16, np.float32)
        times = {}
        t0 = time.perf_counter()
        ember.jit(chain)(x)
        times["ember"] = time.perf_counter() - t0
        if "jax" in PEERS:
            t0 = time.perf_counter()
            PEERS["jax"].jit(lambda v: chain_j(v, k))(x).block_until_ready()
            times["jax"] = time.perf_counter() - t0
        report(f"W5 first call, chain of {k}", times, "trace+optimize+compile+run")


def chain_j(x, k):
    for i in range(k):
        x = x * 1.0001 + 0.5 if i % 2 else jnp.tanh(x)
    return x


def w6(quick):
    for nbytes in [1 << 10, 1 << 24] if quick else [1 << 10, 1 << 28]:
        a = np.ones(nbytes // 4, np.float32)
        t = median_time(lambda v: np.asarray(ember.asarray(v)), a)
        report(f"W6 numpy->ember->numpy {nbytes >> 10} KiB", {"ember": t}, "zero-copy both ways")


def eager(quick):
    n = 1 << 20
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
    ta, tb = ember.asarray(a), ember.asarray(b)
    for name, ef, nf in [
        ("add", lambda: ta + tb, lambda: a + b),
        ("exp", lambda: ember.exp(ta), lambda: np.exp(a)),
        ("sum", lambda: ember.sum(ta), lambda: np.sum(a)),
        ("max axis=1", lambda: ember.max(ta.reshape(1024, 1024), axis=1), lambda: a.reshape(1024, 1024).max(axis=1)),
    ]:
        report(f"eager {name} n={n}", {"ember": median_time(ef), "numpy": median_time(nf)})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="smaller sizes (for a smoke run)")
    p.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W4,eager")
    args = p.parse_args()
    global BANDWIDTH
    BANDWIDTH = measure_bandwidth()
    print(f"memory bandwidth (np.copyto of 256 MB, best of 5, read + write): {BANDWIDTH / 1e9:.1f} GB/s")
    print(
        f"numpy {np.__version__}; peers: {', '.join(f'{k} {v.__version__}' for k, v in PEERS.items()) or 'none'}; cores {os.cpu_count()}"
    )
    print(
        f"{'workload':<28} "
        + "  ".join(f"{c:>11}" for c in ("ember", "numpy", "numba", "jax"))
        + "   ratios ember/numpy numba jax"
    )
    only = {s.strip().lower() for s in args.only.split(",") if s.strip()}
    for name, fn in [("w1", w1), ("w2", w2), ("w3", w3), ("w4", w4), ("w5", w5), ("w6", w6), ("eager", eager)]:
        if not only or name in only:
            fn(args.quick)
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "results", "latest.md"), "w") as out:
        out.write(
            "| workload | ember | numpy | numba | jax | /numpy | /numba | /jax | note |\n|---|---|---|---|---|---|---|---|---|\n"
        )
        for r in ROWS:
            out.write("| " + " | ".join(r) + " |\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
