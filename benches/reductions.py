"""Reductions side by side with NumPy in one process: column reductions (``x.sum(axis=0)``) and
full reductions (``x.sum()``, ``np.exp(x).sum()``), jitted and eager, float32 unless noted.

    PYTHONPATH=<package dir> .venv-bench/bin/python benches/reductions.py [--min] [NAME ...]

Each case prints the jitted time (and its read rate), the eager time (the same function on an
``ember.asarray`` of the input), NumPy's time, their ratio and the jitted result's largest
relative error against a float64 NumPy reference. Times are medians of 15 calls (``--min``:
minima, steadier on a shared host). NAME filters cases by substring.
"""

from __future__ import annotations

import argparse
import time

import ember
import numpy as np

CASES = [
    ("sum axis 0, 4096 x 4096", (4096, 4096), np.float32, lambda x: x.sum(axis=0)),
    ("max axis 0, 4096 x 4096", (4096, 4096), np.float32, lambda x: x.max(axis=0)),
    ("mean axis 0, 4096 x 4096", (4096, 4096), np.float32, lambda x: x.mean(axis=0)),
    ("sum axis 0, 500K x 100", (500_000, 100), np.float32, lambda x: x.sum(axis=0)),
    ("sum axis 0, 1M x 64", (1_000_000, 64), np.float32, lambda x: x.sum(axis=0)),
    ("max axis 0, 1M x 64", (1_000_000, 64), np.float32, lambda x: x.max(axis=0)),
    ("sum axis 0, 65536 x 256", (65536, 256), np.float32, lambda x: x.sum(axis=0)),
    ("sum axis 0, 1M x 32 f64", (1_000_000, 32), np.float64, lambda x: x.sum(axis=0)),
    ("sum of 16M", (16 << 20,), np.float32, lambda x: x.sum()),
    ("sum(exp) of 16M", (16 << 20,), np.float32, lambda x: np.exp(x).sum()),
    ("max of 16M", (16 << 20,), np.float32, lambda x: x.max()),
    ("mean of 4096 x 4096", (4096, 4096), np.float32, lambda x: x.mean()),
    (
        "sum((x-1)*(x-1)) of 16M f64",
        (16 << 20,),
        np.float64,
        lambda x: ((x - 1.0) * (x - 1.0)).sum(),
    ),
]


def timed(f, x, stat, n=15):
    f(x)
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f(x)
        ts.append(time.perf_counter() - t)
    return min(ts) if stat == "min" else sorted(ts)[len(ts) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="run the cases whose name contains one of these")
    ap.add_argument("--min", action="store_true", help="report minima instead of medians")
    args = ap.parse_args()
    stat = "min" if args.min else "median"
    rng = np.random.default_rng(0)
    for name, shape, dtype, f in CASES:
        if args.names and not any(n in name for n in args.names):
            continue
        x = rng.random(shape, dtype=np.float64).astype(dtype)
        jitted = ember.jit(f, fallback="error")
        ref = f(x.astype(np.float64))
        err = np.max(np.abs(np.asarray(jitted(x)) - ref) / (np.abs(ref) + 1e-30))
        tj, tn = timed(jitted, x, stat), timed(f, x, stat)
        te = timed(f, ember.asarray(x), stat)
        print(
            f"{name:28s} jit {tj * 1e3:7.2f} ms ({x.nbytes / tj / 1e9:5.1f} GB/s)"
            f"  eager {te * 1e3:7.2f} ms  numpy {tn * 1e3:7.2f} ms"
            f"  jit/numpy {tj / tn:5.2f}  relerr {err:.1e}"
        )


if __name__ == "__main__":
    main()
