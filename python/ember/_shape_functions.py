"""NumPy functions that rearrange, join, split or pad arrays, composed of Ember's slices,
reshapes, transposes, broadcasts and concatenations: ``diff``, ``ediff1d``, ``repeat``,
``roll``, ``pad``, ``split``/``array_split``/``hsplit``/``vsplit``/``dsplit``, ``moveaxis``,
``rollaxis``, ``atleast_1d``/``2d``/``3d`` and ``hstack``/``vstack``/``dstack``/
``column_stack``/``row_stack``.

Each follows NumPy's own implementation (same dtypes, same errors for bad arguments). Sizes,
shifts, repeat counts and pad widths must be known when tracing: given as traced tensors they
raise :class:`Unsupported` (the result's shape would depend on the data).
"""

from __future__ import annotations

import typing
import warnings

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from . import _api, _indexing
from ._ember import Tensor
from ._functions import Unsupported, tensor

__all__ = [
    "array_split",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "column_stack",
    "diff",
    "dsplit",
    "dstack",
    "ediff1d",
    "hsplit",
    "hstack",
    "moveaxis",
    "pad",
    "repeat",
    "roll",
    "rollaxis",
    "row_stack",
    "split",
    "vsplit",
    "vstack",
]

#: The most slices one ``repeat`` (runs of equal counts) or ``pad`` axis (runs of evenly
#: spaced source positions) is recorded as; more fall back (Ember has no gather primitive).
MAX_PIECES = _indexing.MAX_RUNS


def _constant(x, what):
    """``x`` as a NumPy value known at trace time: a concrete tensor is read, a traced one
    raises :class:`Unsupported`."""
    if isinstance(x, Tensor):
        if x.is_traced:
            raise Unsupported(
                f"{what} given as a traced tensor (the result's shape would depend on the data)"
            )
        return x.numpy()
    return x


def _at_axis(sl, axis):
    return (slice(None),) * axis + (sl,)


# --- differences ----------------------------------------------------------------------------


def diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    """``numpy.diff``: the ``n``-th difference along ``axis`` (``not_equal`` for bools), after
    joining ``prepend`` and ``append`` (scalars broadcast to one slice)."""
    if n == 0:
        return tensor(a)
    if n < 0:
        raise ValueError("order must be non-negative but got " + repr(n))
    t = tensor(a)
    nd = t.ndim
    if nd == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = normalize_axis_index(axis, nd)
    combined = []
    for extra in (prepend, None, append):
        if extra is None:
            combined.append(t)
        elif extra is not np._NoValue:
            e = tensor(extra)
            if e.ndim == 0:
                shape = list(t.shape)
                shape[axis] = 1
                e = _api.broadcast_to(e, tuple(shape))
            combined.append(e)
    if len(combined) > 1:
        t = _api.concatenate(combined, axis)
    op = _api.not_equal if t.dtype == np.bool_ else _api.subtract
    for _ in range(n):
        t = op(t[_at_axis(slice(1, None), axis)], t[_at_axis(slice(None, -1), axis)])
    return t


def ediff1d(ary, to_end=None, to_begin=None):
    """``numpy.ediff1d``: differences of the flattened array, with ``to_begin`` and
    ``to_end`` (cast to its dtype, which they must reach under ``same_kind``) around them."""
    t = _api.ravel(tensor(ary))
    dtype_req = t.dtype
    if to_begin is None and to_end is None:
        return _api.subtract(t[1:], t[:-1])
    parts = []
    for name, extra in (("to_begin", to_begin), ("to_end", to_end)):
        if extra is None:
            parts.append(None)
            continue
        e = tensor(extra)
        if not np.can_cast(e.dtype, dtype_req, casting="same_kind"):
            raise TypeError(
                f"dtype of `{name}` must be compatible with input `ary` under the `same_kind` rule."
            )
        parts.append(_api.astype(_api.ravel(e), dtype_req))
    middle = _api.subtract(t[1:], t[:-1])
    pieces = [p for p in (parts[0], middle, parts[1]) if p is not None]
    return _api.concatenate(pieces, 0)


# --- repeat and roll ------------------------------------------------------------------------


def _repeat_each(t, axis, count):
    """Each element along ``axis`` repeated ``count`` times (a broadcast of a new axis)."""
    if count == 1:
        return t
    shape = tuple(t.shape)
    spread = _api.reshape(t, shape[: axis + 1] + (1,) + shape[axis + 1 :])
    spread = _api.broadcast_to(spread, shape[: axis + 1] + (count,) + shape[axis + 1 :])
    return _api.reshape(spread, shape[:axis] + (shape[axis] * count,) + shape[axis + 1 :])


