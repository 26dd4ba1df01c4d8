"""Patterns the random-program fuzzer's perf mode found 10-500x slower than NumPy, checked
against NumPy for values, dtypes and shapes (the speed itself is measured by
``program_oracle.py --perf``)."""

import ember
import numpy as np
import pytest


def check(f, *args):
    want = f(*args)
    got = ember.jit(f)(*args)
    want = want if isinstance(want, tuple) else (want,)
    got = got if isinstance(got, tuple) else (got,)
    assert len(want) == len(got)
    for w, g in zip(want, got, strict=True):
        g = np.asarray(g)
        assert g.dtype == np.asarray(w).dtype
        assert g.shape == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=1e-6)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_cast_constant_in_a_loop_of_another_dtype():
    # seed 1389: the float32 clip bound cast to float64 kept the loop scalar.
    def f(a1, a2):
        v0 = np.cosh(a2)
        v1 = np.clip(a2, np.float32(0.5), v0)
        return np.logical_or(a1, v1)

    a1 = np.random.default_rng(1).integers(-5, 6, (100000,)).astype(np.int64)
    for x in (-1024.37, 0.0, 0.25, np.nan):
        check(f, a1, np.array(x, dtype=np.float64))


@pytest.mark.parametrize("k", [3, 1000, 100000])
@pytest.mark.parametrize("p", [0.0, 0.001, 0.5])
def test_bool_matmul_small_output(k, p):
    # seed 2233: a strided bool a @ a.T with a 7 x 7 result.
    a0 = (np.random.default_rng(2).random((7, 2 * k)) < p)[:, ::2]

    def f(a):
        v0 = a @ a.T
        return v0, np.sum(np.add(3.0, v0), axis=-1)

    check(f, a0)
    b = np.random.default_rng(3).random((k, 5)) < p
    check(lambda a, b: a @ b, np.ascontiguousarray(a0), b)


def test_float_matmul_small_output_long_k():
    a = np.random.default_rng(4).standard_normal((7, 40000)).astype(np.float32)
    want = a.astype(np.float64) @ a.astype(np.float64).T
    got = np.asarray(ember.jit(lambda x: x @ x.T)(a))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


def test_concatenate_short_inner_blocks():
    # seed 1044: bools concatenated along a length-1 last axis of a reversed view.
    a0 = (np.random.default_rng(5).standard_normal((100000, 1, 1)) * 10)[:, :, ::-1]

    def f(a0):
        v0 = a0 < a0
        v1 = np.concatenate([v0, v0], axis=-1)
        return np.expand_dims(np.add(np.int32(3), v1), -2), a0

    check(f, a0)


def test_stack_broadcast_and_transposed():
    # seeds 1851, 2179, 729: stacks of broadcast, transposed and mixed-dtype operands.
    a = np.broadcast_to(np.array([[True]]), (100000, 1))
    check(lambda a: np.stack([a, a], axis=1), a)
    b = np.random.default_rng(6).integers(-5, 6, (1, 1000)).astype(np.int64).T
    check(lambda b: np.stack([b.clip(True, np.int32(0)), b], axis=2), b)
    c = np.random.default_rng(7).integers(-5, 6, (64, 1250)).astype(np.int32).T

    def g(c):
        v0 = np.tanh(c).prod(axis=0)
        return np.stack([c, c * v0], axis=-1)

    check(g, c)
    check(lambda x, y: np.concatenate([x, y, x], axis=1), c[:, :3], np.ones((1250, 2), np.float32))
    check(lambda x: np.concatenate([x, x], axis=0), c)


