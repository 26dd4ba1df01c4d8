"""NumPy functions composed of Ember primitives (outer, flip, round with decimals, tile,
triu/tril, tensordot, einsum, linalg.norm, the nan-reductions, constant integer-array indexing
and take), traced under ``@ember.jit`` without falling back and compared with
NumPy: dtype, shape and values (exact for integer and movement results), or the same exception
type. The variants Ember cannot record fall back with a precise reason and still return
NumPy's answer."""

import warnings

import ember
import numpy as np
import pytest
from conftest import DTYPES, assert_same, numpy_or_error, rand

INF = np.inf


def traced(fn, *args, rtol=None, atol=0.0):
    """``fn`` under ``ember.jit`` (no fallback allowed) against ``fn`` on the NumPy arrays."""
    want = numpy_or_error(lambda: fn(*args))
    f = ember.jit(fn, fallback="error")
    if isinstance(want, type):
        with pytest.raises(want), warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            f(*args)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", ember.FallbackWarning)
        got = f(*args)
    assert f.cache_info().fallbacks == []
    assert_same(got, want, rtol=rtol, atol=atol)


def falls_back(fn, *args, reason):
    """``fn`` falls back with ``reason`` in its recorded reason, and still returns NumPy's
    answer."""
    f = ember.jit(fn)
    with pytest.warns(ember.FallbackWarning, match=reason):
        got = f(*args)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        want = fn(*args)
    assert_same(got, want)
    (recorded,) = f.cache_info().fallbacks
    return recorded


def with_nans(rng, shape, dtype, all_nan_row=True):
    x = rand(rng, shape, dtype)
    if x.size:
        x[rng.random(shape) < 0.3] = np.nan
        if all_nan_row and x.ndim >= 2:
            x[(0,) * (x.ndim - 1)] = np.nan
    return x


# --- outer, flip, tile, triu/tril ----------------------------------------------------------


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", ["bool", "int32", "float32", "float64"])
def test_outer_dtypes(da, db, rng):
    traced(lambda a, b: np.outer(a, b), rand(rng, (2, 3), da), rand(rng, (4,), db))


@pytest.mark.parametrize("sa,sb", [((5,), (3,)), ((0,), (3,)), ((), (2, 2)), ((2, 3), (0,))])
def test_outer_shapes(sa, sb, rng):
    traced(lambda a, b: np.outer(a, b), rand(rng, sa, "float64"), rand(rng, sb, "int64"))


def test_outer_with_a_list_promotes_like_numpy(rng):
    # np.outer converts the list with asarray: float64, not a weak scalar.
    traced(lambda a: np.outer(a, [1.5, 2.0]), rand(rng, (3,), "float32"))


@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 5), (2, 0, 3), (2, 3, 4)])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, -1), 3])
@pytest.mark.parametrize("dtype", ["bool", "int32", "float64"])
def test_flip(shape, axis, dtype, rng):
    traced(lambda x: np.flip(x, axis), rand(rng, shape, dtype))


@pytest.mark.parametrize("shape", [(), (4,), (3, 5), (2, 3, 4), (0, 2)])
def test_fliplr_flipud(shape, rng):
    x = rand(rng, shape, "int64")
    traced(lambda v: np.fliplr(v), x)
    traced(lambda v: np.flipud(v), x)


def test_flip_repeated_axis_raises(rng):
    traced(lambda x: np.flip(x, (0, 0)), rand(rng, (2, 3), "float32"))


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (0, 2)])
@pytest.mark.parametrize("reps", [2, (2, 1), (1, 2, 3), 0, (2, 0), (), (1, 1), -1, (3,)])
@pytest.mark.parametrize("dtype", ["bool", "int32", "float32"])
def test_tile(shape, reps, dtype, rng):
    traced(lambda x: np.tile(x, reps), rand(rng, shape, dtype))


@pytest.mark.parametrize("name", ["triu", "tril"])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3), (2, 3, 4), (5,), (0, 3), ()])
@pytest.mark.parametrize("k", [-1, 0, 2])
@pytest.mark.parametrize("dtype", ["bool", "int64", "float32"])
def test_triu_tril(name, shape, k, dtype, rng):
    traced(lambda x: getattr(np, name)(x, k), rand(rng, shape, dtype))


# --- round ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("decimals", [-3, -1, 0, 1, 2, 5, 12])
def test_round_floats_exactly(dtype, decimals, rng):
    x = np.concatenate(
        [
            rand(rng, (50,), dtype) * 1000,
            np.array([0.125, 2.5, -2.5, 1.005, 12345.678, np.nan, np.inf, -np.inf, -0.0]),
        ]
    ).astype(dtype)
    traced(lambda v: np.round(v, decimals), x, rtol=0)
    traced(lambda v: np.around(v, decimals=decimals), x, rtol=0)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("decimals", [-3, -1, 0, 2])
