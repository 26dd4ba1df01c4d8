"""Result layouts against NumPy: elementwise results take the memory order NumPy's ufuncs
give them (order='K': `x.T + 1` is Fortran-ordered), values and strides, under jit and for
large eager ops; mixed layouts stay in C order as NumPy's do."""

import gc

import ember
import numpy as np
import pytest

RNG = np.random.default_rng(11)


def make(shape, dtype):
    if dtype == np.bool_:
        return RNG.standard_normal(shape) > 0
    if np.dtype(dtype).kind == "i":
        return RNG.integers(-50, 50, shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


def moving_strides(a):
    """Strides of the axes longer than 1 (the others' are arbitrary, in NumPy too)."""
    return tuple(s for s, d in zip(a.strides, a.shape, strict=True) if d > 1)


def check(got, want):
    got = np.asarray(got)
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, want)
    assert moving_strides(got) == moving_strides(want), (got.strides, want.strides)
    assert got.flags.c_contiguous == want.flags.c_contiguous
    assert got.flags.f_contiguous == want.flags.f_contiguous


# (name, arguments from a dtype, function): one argument layout each.
LAYOUTS = [
    ("C", lambda d: (make((6, 7, 5), d),), lambda x: x + x),
    ("F", lambda d: (np.asfortranarray(make((6, 7, 5), d)),), lambda x: x + x),
    ("T2", lambda d: (make((9, 13), d),), lambda x: x.T + x.T),
    ("T3", lambda d: (make((6, 7, 5), d),), lambda x: np.transpose(x, (2, 0, 1)) * 1),
    ("swap", lambda d: (make((6, 7, 5), d),), lambda x: np.swapaxes(x, 0, 1) + 0),
    ("F-arg-T", lambda d: (np.asfortranarray(make((9, 13), d)),), lambda x: x.T - x.T),
    ("stepped-T", lambda d: (make((10, 13), d),), lambda x: x[::2].T + x[1::2].T),
    ("stepped-F", lambda d: (np.asfortranarray(make((12, 13), d))[::3],), lambda x: x * 2),
    ("reversed-T", lambda d: (make((9, 13), d),), lambda x: x[::-1].T + 1),
    ("F+vector", lambda d: (np.asfortranarray(make((6, 7, 5), d)), make((5,), d)), lambda x, v: x + v),
    ("F+column", lambda d: (np.asfortranarray(make((9, 13), d)), make((9, 1), d)), lambda x, c: x - c),
    ("T+row", lambda d: (make((13, 9), d), make((1, 13), d)), lambda x, r: r + x.T),
    ("mixed", lambda d: (make((13, 9), d), make((9, 13), d)), lambda x, y: x.T + y),
    ("mixed-F", lambda d: (np.asfortranarray(make((9, 13), d)), make((9, 13), d)), lambda x, y: x * y),
    ("size-1", lambda d: (np.asfortranarray(make((6, 1, 5), d)),), lambda x: x + x),
]

DTYPES = [np.float32, np.float64, np.int32, np.int64]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,args,fn", LAYOUTS, ids=[c[0] for c in LAYOUTS])
def test_jit_results_take_numpy_layout(name, args, fn, dtype):
    a = args(dtype)
    f = ember.jit(fn)
    check(f(*a), fn(*a))
    check(f(*a), fn(*a))  # the cached call (fast path)


@pytest.mark.parametrize("name,args,fn", LAYOUTS, ids=[c[0] for c in LAYOUTS])
def test_bool_results_take_numpy_layout(name, args, fn):
    a = args(np.float32)
    g = lambda *xs: fn(*xs) > 0  # noqa: E731
    check(ember.jit(g)(*a), g(*a))
    # Bool arguments (read and cast inside the kernel).
    b = [x > 0 for x in a]
    h = lambda *xs: np.logical_not(fn(*[x.astype(np.int32) for x in xs]) > 0)  # noqa: E731
    check(ember.jit(h)(*b), h(*b))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: np.exp(x.T),
        lambda x: np.tanh(x.T) * 2 - 1,
        lambda x: np.where(x.T > 0, x.T, 0.5 * x.T),
        lambda x: x.T.astype(np.float64) + 1,
        lambda x: np.maximum(x.T, 0),
    ],
)
def test_fused_chains_on_transposed_inputs(fn):
    x = make((64, 48), np.float32)
    check(ember.jit(fn)(x), fn(x))