def repeat(a, repeats, axis=None):
    """``numpy.repeat``: each element repeated ``repeats`` times along ``axis`` (the
    flattened array when None). ``repeats`` is an integer or one count per element, known at
    trace time; runs of equal counts become one broadcast each (at most
    :data:`MAX_PIECES`)."""
    t = tensor(a)
    repeats = _constant(repeats, "repeats")
    if axis is None or t.ndim == 0:
        # NumPy reads a 0-d array as 1-d whatever the axis (then checks the axis).
        t = _api.ravel(t)
    axis = 0 if axis is None else normalize_axis_index(axis, t.ndim)
    n = t.shape[axis]
    # NumPy's own checks of the counts (negative, non-integer, wrong length).
    np.repeat(np.zeros(n, np.int8), repeats)
    counts = np.asarray(repeats)
    if counts.ndim == 0 or counts.size == 1:
        return _repeat_each(t, axis, int(counts.reshape(-1)[0]) if counts.size else 0)
    counts = counts.astype(np.intp)
    groups = []  # (start, stop, count) of equal consecutive counts
    start = 0
    for i in range(1, n + 1):
        if i == n or counts[i] != counts[start]:
            if counts[start]:
                groups.append((start, i, int(counts[start])))
            start = i
    if not groups:
        return t[_at_axis(slice(0, 0), axis)]
    if len(groups) > MAX_PIECES:
        raise Unsupported(
            f"repeats with {len(groups)} runs of equal counts (Ember has no gather primitive; "
            f"at most {MAX_PIECES} runs are recorded as broadcast slices)"
        )
    pieces = [_repeat_each(t[_at_axis(slice(s, e), axis)], axis, c) for s, e, c in groups]
    return pieces[0] if len(pieces) == 1 else _api.concatenate(pieces, axis)


def roll(a, shift, axis=None):
    """``numpy.roll``: elements shifted along ``axis`` (the flattened array when None),
    those past the end coming back at the start; ``shift`` and ``axis`` may be tuples."""
    t = tensor(a)
    shift = _constant(shift, "shift")
    if axis is None:
        return _api.reshape(roll(_api.ravel(t), shift, 0), t.shape)
    axis = normalize_axis_tuple(axis, t.ndim, allow_duplicate=True)
    broadcasted = np.broadcast(shift, axis)
    if broadcasted.ndim > 1:
        raise ValueError("'shift' and 'axis' should be scalars or 1D sequences")
    shifts = dict.fromkeys(range(t.ndim), 0)
    for sh, ax in broadcasted:
        shifts[ax] += int(sh)
    for ax, offset in shifts.items():
        offset %= t.shape[ax] or 1
        if offset:
            t = _api.concatenate(
                [t[_at_axis(slice(-offset, None), ax)], t[_at_axis(slice(None, -offset), ax)]], ax
            )
    return t


# --- pad ------------------------------------------------------------------------------------


def _as_pairs(x, ndim, as_index=False):
    """NumPy's ``_as_pairs``: ``x`` broadcast to one ``(before, after)`` pair per axis."""
    x = np.array(x)
    if as_index:
        x = np.round(x).astype(np.intp, copy=False)
    if x.ndim < 3:
        if x.size == 1:
            x = x.ravel()
            if as_index and x < 0:
                raise ValueError("index can't contain negative values")
            return ((x[0], x[0]),) * ndim
        if x.size == 2 and x.shape != (2, 1):
            x = x.ravel()
            if as_index and (x[0] < 0 or x[1] < 0):
                raise ValueError("index can't contain negative values")
            return ((x[0], x[1]),) * ndim
    if as_index and x.min() < 0:
        raise ValueError("index can't contain negative values")
    return np.broadcast_to(x, (ndim, 2)).tolist()


_PAD_KWARGS = {
    "empty": [],
    "edge": [],
    "wrap": [],
    "constant": ["constant_values"],
    "linear_ramp": ["end_values"],
    "maximum": ["stat_length"],
    "mean": ["stat_length"],
    "median": ["stat_length"],
    "minimum": ["stat_length"],
    "reflect": ["reflect_type"],
    "symmetric": ["reflect_type"],
}