def test_round_ints(dtype, decimals, rng):
    x = np.concatenate([rand(rng, (40,), dtype, -5000, 5000), np.array([15, 25, -15, 250])])
    traced(lambda v: np.round(v, decimals), x.astype(dtype))


@pytest.mark.parametrize("decimals", [-1, 1])
def test_round_bool_with_decimals_raises_like_numpy(decimals):
    traced(lambda v: np.round(v, decimals), np.array([True, False]))


def test_round_decimals_must_be_an_integer(rng):
    traced(lambda v: np.round(v, 1.5), rand(rng, (3,), "float64"))


# --- tensordot and einsum --------------------------------------------------------------------


@pytest.mark.parametrize(
    "sa,sb,axes",
    [
        ((3, 4), (4, 5), 1),
        ((2, 3, 4), (3, 4, 5), 2),
        ((2, 3), (4, 5), 0),
        ((3, 4, 5), (4, 3, 2), ([1, 0], [0, 1])),
        ((3, 4), (5, 4), (1, 1)),
        ((3, 4), (5, 4), (-1, -1)),
        ((2, 0), (0, 3), 1),
        ((3, 4), (5, 3), ([0], [1])),
        ((3, 4), (5, 4), 1),  # shape mismatch: ValueError
        ((3, 4), (4, 5), ([1, 1], [0, 0])),  # duplicate axes: ValueError
    ],
)
@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "float32", "float64"])
def test_tensordot(sa, sb, axes, dtype, rng):
    traced(lambda a, b: np.tensordot(a, b, axes), rand(rng, sa, dtype), rand(rng, sb, dtype), rtol=1e-5)


def test_tensordot_mixed_dtypes(rng):
    traced(
        lambda a, b: np.tensordot(a, b, 1),
        rand(rng, (3, 4), "float32"),
        rand(rng, (4, 2), "int64"),
    )


EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("ij,ij->i", [(3, 4), (3, 4)]),
    ("ij,ij->", [(3, 4), (3, 4)]),
    ("ij,ij->ij", [(3, 4), (3, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bij,jk->bik", [(2, 3, 4), (4, 5)]),
    ("ij,j->i", [(3, 4), (4,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,i", [(5,), (5,)]),
    ("i,i->i", [(1,), (5,)]),
    ("ij,kj->ik", [(2, 3), (4, 1)]),
    ("ijk,jl->ikl", [(2, 3, 4), (3, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ij,jk,kl", [(2, 3), (3, 4), (4, 2)]),
    ("ij->ji", [(3, 4)]),
    ("ba", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("ij->j", [(3, 4)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("iij->ji", [(3, 3, 2)]),
    ("ijij->ij", [(2, 3, 2, 3)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
    ("...ij,...jk", [(2, 1, 3, 4), (5, 4, 2)]),
    ("...ij->...ji", [(2, 3, 4)]),
    ("ij...->...", [(2, 3, 4)]),
    ("...", [(2, 3)]),
    ("i...,i...->...", [(3, 2), (3, 2)]),
    ("i,->i", [(3,), ()]),
    ("ij,jk->ik", [(2, 0), (0, 3)]),
    ("ij,jk->ik", [(0, 3), (3, 2)]),
    ("Ab,bA->", [(2, 3), (3, 2)]),
    # NumPy's errors
    ("ij,jk->ik", [(3, 4), (5, 6)]),
    ("ii->i", [(3, 4)]),
    ("ij,jk", [(3, 4)]),
    ("ij", [(3, 4), (4,)]),
    ("i2->i", [(3, 4)]),
    ("ij->ii", [(3, 3)]),
    ("ij->k", [(3, 3)]),
    ("ijk", [(3, 3)]),
    ("i", [(3, 3)]),
    ("...i->i", [(2, 3)]),
    ("i.j", [(3, 3)]),
]


@pytest.mark.parametrize("subscripts,shapes", EINSUM)
@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "float32", "float64"])
def test_einsum(subscripts, shapes, dtype, rng):
    ops = [rand(rng, s, dtype) for s in shapes]
    traced(lambda *xs: np.einsum(subscripts, *xs), *ops, rtol=1e-5)


def test_einsum_promotes_mixed_dtypes_and_ignores_optimize(rng):
    a, b = rand(rng, (3, 4), "float32"), rand(rng, (4, 2), "int64")
    traced(lambda x, y: np.einsum("ij,jk->ik", x, y, optimize=True), a, b)
    traced(lambda x, y: np.einsum("ij,jk->ik", x, y, optimize="greedy"), a, b)


def test_einsum_out_dtype_and_sublists_fall_back(rng):
    a = rand(rng, (3, 3), "float32")
    falls_back(lambda x: np.einsum("ij->i", x, dtype=np.float64), a, reason=r"np\.einsum.*dtype=")
    falls_back(lambda x: np.einsum(x, [0, 1], [1]), a, reason="sublist form")


# --- linalg.norm -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5,), (0,), (1,)])
@pytest.mark.parametrize("ord", [None, 1, 2, INF, -INF, 0, 3, -1, 0.5])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_vector_norms(shape, ord, keepdims, dtype, rng):
    x = rand(rng, shape, dtype)
    traced(lambda v: np.linalg.norm(v, ord, keepdims=keepdims), x, rtol=1e-5)
    traced(lambda v: np.linalg.norm(v, ord, axis=0, keepdims=keepdims), x, rtol=1e-5)


@pytest.mark.parametrize("ord", [None, "fro", "f", 1, -1, INF, -INF])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_matrix_norms(ord, keepdims, dtype, rng):
    x = rand(rng, (2, 3, 4), dtype)
    traced(lambda v: np.linalg.norm(v[0], ord, keepdims=keepdims), x, rtol=1e-5)
    for axis in [(1, 2), (2, 0), (-1, -2)]:
        traced(lambda v: np.linalg.norm(v, ord, axis, keepdims), x, rtol=1e-5)


@pytest.mark.parametrize("ord", [None, 1, INF])
def test_norm_of_empty_matrices(ord):
    traced(lambda v: np.linalg.norm(v, ord, axis=(0, 1)), np.zeros((0, 3)))


@pytest.mark.parametrize(
    "shape,ord,axis",
    [
        ((2, 3, 4), None, None),  # the default flattens every dimension
        ((2, 3, 4), 1, None),  # ValueError: improper number of dimensions
        ((5,), "fro", None),  # ValueError: invalid order for vectors
        ((3, 4), "bad", None),  # ValueError: invalid order for matrices
        ((3, 4), 3, None),  # ValueError: invalid order for matrices
        ((3, 4), None, (0, 0)),  # ValueError: duplicate axes
        ((3, 4), None, 2),  # AxisError
        ((3, 4), None, (0, 1, 1)),  # ValueError
        ((3, 4), None, 1.0),  # int(axis)
    ],
)
def test_norm_arguments(shape, ord, axis, rng):
    traced(lambda v: np.linalg.norm(v, ord, axis), rand(rng, shape, "float64"))


@pytest.mark.parametrize("ord", [2, -2, "nuc"])
def test_spectral_and_nuclear_norms_fall_back_naming_np_linalg_norm(ord, rng):
    x = rand(rng, (3, 4), "float64")
    reason = falls_back(lambda v: np.linalg.norm(v, ord), x, reason="singular values")
    assert reason.startswith("np.linalg.norm is not supported")


def test_norm_is_ember_linalg_norm(rng):
    x = rand(rng, (3, 4), "float32")
    assert_same(ember.linalg.norm(x, 1), np.linalg.norm(x, 1))


# --- count_nonzero ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0,), (7,), (4, 5), (2, 3, 4)])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, -1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_count_nonzero(dtype, shape, axis, keepdims, rng):
    x = with_nans(rng, shape, dtype) if dtype.startswith("float") else rand(rng, shape, dtype)
    if x.size and x.dtype.kind != "b":
        x.flat[::3] = 0  # zeros to skip (and NaNs, which count, for floats)
    traced(lambda v: np.count_nonzero(v, axis=axis, keepdims=keepdims), x)


def test_count_nonzero_of_a_large_mask_and_a_bad_axis(rng):
    x = rng.random(100_003) > 0.3
    traced(lambda v: np.count_nonzero(v), x)
    traced(lambda v: np.count_nonzero(v.reshape(-1, 1)[:100_000].reshape(1000, 100), axis=1), x)
    traced(lambda v: np.count_nonzero(v, axis=1), x)  # AxisError, as NumPy


# --- NaN-ignoring reductions -----------------------------------------------------------------

NAN_REDUCTIONS = ["nansum", "nanprod", "nanmean", "nanmax", "nanmin", "nanvar", "nanstd"]


@pytest.mark.parametrize("name", NAN_REDUCTIONS)
@pytest.mark.parametrize("shape", [(7,), (4, 5), (2, 3, 4)])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, -1)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nan_reductions(name, shape, axis, keepdims, dtype, rng):
    x = with_nans(rng, shape, dtype)
    traced(lambda v: getattr(np, name)(v, axis=axis, keepdims=keepdims), x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAN_REDUCTIONS)
@pytest.mark.parametrize("dtype", ["bool", "int32", "int64"])
def test_nan_reductions_of_integers_are_the_plain_ones(name, dtype, rng):
    x = rand(rng, (4, 5), dtype)
    traced(lambda v: getattr(np, name)(v, axis=1), x, rtol=1e-12)
    traced(lambda v: getattr(np, name)(v), x, rtol=1e-12)


@pytest.mark.parametrize("name", NAN_REDUCTIONS)
@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0)])
def test_nan_reductions_of_empty_arrays(name, shape):
    x = np.zeros(shape, np.float32)
    traced(lambda v: getattr(np, name)(v), x)
    traced(lambda v: getattr(np, name)(v, axis=0), x)


@pytest.mark.parametrize("name", ["nanvar", "nanstd"])
@pytest.mark.parametrize("ddof", [0, 1, 2, 1.5])
def test_nanvar_ddof(name, ddof, rng):
    x = with_nans(rng, (4, 3), "float64")
    traced(lambda v: getattr(np, name)(v, axis=1, ddof=ddof), x)
    traced(lambda v: getattr(np, name)(v, axis=0, correction=ddof), x)


@pytest.mark.parametrize("name", ["nansum", "nanmean", "nanvar", "nanstd"])
def test_nan_reductions_with_a_dtype(name, rng):
    x = with_nans(rng, (4, 5), "float32")
    traced(lambda v: getattr(np, name)(v, axis=1, dtype=np.float64), x, rtol=1e-12)
    if name != "nansum":  # an integer dtype for float data is a TypeError
        traced(lambda v: getattr(np, name)(v, axis=1, dtype=np.int64), x)


def test_nansum_integer_dtype_wraps_like_numpy():
    x = np.array([2**31 - 1, 1, 5], np.int32)
    traced(lambda v: np.nansum(v, dtype=np.int32), x)
    traced(lambda v: np.sum(v, dtype=np.int32), x)


def test_all_nan_slices(rng):
    x = np.full((3, 4), np.nan, np.float32)
    x[1, 2] = 1.5
    for name in NAN_REDUCTIONS:
        traced(lambda v: getattr(np, name)(v, axis=1), x)
        traced(lambda v: getattr(np, name)(v, axis=0), x)


def test_nan_reduction_arguments_ember_lacks_fall_back(rng):
    x = with_nans(rng, (3, 4), "float64")
    falls_back(lambda v: np.nanmax(v, axis=1, initial=10.0), x, reason=r"np\.nanmax.*initial=")
    falls_back(lambda v: np.nansum(v, where=v > 0), x, reason=r"np\.nansum.*where=")


# --- cumsum / cumprod, sort ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "nancumsum"])
@pytest.mark.parametrize("dtype", ["bool", "int64", "float32"])
def test_scans_fall_back_for_want_of_a_scan_primitive(name, dtype, rng):
    reason = falls_back(lambda v: getattr(np, name)(v, axis=1), rand(rng, (3, 4), dtype), reason="scan primitive")
    assert reason.startswith(f"np.{name} is not supported")


@pytest.mark.parametrize("name", ["sort", "argsort", "median"])
def test_sorting_falls_back_for_want_of_a_sort_primitive(name, rng):
    falls_back(lambda v: getattr(np, name)(v), rand(rng, (6,), "float64"), reason="sort primitive")


# --- integer-array indexing ------------------------------------------------------------------

INDEXES = [
    [0, 2],
    [2, 0, -1],
    [1, 1, 1, 0],
    [],
    np.array([0, 2]),
    np.array([True, False, True]),
    (slice(None), [3, 1, 1, 0]),
    (Ellipsis, [4, 2, 0, -1]),
    (0, slice(None), [1, 2]),
    (slice(None), 0, [1, 2]),
    ([1, 2], 0),
    ([1, 2], slice(None), 0),
    (None, [2, 0], slice(None, None, -1)),
    (slice(None), np.arange(4)[::-1]),
    (slice(None), slice(None), [0, 1, 3, 4, 2, 2]),
    ((0, 2), slice(None)),
    (slice(None), ember.asarray(np.array([3, 0]))),
]


@pytest.mark.parametrize("key", INDEXES, ids=repr)
@pytest.mark.parametrize("dtype", ["bool", "int64", "float32"])
def test_constant_integer_array_indexing(key, dtype, rng):
    traced(lambda x: x[key], rand(rng, (3, 4, 5), dtype))


def test_many_irregular_positions_become_slices_up_to_a_limit(rng):
    x = rand(rng, (400,), "float64")
    idx = rng.permutation(400)
    traced(lambda v: v[idx[:100]], x)
    reason = falls_back(lambda v: v[idx], x, reason="gather primitive")
    assert "400 positions" in reason


@pytest.mark.parametrize("key", [[3], [-4], [1.0], np.array([True, False]), 1.5, (0, "a")], ids=repr)
def test_bad_integer_array_indexes_raise_like_numpy(key, rng):
    traced(lambda x: x[key], rand(rng, (3, 2), "float64"))


@pytest.mark.parametrize(
    "body,reason",
    [
        (lambda x: x[x > 0], "boolean mask computed from traced values.*depends on the data"),
        (lambda x: x[:, np.argmax(x, axis=1)], "integer tensor computed from traced values.*gather"),
        (lambda x: x[[[0, 1]]], "2-d integer index array.*gather"),
        (lambda x: x[[0, 1], [1, 0]], "2 index arrays"),
        (lambda x: x[np.argmax(x[0]) % 3], "integer computed from traced values.*gather"),
        (lambda x: x[True], "boolean scalar"),
    ],
)
def test_advanced_indexing_fallback_reasons(body, reason, rng):
    falls_back(body, rand(rng, (3, 4), "float64"), reason=reason)


def test_take(rng):
    x = rand(rng, (3, 4), "float32")
    traced(lambda v: np.take(v, [2, 0, 1], axis=1), x)
    traced(lambda v: np.take(v, [11, 0, -1]), x)
    traced(lambda v: np.take(v, 2, axis=0), x)
    traced(lambda v: np.take(v, [True, False], axis=0), x)


@pytest.mark.parametrize("axis", [0, -1, 1, None])
@pytest.mark.parametrize("indices", [[0, -1], 0, [0]])
def test_take_of_0d_reads_it_as_1d(axis, indices):
    # NumPy takes a 0-d array as 1-d whatever the axis (Ember raised AxisError for axis=0).
    x = np.array(2.5, np.float32)
    traced(lambda v: np.take(v, indices, axis=axis), x)
    if axis == 1:
        with pytest.raises(np.exceptions.AxisError):
            np.take(ember.asarray(x), indices, axis=axis)
    else:
        assert_same(np.take(ember.asarray(x), indices, axis=axis), np.take(x, indices, axis=axis))


# --- outside jit -----------------------------------------------------------------------------


def test_eager_calls_on_tensors_run_in_ember(rng):
    a, b = rand(rng, (3,), "float32"), rand(rng, (4,), "float32")
    m = rand(rng, (3, 4), "float64")
    cases = [
        (lambda x, y: np.outer(x, y), (ember.asarray(a), b), (a, b)),
        (lambda x: np.flip(x, 0), (ember.asarray(m),), (m,)),
        (lambda x: np.round(x, 2), (ember.asarray(m),), (m,)),
        (lambda x: np.tile(x, 2), (ember.asarray(a),), (a,)),
        (lambda x: np.triu(x), (ember.asarray(m),), (m,)),
        (lambda x: np.tensordot(x, x, ([0, 1], [0, 1])), (ember.asarray(m),), (m,)),
        (lambda x: np.einsum("ij->j", x), (ember.asarray(m),), (m,)),
        (lambda x: np.linalg.norm(x, axis=1), (ember.asarray(m),), (m,)),
        (lambda x: np.nanmean(x, axis=0), (ember.asarray(m),), (m,)),
        (lambda x: x[[2, 0]], (ember.asarray(m),), (m,)),
    ]
    for fn, ember_args, numpy_args in cases:
        got = fn(*ember_args)
        assert isinstance(got, ember.Tensor)
        assert_same(got, fn(*numpy_args), rtol=1e-12)
    assert_same(ember.outer(a, b), np.outer(a, b))
    assert_same(ember.round(m, -1), np.round(m, -1))
    assert_same(ember.einsum("ij,j", m, b), np.einsum("ij,j", m, b))
    # Eager calls Ember cannot run go to NumPy on the same data.
    assert_same(np.cumsum(ember.asarray(m), axis=1), np.cumsum(m, axis=1))
    assert_same(np.linalg.norm(ember.asarray(m), 2), np.linalg.norm(m, 2))