def test_several_results_of_one_kernel():
    x = make((33, 21), np.float32)

    def fn(x):
        return x.T + 1, x.T * x.T, x.T > 0

    for got, want in zip(ember.jit(fn)(x), fn(x), strict=True):
        check(got, want)


def test_results_read_again_inside_the_function_are_right():
    # The result also feeds a reduction (and a reshape needing C order): values only.
    x = make((30, 20), np.float64)

    def fn(x):
        y = x.T * 2
        return y, y.sum(axis=0), y.reshape(-1)

    for got, want in zip(ember.jit(fn)(x), fn(x), strict=True):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_large_eager_ops_take_numpy_layout(dtype):
    # Large enough for eager ops to run as compiled kernels.
    x = make((300, 260), dtype)
    xf = np.asfortranarray(x)
    t = ember.asarray(xf)
    check((t * 3 + t).numpy(), xf * 3 + xf)
    check(np.negative(ember.asarray(x).T).numpy(), np.negative(x.T))
    # Mixed layouts: C, as NumPy.
    check((ember.asarray(x) + t).numpy(), x + xf)


def test_results_own_their_memory_and_do_not_alias_inputs():
    x = make((40, 30), np.float32)
    f = ember.jit(lambda x: x.T + 1)
    r = f(x)
    assert r.flags.f_contiguous and not np.shares_memory(r, x)
    want = x.T + 1
    x += 100  # writing the argument afterwards leaves the result alone
    del x
    gc.collect()
    np.testing.assert_array_equal(r, want)
    # The result is a NumPy array over Ember's memory, usable by NumPy as any F array.
    np.testing.assert_array_equal(np.ascontiguousarray(r), want)
    np.testing.assert_array_equal(r.copy(order="K"), want)


def test_returning_a_view_of_the_argument():
    x = make((8, 5), np.float64)
    f = ember.jit(lambda x: (x.T, x.T + 0))
    a, b = f(x)
    np.testing.assert_array_equal(a, x.T)
    check(b, x.T + 0)


def test_empty_and_one_element_arrays():
    for shape in [(0, 4), (4, 0), (1, 1), (1, 7)]:
        x = np.asfortranarray(make(shape, np.float32))
        f = ember.jit(lambda x: x.T * 2)
        got = f(x)
        np.testing.assert_array_equal(got, x.T * 2)
        assert got.shape == (x.T * 2).shape


def bcast(shape, to, dtype):
    """``np.broadcast_to`` of a fresh array of ``shape``: stride 0 along the broadcast axes."""
    return np.broadcast_to(make(shape, dtype), to)


