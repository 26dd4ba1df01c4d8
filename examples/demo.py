"""Ember's main demo: a NumPy function compiled with @ember.jit, checked against NumPy,
timed against NumPy, with the graph Ember built, a fallback that says why, and the same
function placed on a GPU (simulated when there is none) with every copy it makes."""

import time

import ember
import numpy as np


@ember.jit
def w1(a, b, c):
    return np.tanh(a * b + c) * 0.5 + a / (1 + np.exp(-b))


def best_of(f, *args, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f(*args)
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    rng = np.random.default_rng(0)
    n = 1 << 22
    a, b, c = (rng.standard_normal(n, dtype=np.float32) for _ in range(3))
    t0 = time.perf_counter()
    out = w1(a, b, c)
    first = time.perf_counter() - t0
    want = w1.__wrapped__(a, b, c)
    err = float(np.max(np.abs(out - want)))
    print(f"W1 on {n:,} float32 elements: max |ember - numpy| = {err:.2e}")
    print(f"first call (trace + optimize + compile + run): {first * 1e3:.1f} ms")
    te, tn = best_of(w1, a, b, c), best_of(w1.__wrapped__, a, b, c)
    print(f"cached call: {te * 1e3:.1f} ms   numpy: {tn * 1e3:.1f} ms   ratio ember/numpy: {te / tn:.2f}")
    print(f"cache: {w1.cache_info()}")
    print()
    e = w1.explain(a, b, c)
    print(e.optimized)
    print("plan:", e.plan)
    with ember.profile() as p:
        w1(a, b, c)
    print(p.summary())

    @ember.jit
    def data_dependent(x):
        return x * 2 if x.sum() > 0 else -x

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data_dependent(a[:8])
    print("fallback reason:", data_dependent.cache_info().fallbacks[0])
    print()
    gpu_demo(a, b, c)


def gpu_demo(a, b, c):
    """The same function placed on a GPU: a real one when the driver reports it, else the
    simulated cuda:0 (kernels interpreted on the CPU: right answers, no speed)."""
    sim = None if "cuda:0" in ember.devices() else ember.testing.simulate_cuda(memory=256 << 20)
    try:
        print("device:", ember.describe_device("cuda:0"))
        on_gpu = ember.jit(w1.__wrapped__, device="cuda")
        small = [x[:4096] for x in (a, b, c)]
        ember.transfer_ledger(reset=True)
        out = on_gpu(*small)
        err = float(np.max(np.abs(out - w1.__wrapped__(*small))))
        print(f"W1 on cuda:0, 4,096 elements: max |ember - numpy| = {err:.2e}")
        print(on_gpu.explain(*small).placement)
        for r in ember.transfer_ledger():
            print(f"  copy {r['direction']} {r['bytes']:>6} B  {r['cause']}")
    finally:
        if sim is not None:
            sim.stop()


if __name__ == "__main__":
    main()
