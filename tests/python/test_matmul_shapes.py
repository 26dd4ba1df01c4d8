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
