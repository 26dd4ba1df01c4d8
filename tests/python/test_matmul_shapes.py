"""Matmul shapes the GEMM step runs as thin products (dot, matrix-vector, vector-matrix and
batches of them), 1-d operands, a plain matrix broadcast over a stack, size-1 and empty
dimensions, against a float64 NumPy reference with a tolerance scaled by ``sum |a| |b|``."""

import ember
import numpy as np
import pytest

FLOATS = [np.float32, np.float64]

SHAPES = [
    ((7,), (7,)),
    ((100_000,), (100_000,)),
    ((1,), (1,)),
    ((0,), (0,)),
    ((5,), (5, 3)),
    ((300,), (300, 1200)),
    ((5, 3), (3,)),
    ((1500, 300), (300,)),
    ((4, 3), (3,)),
    ((0, 3), (3,)),
    ((3,), (3, 0)),
    ((1, 1), (1, 1)),
    ((1, 9), (9, 1)),
    ((1, 9), (9, 4)),
    ((6, 9), (9, 1)),
    ((1, 0), (0, 1)),
    ((64, 1, 512), (64, 512, 1)),
    ((3, 1, 5), (3, 5, 4)),
    ((3, 4, 5), (3, 5, 1)),
    ((3, 4, 5), (5,)),
    ((7,), (3, 7, 2)),
    ((2, 3, 4, 5), (5, 6)),
    ((4, 5), (2, 3, 5, 6)),
    ((2, 3, 1, 5), (5, 1)),
    ((0, 1, 5), (0, 5, 1)),
    ((2, 1, 0), (2, 0, 1)),
]


def reference(a, b):
    """The float64 product and the bound its rounding error scales with."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return a64 @ b64, np.abs(a64) @ np.abs(b64)


def check(got, a, b, dtype):
    want, scale = reference(a, b)
    expect = a @ b
    assert got.dtype == expect.dtype and got.shape == expect.shape
    eps = np.finfo(dtype).eps
    # A few ulps of sum |a| |b|: summation in blocks (pairwise accuracy), not k ulps.
    assert np.all(np.abs(got.astype(np.float64) - want) <= 8 * eps * scale + 1e-300)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("sa,sb", SHAPES)
def test_matmul_shapes(sa, sb, dtype):
    rng = np.random.default_rng(len(sa) * 100 + len(sb))
    a = rng.standard_normal(sa).astype(dtype)
    b = rng.standard_normal(sb).astype(dtype)
    f = ember.jit(lambda x, y: x @ y)
    check(np.asarray(f(a, b)), a, b, dtype)
    check(np.asarray(f(a, b)), a, b, dtype)  # the cached plan
    check(np.asarray(ember.matmul(ember.asarray(a), ember.asarray(b))), a, b, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(1024, 1, 256), (3, 1, 7), (2, 5, 1, 4), (4, 1, 1), (0, 1, 3)])
def test_product_with_own_swapaxes(shape, dtype):
    """``a @ swapaxes(a)``: a batch of dot products with a transposed operand."""
    a = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    f = ember.jit(lambda x: x @ np.swapaxes(x, -1, -2))
    check(np.asarray(f(a)), a, np.swapaxes(a, -1, -2), dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_strided_and_reversed_vectors(dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(3002).astype(dtype)
    m = rng.standard_normal((40, 3002)).astype(dtype)
    for p, q in [
        (x[::2], x[1::2]),
        (x[::-1], x),
        (m[:, ::3], x[::3]),
        (x[:40], m[:, ::-7]),
        (m.T[::5], x[:40]),
        (x[:40], np.asfortranarray(m)),
        (np.asfortranarray(m), x),
    ]:
        f = ember.jit(lambda u, v: u @ v)
        check(np.asarray(f(p, q)), p, q, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_thin_products_with_epilogue(dtype):
    """Bias and relu stored by the thin-product loops, and a matrix broadcast over a stack."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 1, 50)).astype(dtype)
    w = rng.standard_normal((50, 9)).astype(dtype)
    bias = rng.standard_normal(9).astype(dtype)
    f = ember.jit(lambda p, q, r: np.maximum(p @ q + r, 0))
    got = np.asarray(f(x, w, bias))
    want, scale = reference(x, w)
    want = np.maximum(want + bias, 0)
    eps = np.finfo(dtype).eps
    assert got.shape == want.shape
    assert np.all(np.abs(got - want) <= 8 * eps * (scale + np.abs(bias)))