_EDGE_F32 = np.array(
    [
        0.0,
        -0.0,
        -2.0,
        2.5,
        0.1,
        -0.1,
        np.nextafter(np.float32(0.1), np.float32(1)),
        1e-45,
        3e38,
        -3e38,
        np.inf,
        -np.inf,
        np.nan,
        16777216.0,
        2147483648.0,
    ],
    dtype=np.float32,
)
_EDGE_I32 = np.array([0, 1, -1, -2, 2, 3, 2**31 - 1, -(2**31), 7, -7], dtype=np.int32)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    "k",
    [
        np.int64(-2),
        np.float64(2.5),
        0.1,
        np.float64(0.1),
        np.float64(-0.1),
        np.float64(1e300),
        np.float64(1e-50),
        np.float64(np.nan),
        np.float64(np.inf),
        np.int64(2**40),
        np.int64(-(2**31)),
        np.float64(2147483647.5),
        np.float64(-2147483648.5),
    ],
)
def test_predicates_against_wider_constants(k):
    # seeds 5445, 7720, 7893: float32 (or int32) values compared with a float64 or int64
    # constant were widened to float64 in the loop, which then ran scalar (arctan2 per element).
    def f(a):
        return (
            a != k,
            k < a,
            a <= k,
            a >= k,
            k > a,
            a == k,
            np.logical_or(a, k),
            np.logical_and(k, a),
            np.logical_xor(a, k),
            np.arctan2(np.logical_not(a != k), a),
        )

    rng = np.random.default_rng(5)
    for edge in (_EDGE_F32, _EDGE_I32):
        a = np.concatenate([np.tile(edge, 20), rng.choice(edge, 1000)])
        check(f, a)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_tan_vectorized(dtype):
    # seeds 6066, 6475, 7772, 7929: tan had no vector form and called libm per element
    # (5-12x NumPy). Now Cephes' tan after the sin/cos reduction, libm beyond 8192 (float32)
    # or 1e6 (float64), so huge arguments, NaN and infinities stay exact.
    rng = np.random.default_rng(6)
    if np.issubdtype(dtype, np.floating):
        k = np.arange(-300, 300)
        poles = (k * (np.pi / 2)).astype(dtype)
        poles = np.concatenate([poles, np.nextafter(poles, dtype(np.inf)), np.nextafter(poles, dtype(-np.inf))])
        special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-30, -1e-30, 8192.5, 1e6 + 0.5, 3e7, 1e30], dtype)
        a = np.concatenate([rng.uniform(-1e4, 1e4, 5000).astype(dtype), poles, special, rng.standard_normal(999)])
        a = a.astype(dtype)
    else:
        a = rng.integers(-(10**6), 10**6, 5001).astype(dtype)

    def f(x):
        return np.tan(x)

    got = np.asarray(ember.jit(f)(a))
    want = f(a)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=4e-7 if want.dtype == np.float32 else 1e-15)
    np.testing.assert_array_equal(np.signbit(got[want == 0]), np.signbit(want[want == 0]))
    # Strided (the scalar loop) too.
    np.testing.assert_allclose(
        np.asarray(ember.jit(f)(a[::3])), want[::3], rtol=4e-7 if want.dtype == np.float32 else 1e-15
    )


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_int32_floor_divide_and_remainder_vectorized():
    # seeds 5671, 6387: int32 // and % called a helper per element (3-5x NumPy); now float64
    # lanes. Zero divisors give 0 and MIN // -1 wraps, as NumPy.
    edges = np.array(
        [0, 1, -1, 2, -2, 3, -3, 7, -7, 46341, -65536, 2**31 - 1, -(2**31), 2**31 - 2, 1234567890], np.int32
    )
    a, b = (x.ravel() for x in np.meshgrid(edges, edges))
    rng = np.random.default_rng(7)
    a = np.concatenate([a, rng.integers(-(2**31), 2**31, 4001, dtype=np.int32)])
    b = np.concatenate([b, rng.integers(-70000, 70000, 4001, dtype=np.int32)])

    def f(x, y):
        return np.floor_divide(x, y), x % y, x // 3, x % -7

    check(f, a, b)
    check(f, a[::2], b[::2])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("s", [np.int32(1), np.int32(-3), np.float64(0.25)])
def test_loop_invariant_scalars_and_float32_in_float64_loops(s):
    # seeds 6030, 6536: a float64 scalar (tanh of a 0-d input; a row's float32 mean compared
    # and cast) made the loop mix widths and run scalar, tanh once per element; now computed
    # once before the loop, and float32 elements widen two to a vector.
    a = np.random.default_rng(6030).standard_normal((1026, 7)).astype(np.float32)[::2]
    check(
        lambda a, s: (
            np.tanh(s) <= a,
            (a.astype(np.float64) * np.cos(np.tanh(s))).astype(np.float32),
        ),
        a,
        s,
    )
    x = np.random.default_rng(6536).standard_normal((2500, 31))
    x[::3] = -2.0
    for arr in (x, np.asfortranarray(x), x[:, ::2]):
        check(lambda x: (x.mean(axis=1, keepdims=True, dtype=np.float32) == -2) <= x, arr)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_int32_arithmetic_in_float64_loops():
    # seed 7882: int32 % (and + - * // with constants) feeding float64 math and sums ran scalar
    # in the 64-bit loop; now on narrow int32 pairs.
    a = np.random.default_rng(7882).integers(-5, 6, (2500, 31)).astype(np.int32)
    a[0, :4] = [2**31 - 1, -(2**31), 0, -1]
    for arr in (a, np.asfortranarray(a), a[:, ::2]):
        check(lambda a: (np.log1p(a % a).sum(axis=-1, keepdims=True), np.log1p(a % a)), arr)
        check(
            lambda a: (
                (a % 3) * 0.5,
                (a // -2).astype(np.float64),
                (a * 7 + a).astype(np.float64),
            ),
            arr,
        )