# Stride-0 (np.broadcast_to) arguments next to transposed / Fortran / permuted ones: the
# merged loops of the re-ordered kernel must not take in an axis a broadcast argument lacks
# (its stride there is 0 as it is along the axes it broadcasts over).
BROADCAST_LAYOUTS = [
    ("F+bvector", lambda d: (np.asfortranarray(make((6, 7, 5), d)), bcast((1,), (5,), d)), lambda x, v: x + v),
    ("T+bscalar", lambda d: (make((13, 9), d), bcast((), (13,), d)), lambda x, v: x.T != v),
    ("perm+bvector", lambda d: (make((4, 4, 4), d), bcast((1,), (4,), d)), lambda x, v: np.transpose(x, (1, 2, 0)) * v),
    (
        "perm+brows",
        lambda d: (make((5, 7, 6), d), bcast((1, 5), (7, 5), d)),
        lambda x, b: np.transpose(x, (2, 1, 0)) + b,
    ),
    (
        "F+bcolumn",
        lambda d: (np.asfortranarray(make((9, 13), d)), bcast((9, 1), (9, 13), d)),
        lambda x, c: np.maximum(x, c),
    ),
    ("F+bfull", lambda d: (np.asfortranarray(make((9, 13), d)), bcast((1, 1), (9, 13), d)), lambda x, c: x * c),
    ("bT+F", lambda d: (bcast((13, 1), (13, 9), d), np.asfortranarray(make((9, 13), d))), lambda b, x: b.T + x),
    (
        "swap+bmatrix+T",
        lambda d: (make((6, 7, 5), d), bcast((6, 1), (6, 5), d), make((5, 6), d)),
        lambda x, b, y: np.swapaxes(x, 0, 1) + b * y.T,
    ),
    (
        "perm+bvector-3d",
        lambda d: (make((4, 3, 4), d), bcast((1, 3), (4, 3), d)),
        lambda x, b: np.transpose(x, (0, 2, 1)) == b,
    ),
]