def test_integer_vectors_stay_exact():
    a = np.arange(10, dtype=np.int64)
    f = ember.jit(lambda p, q: p @ q)
    assert int(np.asarray(f(a, a))) == int(a @ a)
    m = np.arange(30, dtype=np.int32).reshape(3, 10)
    np.testing.assert_array_equal(np.asarray(f(m, a.astype(np.int32))), m @ a.astype(np.int32))


def test_mismatched_vectors_raise():
    f = ember.jit(lambda p, q: p @ q)
    with pytest.raises(ValueError):
        f(np.ones(3, np.float32), np.ones(4, np.float32))


# Integer, bool and mixed-dtype products: NumPy's result dtype, exact for integers and bools
# (int@int wraps like NumPy's integer matmul), int@float computed on the float operand's
# promotion as NumPy does.

INT_SHAPES = [
    ((7,), (7,)),
    ((5,), (5, 3)),
    ((5, 3), (3,)),
    ((1, 1), (1, 1)),
    ((0, 3), (3, 4)),
    ((3, 0), (0, 4)),
    ((17, 33), (33, 9)),
    ((130, 70), (70, 97)),
    ((64, 40, 30), (64, 30, 20)),
    ((3, 40, 30), (30, 20)),
    ((40, 30), (3, 30, 20)),
    ((2, 3, 10, 8), (8, 6)),
    ((31, 2500), (2500,)),
    ((1, 300), (300, 200)),
]


def _ints(rng, shape, dtype, lo=-50, hi=50):
    if dtype == np.bool_:
        return rng.random(shape) < 0.3
    return rng.integers(lo, hi, shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.bool_, np.int32, np.int64])
@pytest.mark.parametrize("sa,sb", INT_SHAPES)
def test_integer_and_bool_products_exact(sa, sb, dtype):
    rng = np.random.default_rng(1)
    a, b = _ints(rng, sa, dtype), _ints(rng, sb, dtype)
    want = a @ b
    got = np.asarray(ember.jit(lambda x, y: x @ y)(a, b))
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.bool_, np.int32, np.int64])
def test_integer_products_of_transposed_and_fortran_operands(dtype):
    rng = np.random.default_rng(2)
    a = _ints(rng, (300, 64), dtype)
    np.testing.assert_array_equal(np.asarray(ember.jit(lambda x: x.T @ x)(a)), a.T @ a)
    v = np.asfortranarray(_ints(rng, (8, 32, 17), dtype))
    f = ember.jit(lambda x: x @ np.swapaxes(x, -1, -2))
    got, want = np.asarray(f(v)), v @ np.swapaxes(v, -1, -2)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("shape", [((40, 50), (50, 30)), ((3, 20, 10), (3, 10, 5)), ((60,), (60, 7))])
def test_integer_products_wrap_on_overflow(shape, dtype):
    rng = np.random.default_rng(3)
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, shape[0], dtype=dtype, endpoint=True)
    b = rng.integers(info.min, info.max, shape[1], dtype=dtype, endpoint=True)
    with np.errstate(all="ignore"):
        want = a @ b
    got = np.asarray(ember.jit(lambda x, y: x @ y)(a, b))
    np.testing.assert_array_equal(got, want)
    # Small but not tiny values: the float64 route's bound decides per call.
    a2 = rng.integers(-(2**20), 2**20, shape[0]).astype(dtype)
    b2 = rng.integers(-(2**20), 2**20, shape[1]).astype(dtype)
    np.testing.assert_array_equal(np.asarray(ember.jit(lambda x, y: x @ y)(a2, b2)), a2 @ b2)