def _gather(t, axis, idx, mode):
    """``t`` at the constant positions ``idx`` along ``axis``, as strided slices."""
    runs = _indexing._runs([int(i) for i in idx])
    if len(runs) > MAX_PIECES:
        raise Unsupported(
            f"mode={mode!r} with a pad this much wider than the array ({len(runs)} slices per "
            f"axis; at most {MAX_PIECES} are recorded, and Ember has no gather primitive)"
        )
    return _indexing.take_along(t, idx, axis)


def _fill(shape, value, dtype):
    """A block of ``value`` as NumPy's ``padded[...] = value`` writes it into ``dtype``."""
    v = np.empty((), dtype)
    v[()] = value
    return _api.full(shape, v[()], dtype)


def _with_block(t, axis, before, after):
    pieces = [p for p in (before, t, after) if p is not None and p.shape[axis]]
    if not pieces:
        return t
    return pieces[0] if len(pieces) == 1 else _api.concatenate(pieces, axis)


def _reflect_odd(t, axis, left_pad, right_pad, include_edge):
    """NumPy's ``_set_reflect_both`` loop with ``reflect_type='odd'`` on the padded axis,
    written functionally: each write into the pad area becomes a concatenation."""
    original_period = t.shape[axis]
    shape = list(t.shape)
    shape[axis] = left_pad
    lead = _api.zeros(tuple(shape), t.dtype)
    shape[axis] = right_pad
    padded = _api.concatenate([lead, t, _api.zeros(tuple(shape), t.dtype)], axis)
    size = padded.shape[axis]

    def get(sl):
        return padded[_at_axis(sl, axis)]

    def put(start, stop, value):
        value = _api.astype(value, padded.dtype)
        return _api.concatenate(
            [get(slice(None, start)), value, get(slice(stop, None))],
            axis,
        )

    while left_pad > 0 or right_pad > 0:
        old_length = size - right_pad - left_pad
        if include_edge:
            old_length = old_length // original_period * original_period
            edge_offset = 1
        else:
            old_length = (old_length - 1) // (original_period - 1) * (original_period - 1) + 1
            edge_offset = 0
            old_length -= 1
        if left_pad > 0:
            chunk_length = min(old_length, left_pad)
            stop = left_pad - edge_offset
            start = stop + chunk_length
            chunk = get(slice(start, stop if stop >= 0 else None, -1))
            chunk = _api.subtract(_api.multiply(2, get(slice(left_pad, left_pad + 1))), chunk)
            padded = put(left_pad - chunk_length, left_pad, chunk)
            left_pad -= chunk_length
        if right_pad > 0:
            chunk_length = min(old_length, right_pad)
            start = -right_pad + edge_offset - 2
            stop = start - chunk_length
            chunk = get(slice(start, stop, -1))
            chunk = _api.subtract(_api.multiply(2, get(slice(-right_pad - 1, -right_pad))), chunk)
            begin = size - right_pad
            padded = put(begin, begin + chunk_length, chunk)
            right_pad -= chunk_length
    return padded


