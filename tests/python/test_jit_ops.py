"""The foundation's NumPy-differential cases again, under ``@ember.jit``: the traced,
optimized and compiled (fused Cranelift kernels, GEMM, eager fallback steps) result must equal
NumPy's, dtype included, for every op, dtype and shape, or raise the same exception type.

Every case runs twice: on the host, and with ``device="cuda"`` (a real GPU when the driver
reports one, else the simulated ``cuda:0``, whose kernels run in the CUDA grid simulator), so
the CUDA backend is held to the same cases."""

import itertools
import warnings

import ember
import numpy as np
import pytest
from conftest import DTYPES, SHAPES, assert_same, numpy_or_error, rand
from test_eager_ops import (
    BINARY,
    EDGES,
    MATH_BINARY,
    MATH_UNARY,
    REDUCTIONS,
    SHAPE_PAIRS,
    UNARY,
    assert_math_same,
)

#: The device of the current case (set by the ``backend`` fixture).
DEVICE = None


@pytest.fixture(autouse=True, params=[None, "cuda"], ids=["host", "cuda"])
def backend(request):
    """Runs each case on the host and on ``cuda:0`` (real or simulated)."""
    global DEVICE
    sim = None
    if request.param == "cuda" and "cuda:0" not in ember.devices():
        sim = ember.testing.simulate_cuda(memory=256 << 20)
    DEVICE = request.param
    yield request.param
    DEVICE = None
    if sim is not None:
        sim.stop()