@pytest.mark.parametrize("dtype", DTYPES + [np.bool_], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,args,fn", BROADCAST_LAYOUTS, ids=[c[0] for c in BROADCAST_LAYOUTS])
def test_broadcast_arguments_with_permuted_ones(name, args, fn, dtype):
    a = args(dtype)
    want = fn(*a)
    f = ember.jit(fn)
    check(f(*a), want)
    check(f(*a), want)  # the cached call (fast path)
    # Eagerly on Ember tensors (values: small eager ops need not re-order).
    got = fn(*[ember.asarray(x) for x in a])
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_eager_ops_on_broadcast_and_permuted_tensors(dtype):
    # Large enough for eager ops to run as compiled kernels.
    x = np.asfortranarray(make((300, 260), dtype))
    cases = [
        (x, bcast((1,), (260,), dtype)),
        (x, bcast((300, 1), (300, 260), dtype)),
        (x, bcast((1, 1), (300, 260), dtype)),
        (make((260, 300), dtype).T, bcast((), (260,), dtype)),
    ]
    for a, b in cases:
        check((ember.asarray(a) + ember.asarray(b)).numpy(), a + b)
        check((ember.asarray(b) * ember.asarray(a)).numpy(), b * a)


REDUCE_CASES = [
    ("perm", lambda d: np.transpose(make((12, 10, 8), d), (2, 1, 0))),
    ("F", lambda d: np.asfortranarray(make((12, 10, 8), d))),
    ("swap", lambda d: np.swapaxes(make((12, 10, 8), d), 0, 1)),
    ("T2", lambda d: make((30, 20), d).T),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("name,arg", REDUCE_CASES, ids=[c[0] for c in REDUCE_CASES])
def test_reductions_over_permuted_inputs_take_numpy_layout(name, arg, dtype):
    x = arg(dtype)
    for axis in range(x.ndim):
        for fn in (
            lambda x, a=axis: x.sum(axis=a),
            lambda x, a=axis: x.max(axis=a),
            lambda x, a=axis: (x * 2).sum(axis=a, keepdims=True),
        ):
            got, want = ember.jit(fn)(x), fn(x)
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-4)
            assert moving_strides(np.asarray(got)) == moving_strides(want)
    if x.ndim == 3:
        got, want = ember.jit(lambda x: x.sum(axis=(0, 2)))(x), x.sum(axis=(0, 2))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
        amax = ember.jit(lambda x: np.argmax(x, axis=1))
        np.testing.assert_array_equal(amax(x), np.argmax(x, axis=1))


# 3-d arguments in non-C layouts whose kernels feed later steps (their results stay C-ordered
# inside the function): the kernels view them through re-ordered loops instead of copying.
PERMUTED_3D = [
    ("T", lambda d: make((9, 6, 13), d).T),
    ("F", lambda d: np.asfortranarray(make((13, 6, 9), d))),
    ("perm120", lambda d: np.transpose(make((6, 9, 13), d), (1, 2, 0))),
    ("perm021", lambda d: np.transpose(make((13, 9, 6), d), (0, 2, 1))),
    ("rev", lambda d: make((9, 6, 13), d).T[::-1, :, ::-1]),
]

CHAINS = [
    ("sum0_then_rows", lambda x: (x.sum(axis=0) * 2).sum(axis=1, keepdims=True)),
    ("sum2_then_cols", lambda x: x.sum(axis=2).max(axis=0)),
    ("sum01_then_all", lambda x: x.sum(axis=(0, 1)).sum()),
    ("max1_then_sum", lambda x: x.max(axis=1).sum(axis=-1)),
    ("ew_then_reduce_rows", lambda x: (x * 3 + 1).sum(axis=-1)),
    ("ew_then_transpose", lambda x: np.transpose(x * 2, (2, 0, 1)) + 1),
    ("ew_then_reshape", lambda x: (x - 1).reshape(-1, 6)),
    ("full", lambda x: (x * 2).sum()),
    ("full_min_max", lambda x: (x.min(), np.maximum(x, 1).max())),
    ("full_argmax", lambda x: np.argmax(x * 2)),
    ("row_kernel", lambda x: x.sum(axis=-1, keepdims=True) + x),
]


@pytest.mark.parametrize("dtype", DTYPES + [np.bool_], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,fn", CHAINS, ids=[c[0] for c in CHAINS])
@pytest.mark.parametrize("layout,arg", PERMUTED_3D, ids=[c[0] for c in PERMUTED_3D])
def test_intermediate_kernels_on_permuted_inputs(layout, arg, name, fn, dtype):
    x = arg(dtype)
    with np.errstate(all="ignore"):
        want = fn(x)
        got = ember.jit(fn)(x)
    got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
    for g, w in zip(got, want, strict=True):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-4)
        else:
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("layout,arg", PERMUTED_3D, ids=[c[0] for c in PERMUTED_3D])
def test_results_of_intermediate_kernels_and_final_ones(layout, arg):
    x = arg(np.float32)
    # The first sum's result feeds the next step; the elementwise result only the caller
    # reads takes NumPy's layout.
    fn = lambda x: (x.sum(axis=0).sum(axis=1), x * 2)  # noqa: E731
    (g0, g1), (w0, w1) = ember.jit(fn)(x), fn(x)
    np.testing.assert_allclose(np.asarray(g0), w0, rtol=1e-5, atol=1e-4)
    check(g1, w1)


# Intermediates read only through views (transpose, slice, broadcast) and by later kernels:
# computed in their operands' memory order as NumPy's ufuncs are, so the results come out
# with NumPy's strides (fuzzer seed 2066: `np.less(f, f).T` of a Fortran array scattered a
# C-ordered intermediate, 0.46 ms against NumPy's 0.06).
THROUGH_VIEWS = [
    ("less_T", lambda x: np.less(x, x).T),
    ("exp_T_plus_1", lambda x: np.exp(x).transpose((2, 1, 0)) + 1),
    ("perm_then_slice", lambda x: np.transpose(x * 2, (2, 0, 1))[1:, ::2]),
    ("two_views", lambda x: (np.sqrt(np.abs(x)).T, np.sqrt(np.abs(x))[::-1])),
    ("view_kernel_view", lambda x: (np.abs(x).T * 2)[::-1].T + 1),
    ("broadcast", lambda x: np.broadcast_to((x + 1)[:, :1, :], x.shape) * x),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,fn", THROUGH_VIEWS, ids=[c[0] for c in THROUGH_VIEWS])
@pytest.mark.parametrize("layout,arg", PERMUTED_3D, ids=[c[0] for c in PERMUTED_3D])
def test_intermediates_read_through_views_take_numpy_layout(layout, arg, name, fn, dtype):
    x = arg(dtype)
    want = fn(x)
    got = ember.jit(fn)(x)
    got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
    for g, w in zip(got, want, strict=True):
        check(g, w)


def test_permuted_operands_of_intermediate_kernels_are_not_copied():
    # Fuzzer seed 611: a transposed (64, 16, 512) float32 array summed over its first axis,
    # then reduced further. The sum used to copy its operand to C order (1.4 ms).
    a0 = np.random.default_rng(3712).standard_normal((128, 16, 64)).astype(np.float32).T

    def h(a0):
        v0 = a0.sum(axis=0)
        v1 = np.std(v0, axis=1, keepdims=True)
        return np.sum(v1, axis=0, keepdims=True)

    jh = ember.jit(h)
    np.testing.assert_allclose(jh(a0), h(a0), rtol=1e-4)
    for fn, x in (
        (jh, a0),
        (ember.jit(lambda x: x.astype(np.bool_).sum()), np.asfortranarray(make((40, 30, 7), np.int64))),
        (ember.jit(lambda x: np.minimum(x, 2.5).min()), make((300, 64), np.float64).T),
    ):
        fn(x)
        with ember.profile() as p:
            fn(x)
        assert "cannot view" not in p.summary(), p.summary()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_row_kernels_copy_large_operands_they_would_read_across(dtype):
    # Fuzzer seed 1411: a variance along the rows of a Fortran array and elementwise work on
    # it, one row kernel. Reading each row across memory in every phase was 4.7 ms; the
    # operand is copied to C order first.
    x = np.asfortranarray(make((31, 4000), dtype))
    fn = lambda x: x.var(axis=-1, keepdims=True) + x  # noqa: E731
    jf = ember.jit(fn)
    np.testing.assert_allclose(np.asarray(jf(x)), fn(x), rtol=1e-5, atol=1e-4)
    with ember.profile() as p:
        got = jf(x)
    np.testing.assert_allclose(np.asarray(got), fn(x), rtol=1e-5, atol=1e-4)
    assert "read across its rows" in p.summary(), p.summary()


def check_close(got, want, tol):
    """`check` with a tolerance for results that add in another order."""
    got = np.asarray(got)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    assert moving_strides(got) == moving_strides(want), (got.strides, want.strides)
    assert got.dtype == want.dtype and got.shape == want.shape


# (name, view of a C array with no unit-stride axis): reversed, stepped, both, 3-d.
UNIT_FREE = [
    ("reversed", lambda d: make((700, 128), d)[:, ::-1]),
    ("stepped", lambda d: make((300, 600), d)[:, ::2]),
    ("reversed-stepped", lambda d: make((300, 600), d)[::-1, ::-3]),
    ("reversed-3d", lambda d: make((3, 90, 256), d)[:, :, ::-1]),
    ("row-stepped", lambda d: make((1, 200000), d)[:, ::2]),
]

UNIT_FREE_FUNCTIONS = [
    ("tanh", np.tanh),
    ("exp+log", lambda x: np.log(np.abs(np.exp(x * 0.01)))),
    ("row-sum", lambda x: x.sum(axis=-1)),
    ("column-sum", lambda x: x.sum(axis=0)),
    ("var", lambda x: x.var(axis=-1)),
    ("add", lambda x: x + 1),
]


@pytest.mark.parametrize("layout", [u[1] for u in UNIT_FREE], ids=[u[0] for u in UNIT_FREE])
@pytest.mark.parametrize("fn", [f[1] for f in UNIT_FREE_FUNCTIONS], ids=[f[0] for f in UNIT_FREE_FUNCTIONS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_operands_without_a_unit_stride_axis_are_packed(layout, fn, dtype):
    # Fuzzer seeds 5539, 5847, 6317, 7128, 7742, 7969: reversed or stepped operands
    # (`a[:, ::-1]`, `a[:, ::2]`) left kernels in their scalar loops (np.tanh of a reversed
    # (6250, 128) float32 array 1.4 ms, 0.25 ms on a C copy); big ones are copied to C order
    # first, except 64-bit operands of light elementwise kernels. Values and strides as
    # NumPy's.
    x = layout(dtype)
    jf = ember.jit(fn)
    with np.errstate(all="ignore"):
        want = fn(x)
        first = jf(x)
        with ember.profile() as p:
            got = jf(x)
    for g in (first, got):
        # Sums of float32 add in another order than NumPy's pairwise sum.
        check_close(g, want, tol=1e-4 if dtype == np.float32 else 1e-9)
    light = fn is UNIT_FREE_FUNCTIONS[-1][1]
    packed = "packed to C order" in p.summary()
    assert packed == (not light or np.dtype(dtype).itemsize < 8), p.summary()


def test_dense_reversed_operands_of_full_reductions_are_read_in_place():
    x = make((500, 256), np.float32)[::-1, ::-1]
    jf = ember.jit(lambda x: x.sum())
    np.testing.assert_allclose(jf(x), x.sum(), rtol=1e-5)
    with ember.profile() as p:
        got = jf(x)
    np.testing.assert_allclose(got, x.sum(), rtol=1e-5)
    assert "packed" not in p.summary() and "copied" not in p.summary(), p.summary()


RESHAPE_AND_MATMUL_READERS = [
    # Fuzzer seed 5091: a comparison of a transposed operand, flattened. NumPy writes it in
    # the operand's order and the reshape copies; the kernel used to scatter C-ordered
    # bytes (0.44 ms, NumPy 0.08).
    ("flatten", lambda: (make((256, 1000), np.float32).T,), lambda x: (True > x).reshape((256000,))),
    # A reshape NumPy can view: the result keeps the kernel's Fortran order.
    ("reshape-view", lambda: (make((64, 300), np.float64).T,), lambda x: (x * 2).reshape((300, 1, 64))),
    (
        "reshape-view-out",
        lambda: (make((64, 300), np.float32).T,),
        lambda x: (np.exp(x), np.exp(x).reshape((30, 10, 64))),
    ),
    # Fuzzer seed 6837: a cast of a Fortran operand feeding a GEMM (4.0 ms, NumPy 1.4).
    (
        "cast-matmul",
        lambda: (np.asfortranarray(RNG.integers(-5, 6, (2500, 31))), make((31,), np.float32)),
        lambda a, w: np.int64(3) > a @ w,
    ),
    (
        "matmul-T-operand",
        lambda: (make((300, 200), np.float32), make((300, 50), np.float32)),
        lambda a, b: (a.T * 2) @ b,
    ),
    ("matmul-both", lambda: (np.asfortranarray(make((120, 90), np.float64)),), lambda a: (a + 1) @ (a - 1).T),
    (
        "matmul-epilogue",
        lambda: (make((80, 64), np.float32), make((64,), np.float32)),
        lambda a, b: np.maximum((a.T * 3) @ a + b, 0),
    ),
    ("matmul-int", lambda: (np.asfortranarray(RNG.integers(-5, 6, (60, 70))),), lambda a: (a * 2) @ a.T),
    ("matmul-bool", lambda: (make((60, 70), np.float32).T,), lambda a: (a > 0) @ (a < 0).T),
    ("matmul-batched", lambda: (make((40, 30, 6), np.float64),), lambda a: np.transpose(a + 1, (2, 1, 0)) @ a[:, :, 0]),
]


@pytest.mark.parametrize(
    "make_args,fn",
    [(r[1], r[2]) for r in RESHAPE_AND_MATMUL_READERS],
    ids=[r[0] for r in RESHAPE_AND_MATMUL_READERS],
)
def test_kernels_read_by_reshapes_and_matmuls_take_operand_order(make_args, fn):
    # Reshapes (a view or a C-order copy) and GEMMs (any strides) read kernel results in
    # whatever order they come: such kernels write their operands' order as NumPy does.
    args = make_args()
    jf = ember.jit(fn)
    want = fn(*args)
    for got in (jf(*args), jf(*args)):
        got, wants = (got, want) if isinstance(want, tuple) else ((got,), (want,))
        for g, w in zip(got, wants, strict=True):
            check_close(g, w, tol=1e-4)