def pad(array, pad_width, mode="constant", **kwargs):
    """``numpy.pad`` with modes ``'constant'`` (``constant_values``), ``'edge'``,
    ``'reflect'``, ``'symmetric'`` (``reflect_type`` even or odd) and ``'wrap'``, axis by axis
    as NumPy pads (so corners come from the later axes). The other modes (statistics, ramps,
    ``'empty'``, a callable) raise :class:`Unsupported`."""
    t = tensor(array)
    if isinstance(pad_width, dict):
        seq = [(0, 0)] * t.ndim
        for ax, width in pad_width.items():
            match width:
                case int(both):
                    seq[ax] = both, both
                case tuple((int(before), int(after))):
                    seq[ax] = before, after
                case _ as invalid:
                    typing.assert_never(invalid)
        pad_width = seq
    pad_width = np.asarray(_constant(pad_width, "pad_width"))
    if not pad_width.dtype.kind == "i":
        raise TypeError("`pad_width` must be of integral type.")
    pad_width = _as_pairs(pad_width, t.ndim, as_index=True)
    if callable(mode):
        raise Unsupported("mode given as a function")
    try:
        unsupported_kwargs = set(kwargs) - set(_PAD_KWARGS[mode])
    except KeyError:
        raise ValueError(f"mode '{mode}' is not supported") from None
    if unsupported_kwargs:
        raise ValueError(f"unsupported keyword arguments for mode '{mode}': {unsupported_kwargs}")
    if mode not in ("constant", "edge", "reflect", "symmetric", "wrap"):
        raise Unsupported(
            f"mode={mode!r} (Ember pads with modes constant, edge, reflect, symmetric and wrap)"
        )
    pad_width = [(int(b), int(e)) for b, e in pad_width]
    if mode == "constant":
        values = _as_pairs(_constant(kwargs.get("constant_values", 0), "constant_values"), t.ndim)
        for axis, (before, after), (v_before, v_after) in zip(range(t.ndim), pad_width, values):
            shape = list(t.shape)
            shape[axis] = before
            head = _fill(tuple(shape), v_before, t.dtype) if before else None
            shape[axis] = after
            tail = _fill(tuple(shape), v_after, t.dtype) if after else None
            t = _with_block(t, axis, head, tail)
        return t
    if t.size == 0:
        for axis, width_pair in enumerate(pad_width):
            if t.shape[axis] == 0 and any(width_pair):
                raise ValueError(
                    f"can't extend empty axis {axis} using modes other than 'constant' or 'empty'"
                )
        shape = tuple(s + b + e for s, (b, e) in zip(t.shape, pad_width))
        return _api.zeros(shape, t.dtype)
    method = kwargs.get("reflect_type", "even")
    for axis, (before, after) in enumerate(pad_width):
        if not (before or after):
            continue
        n = t.shape[axis]
        if mode in ("reflect", "symmetric") and method == "odd" and n > 1:
            t = _reflect_odd(t, axis, before, after, mode == "symmetric")
            continue
        # A copy-only mode: NumPy's own padding of the positions 0..n-1 says where each padded
        # element comes from ('reflect' of one element repeats it, as NumPy's 'edge').
        src_mode = "edge" if mode != "wrap" and n == 1 else mode
        idx = np.pad(np.arange(n), (before, after), mode=src_mode)
        t = _gather(t, axis, idx, mode)
    return t


# --- splitting ------------------------------------------------------------------------------


def array_split(ary, indices_or_sections, axis=0):
    """``numpy.array_split``: a list of sub-tensors along ``axis``, split at the given
    indices or into that many nearly equal sections (the first ones one longer)."""
    t = tensor(ary)
    indices_or_sections = _constant(indices_or_sections, "indices_or_sections")
    Ntotal = t.shape[axis]
    try:
        Nsections = len(indices_or_sections) + 1
        div_points = [0] + list(indices_or_sections) + [Ntotal]
    except TypeError:
        Nsections = int(indices_or_sections)
        if Nsections <= 0:
            raise ValueError("number sections must be larger than 0.") from None
        Neach_section, extras = divmod(Ntotal, Nsections)
        section_sizes = [0] + extras * [Neach_section + 1] + (Nsections - extras) * [Neach_section]
        div_points = np.array(section_sizes, dtype=np.intp).cumsum()
    sary = _api.swapaxes(t, axis, 0)
    return [
        _api.swapaxes(sary[div_points[i] : div_points[i + 1]], axis, 0) for i in range(Nsections)
    ]


def split(ary, indices_or_sections, axis=0):
    """``numpy.split``: :func:`array_split` that requires sections of equal size."""
    indices_or_sections = _constant(indices_or_sections, "indices_or_sections")
    try:
        len(indices_or_sections)
    except TypeError:
        sections = indices_or_sections
        N = tensor(ary).shape[axis]
        if N % sections:
            raise ValueError("array split does not result in an equal division") from None
    return array_split(ary, indices_or_sections, axis)


def hsplit(ary, indices_or_sections):
    """``numpy.hsplit``: :func:`split` along axis 1 (axis 0 for 1-d arrays)."""
    t = tensor(ary)
    if t.ndim == 0:
        raise ValueError("hsplit only works on arrays of 1 or more dimensions")
    return split(t, indices_or_sections, 1 if t.ndim > 1 else 0)


def vsplit(ary, indices_or_sections):
    """``numpy.vsplit``: :func:`split` along axis 0 of an array of 2 or more dimensions."""
    t = tensor(ary)
    if t.ndim < 2:
        raise ValueError("vsplit only works on arrays of 2 or more dimensions")
    return split(t, indices_or_sections, 0)


def dsplit(ary, indices_or_sections):
    """``numpy.dsplit``: :func:`split` along axis 2 of an array of 3 or more dimensions."""
    t = tensor(ary)
    if t.ndim < 3:
        raise ValueError("dsplit only works on arrays of 3 or more dimensions")
    return split(t, indices_or_sections, 2)