@pytest.mark.parametrize(
    "da,db",
    [
        (np.int64, np.float64),
        (np.int32, np.float32),
        (np.int64, np.float32),
        (np.bool_, np.float32),
        (np.float64, np.int32),
        (np.int64, np.bool_),
        (np.int32, np.int64),
        (np.bool_, np.int32),
    ],
)
@pytest.mark.parametrize(
    "sa,sb", [((781, 781), (781,)), ((31, 2500), (2500,)), ((20, 30), (30, 40)), ((4, 20, 30), (30, 5)), ((0, 3), (3,))]
)
def test_mixed_dtype_products(sa, sb, da, db):
    rng = np.random.default_rng(4)

    def make(shape, dt):
        if np.dtype(dt).kind == "f":
            return rng.standard_normal(shape).astype(dt)
        return _ints(rng, shape, dt)

    a, b = make(sa, da), make(sb, db)
    want = a @ b
    got = np.asarray(ember.jit(lambda x, y: x @ y)(a, b))
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype.kind == "f":
        tol = 1e-5 if want.dtype == np.float32 else 1e-12
        scale = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)) + 1
        assert np.all(np.abs(got - want) <= tol * scale)
    else:
        np.testing.assert_array_equal(got, want)


# Batches of tiny matrices (perf fuzzer seed 7548: the batch is the contiguous dimension of
# `x.T`), exact for integers and bools, within rounding for floats.


@pytest.mark.parametrize("dtype", [np.bool_, np.int32, np.int64, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 3, 50000), (2, 2, 7), (4, 4, 3000), (5, 1, 300), (1, 3, 3)])
def test_tiny_batched_products(shape, dtype):
    rng = np.random.default_rng(5)
    if np.dtype(dtype).kind == "f":
        x = rng.standard_normal(shape).astype(dtype).T
    else:
        x = _ints(rng, shape, dtype, -5, 6).T
    f = ember.jit(lambda a: a @ np.swapaxes(a, -1, -2))
    for v in (x, np.ascontiguousarray(x)):
        want, got = v @ np.swapaxes(v, -1, -2), np.asarray(f(v))
        assert got.dtype == want.dtype and got.shape == want.shape
        if want.dtype.kind == "f":
            check(got, v, np.swapaxes(v, -1, -2), dtype)
        else:
            np.testing.assert_array_equal(got, want)
    if np.dtype(dtype).kind == "i":
        # Wrapping on overflow, as NumPy's integer matmul.
        info = np.iinfo(dtype)
        big = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True).T
        with np.errstate(all="ignore"):
            want = big @ np.swapaxes(big, -1, -2)
        np.testing.assert_array_equal(np.asarray(f(big)), want)


# Bool products larger than the small-output scan (perf fuzzer seed 6446: a Fortran-ordered
# (128, 6250) `a @ a.T`): dense ones settle in the first block of bits, sparse and all-false
# ones scan all of k.


@pytest.mark.parametrize("density", [0.0, 0.0003, 0.01, 0.5, 1.0])
@pytest.mark.parametrize("order", ["C", "F"])
def test_bool_products_any_density(density, order):
    rng = np.random.default_rng(6)
    a = np.asarray(rng.random((128, 6250)) < density, order=order)
    f = ember.jit(lambda x: x @ x.T)
    want, got = a @ a.T, np.asarray(f(a))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    s = np.asarray(rng.random((3, 70, 900)) < density, order=order)
    g = ember.jit(lambda x, y: x @ y)
    t = np.asarray(rng.random((900, 90)) < density)
    np.testing.assert_array_equal(np.asarray(g(s, t)), s @ t)


# A vector times a Fortran-ordered matrix with short columns (perf fuzzer seed 7737): the rows
# of the transposed product are gathered into column-contiguous blocks.


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("k", [2, 7, 31, 48, 49])
def test_vector_times_fortran_matrix(k, dtype):
    rng = np.random.default_rng(k)
    a = np.asfortranarray(rng.standard_normal((k, 25000)).astype(dtype))
    v = rng.standard_normal(k).astype(dtype)
    bias = rng.standard_normal(25000).astype(dtype)
    check(np.asarray(ember.jit(lambda x, y: x @ y)(v, a)), v, a, dtype)
    got = np.asarray(ember.jit(lambda x, y, z: np.maximum(x @ y + z, 0))(v, a, bias))
    want, scale = reference(v, a)
    eps = np.finfo(dtype).eps
    assert np.all(np.abs(got - np.maximum(want + bias, 0)) <= 8 * eps * (scale + np.abs(bias)))
