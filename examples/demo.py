"""Ember's main demo: a NumPy function compiled with @ember.jit, checked against NumPy,
timed against NumPy, with the graph Ember built and a fallback that says why."""

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


if __name__ == "__main__":
    main()