# --- axes -----------------------------------------------------------------------------------


def moveaxis(a, source, destination):
    """``numpy.moveaxis``: the axes ``source`` moved to ``destination`` (a transpose)."""
    t = tensor(a)
    source = normalize_axis_tuple(source, t.ndim, "source")
    destination = normalize_axis_tuple(destination, t.ndim, "destination")
    if len(source) != len(destination):
        raise ValueError(
            "`source` and `destination` arguments must have the same number of elements"
        )
    order = [n for n in range(t.ndim) if n not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return _api.transpose(t, order)


def rollaxis(a, axis, start=0):
    """``numpy.rollaxis``: ``axis`` moved to sit before position ``start``."""
    t = tensor(a)
    n = t.ndim
    axis = normalize_axis_index(axis, n)
    if start < 0:
        start += n
    if not (0 <= start < n + 1):
        raise np.exceptions.AxisError(
            f"'start' arg requires {-n} <= start < {n + 1}, but {start} was passed in"
        )
    if axis < start:
        start -= 1
    if axis == start:
        return t
    axes = list(range(n))
    axes.remove(axis)
    axes.insert(start, axis)
    return _api.transpose(t, axes)


def _at_least(arys, ndim):
    res = []
    for ary in arys:
        t = tensor(ary)
        if t.ndim < ndim:
            if ndim == 3 and t.ndim == 2:
                t = _api.reshape(t, tuple(t.shape) + (1,))
            elif ndim == 3 and t.ndim == 1:
                t = _api.reshape(t, (1,) + tuple(t.shape) + (1,))
            else:
                t = _api.reshape(t, (1,) * (ndim - t.ndim) + tuple(t.shape))
        res.append(t)
    return res[0] if len(res) == 1 else tuple(res)


def atleast_1d(*arys):
    """``numpy.atleast_1d``: 0-d inputs become shape ``(1,)``; a tuple for several inputs."""
    return _at_least(arys, 1)


def atleast_2d(*arys):
    """``numpy.atleast_2d``: ``(1, 1)`` for 0-d, ``(1, n)`` for 1-d inputs."""
    return _at_least(arys, 2)


def atleast_3d(*arys):
    """``numpy.atleast_3d``: ``(1, 1, 1)``, ``(1, n, 1)`` and ``(m, n, 1)`` for 0-, 1- and
    2-d inputs."""
    return _at_least(arys, 3)


def _as_tuple(arrs):
    return arrs if isinstance(arrs, tuple) else (arrs,)


def _no_dtype(dtype, casting):
    if dtype is not None:
        raise Unsupported("dtype=")
    if casting != "same_kind":
        raise Unsupported(f"casting={casting!r}")


def vstack(tup, *, dtype=None, casting="same_kind"):
    """``numpy.vstack``: :func:`atleast_2d` of each, concatenated along axis 0."""
    _no_dtype(dtype, casting)
    return _api.concatenate(list(_as_tuple(atleast_2d(*tup))), 0)


def hstack(tup, *, dtype=None, casting="same_kind"):
    """``numpy.hstack``: :func:`atleast_1d` of each, concatenated along axis 1 (axis 0 when
    the first is 1-d)."""
    _no_dtype(dtype, casting)
    arrs = _as_tuple(atleast_1d(*tup))
    return _api.concatenate(list(arrs), 0 if arrs and arrs[0].ndim == 1 else 1)


def dstack(tup):
    """``numpy.dstack``: :func:`atleast_3d` of each, concatenated along axis 2."""
    return _api.concatenate(list(_as_tuple(atleast_3d(*tup))), 2)


def column_stack(tup):
    """``numpy.column_stack``: 0-d and 1-d inputs become columns, then concatenated along
    axis 1."""
    arrays = []
    for v in tup:
        t = tensor(v)
        if t.ndim < 2:
            t = _api.reshape(t, (-1, 1) if t.ndim == 1 else (1, 1))
        arrays.append(t)
    return _api.concatenate(arrays, 1)


def row_stack(tup, *, dtype=None, casting="same_kind"):
    """``numpy.row_stack``: NumPy's deprecated alias of :func:`vstack` (it warns the same)."""
    warnings.warn(
        "`row_stack` alias is deprecated. Use `np.vstack` directly.",
        DeprecationWarning,
        stacklevel=2,
    )
    return vstack(tup, dtype=dtype, casting=casting)