def run_jit(ember_fn, numpy_fn, *arrays, atol=0.0):
    """``ember.jit(ember_fn, device=DEVICE)(*arrays)`` against ``numpy_fn(*arrays)``."""
    want = numpy_or_error(lambda: numpy_fn(*arrays))
    f = ember.jit(ember_fn, fallback="error", device=DEVICE)
    if isinstance(want, type):
        with pytest.raises(want):
            with np.errstate(all="ignore"):
                f(*arrays)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = f(*arrays)
    assert isinstance(got, np.ndarray)
    assert_same(got, want, atol=atol)


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES + [(37,), (5, 33)])
def test_unary(name, dtype, shape, rng):
    x = rand(rng, shape, dtype)
    run_jit(lambda v: getattr(ember, name)(v), lambda v: getattr(np, name)(v), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_chain_on_strided_views(dtype, rng):
    view = rand(rng, (6, 40), dtype)[::2, ::-3]
    for name in ("negative", "exp", "absolute", "isnan"):
        run_jit(lambda v: getattr(np, name)(v), lambda v: getattr(np, name)(v), view)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("da,db", list(itertools.product(DTYPES, DTYPES)))
def test_binary_dtypes(name, da, db, rng):
    a, b = rand(rng, (3, 40), da), rand(rng, (40,), db)
    if name == "power" and db.startswith("int"):
        b = np.abs(b).astype(db)
    run_jit(lambda x, y: getattr(ember, name)(x, y), lambda x, y: getattr(np, name)(x, y), a, b)


@pytest.mark.parametrize("name", ["add", "multiply", "less", "maximum", "floor_divide", "remainder"])
@pytest.mark.parametrize("sa,sb", SHAPE_PAIRS)
def test_binary_broadcasting(name, sa, sb, rng):
    a, b = rand(rng, sa, "int64"), rand(rng, sb, "float32")
    run_jit(lambda x, y: getattr(np, name)(x, y), lambda x, y: getattr(np, name)(x, y), a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scalar", [True, 3, -2, 2.5, -0.5])
@pytest.mark.parametrize("name", ["add", "multiply", "less", "maximum", "divide"])
def test_weak_python_scalars(dtype, scalar, name, rng):
    a = rand(rng, (5,), dtype)
    run_jit(lambda x: getattr(np, name)(x, scalar), lambda x: getattr(np, name)(x, scalar), a)
    run_jit(lambda x: getattr(np, name)(scalar, x), lambda x: getattr(np, name)(scalar, x), a)


@pytest.mark.parametrize("a,b", [(7, 2), (-7, 2), (7, -2), (-7, -2), (5, 0), (0, 0)])
@pytest.mark.parametrize("dtype", ["int32", "int64", "float64"])
def test_floor_divide_and_remainder_signs(a, b, dtype):
    x, y = np.array([a] * 9, dtype), np.array([b] * 9, dtype)
    run_jit(np.floor_divide, np.floor_divide, x, y)
    run_jit(np.remainder, np.remainder, x, y)
    run_jit(np.fmod, np.fmod, x, y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", MATH_UNARY)
def test_math_functions_at_their_edges_fused(name, dtype):
    # In the domain and out of it, fused with arithmetic before and after (one kernel whose
    # loop calls the function per element), on both backends.
    with np.errstate(all="ignore"):
        x = np.array(EDGES * 3).astype(dtype)
        want = getattr(np, name)(x * 2) + 1
        got = ember.jit(lambda v: getattr(np, name)(v * 2) + 1, fallback="error", device=DEVICE)(x)
    assert_math_same(got, want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", MATH_BINARY)
def test_binary_math_functions_at_their_edges_fused(name, dtype):
    with np.errstate(all="ignore"):
        a = np.array(EDGES).astype(dtype)[:, None]
        b = np.array(EDGES).astype(dtype)
        want = getattr(np, name)(a, -b) * 2
        got = ember.jit(lambda x, y: getattr(np, name)(x, -y) * 2, fallback="error", device=DEVICE)(a, b)
    assert_math_same(got, want)


@pytest.mark.parametrize("name", ["arccosh", "arctanh", "log10"])
def test_math_functions_in_their_domains(name, rng):
    # The random cases are mostly out of arccosh's domain (NaN): these are in it.
    x = {"arccosh": 1 + np.abs(rng.standard_normal(1000)) * 10, "log10": np.abs(rng.standard_normal(1000))}.get(
        name, rng.uniform(-1, 1, 1000)
    )
    for dtype in ["float32", "float64"]:
        run_jit(lambda v: getattr(np, name)(v), lambda v: getattr(np, name)(v), x.astype(dtype))


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(name, dtype, axis, keepdims, rng):
    if name in ("argmax", "argmin") and isinstance(axis, tuple):
        return
    x = rand(rng, (3, 4, 17), dtype)
    run_jit(
        lambda v: getattr(np, name)(v, axis=axis, keepdims=keepdims),
        lambda v: getattr(np, name)(v, axis=axis, keepdims=keepdims),
        x,
    )


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("dtype", ["int32", "float32", "float64"])
def test_moments(name, dtype, rng):
    x = rand(rng, (4, 33), dtype)
    for axis in (None, 0, 1):
        run_jit(lambda v: getattr(np, name)(v, axis=axis, ddof=1), lambda v: getattr(np, name)(v, axis=axis, ddof=1), x)


@pytest.mark.parametrize(
    "sa,sb", [((3, 4), (4, 5)), ((4,), (4, 2)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((0, 3), (3, 2))]
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_with_epilogue(sa, sb, dtype, rng):
    a, b = rand(rng, sa, dtype), rand(rng, sb, dtype)
    if dtype.startswith("float"):
        want = np.maximum(a @ b + 1, 0)
        got = ember.jit(lambda x, y: np.maximum(x @ y + 1, 0), device=DEVICE)(a, b)
        assert_same(got, want, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-6)
    else:
        run_jit(lambda x, y: x @ y, lambda x, y: x @ y, a, b)


def test_movement_and_indexing(rng):
    x = rand(rng, (4, 3, 5), "float32")
    for f in [
        lambda v: v.reshape(5, -1) * 2,
        lambda v: v.transpose(1, 0, 2) + 1,
        lambda v: np.expand_dims(v, 1).sum(axis=2),
        lambda v: np.broadcast_to(v[0, 0], (3, 5)) - v[1],
        lambda v: np.concatenate([v, v[:1] * 2], axis=0),
        lambda v: np.stack([v, -v], axis=1),
        lambda v: v[::-1, 1:, ::2] * v[0, 0, 0],
        lambda v: v[None, ..., 1],
        lambda v: np.where(v > 0, v, v.astype(np.float64) * 0.5),
        lambda v: np.clip(v, -0.5, 0.5).astype(np.int32),
    ]:
        # float32 sums may round differently from NumPy's pairwise order (a few ulp).
        run_jit(f, f, x, atol=1e-6)


def test_composites_match_numpy_formulas(rng):
    x = rand(rng, (5, 40), "float64")
    e = np.exp(x - x.max(axis=1, keepdims=True))
    assert_same(
        ember.jit(lambda v: ember.softmax(v, axis=1), device=DEVICE)(x), e / e.sum(axis=1, keepdims=True), rtol=1e-12
    )
    assert_same(
        ember.jit(lambda v: ember.logsumexp(v, axis=1), device=DEVICE)(x), np.log(np.exp(x).sum(axis=1)), rtol=1e-12
    )
    mu = x.mean(axis=-1, keepdims=True)
    ln = (x - mu) / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-5)
    assert_same(ember.jit(lambda v: ember.layer_norm(v), device=DEVICE)(x), ln, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("n", [4, 64])
def test_row_reduction_reused_with_its_operand(keepdims, n, rng):
    # sum(e, axis=-1) + e on a square e: without kept dims the sums broadcast along the rows
    # (out[i, j] = s[j] + e[i, j]); the row kernel that reduced e added s[i].
    x = rand(rng, (n, n), "float64")
    for f in [
        lambda v: np.sum(np.exp(v), axis=-1, keepdims=keepdims) + np.exp(v),
        lambda v: np.where(np.var(np.sqrt(abs(v)), axis=-1, keepdims=keepdims) > 0.5, np.sqrt(abs(v)), 0.0),
    ]:
        run_jit(f, f, x)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batched_matmul_of_a_stack_with_an_odd_stride_on_a_size_1_batch_axis(dtype, rng):
    # NumPy calls (2, 1, 2, 3) with strides (24, 4, 12, 4) C-contiguous (a size-1 axis may
    # have any stride), so Ember borrows it; the GEMM took that axis's stride as the batch
    # stride, found it wrong, asked for a copy that contiguous() skipped, and then read the
    # first matrix for every batch.
    a = rand(rng, (2, 2, 3, 1), dtype).transpose((0, 3, 2, 1))
    b = np.ascontiguousarray(np.swapaxes(a, -1, -2))
    assert b.strides[1] != b.strides[0] and b.flags.c_contiguous
    run_jit(lambda x, y: x @ y, lambda x, y: x @ y, a, b)
    run_jit(lambda x: x @ np.swapaxes(x, -1, -2), lambda x: x @ np.swapaxes(x, -1, -2), a)
