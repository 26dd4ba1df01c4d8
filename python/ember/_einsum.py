"""``numpy.einsum`` over Ember's primitives.

The subscripts are parsed as NumPy parses them (explicit ``->`` and implicit output, ``...``
broadcast dimensions, size-1 broadcasting, NumPy's errors). Each operand first takes its
diagonals (a repeated label, ``'ii->i'``: the two axes moved last, merged, and every
``n+1``-th element sliced out) and sums the labels no one else needs; then the operands are
contracted left to right, two at a time, as a batched matmul (or, for bool data and
contractions without free labels, a broadcast multiply and a sum); a final transpose gives the
output order. The sums run in the operands' common dtype like NumPy's (int32 wraps, bool is
"any"); float results differ from NumPy's only by summation order.
"""

from __future__ import annotations

import numpy as np

from . import _api
from ._functions import Unsupported, tensor

_ELLIPSIS = "..."


def _split_term(term):
    """A term's labels in order, ``...`` kept as one item; NumPy's errors for bad text."""
    labels = []
    i = 0
    while i < len(term):
        c = term[i]
        if c == ".":
            if term[i : i + 3] != _ELLIPSIS or _ELLIPSIS in labels:
                raise ValueError(
                    "einstein sum subscripts string contains a '.' that is not part of an "
                    "ellipsis ('...')"
                    if term[i : i + 3] != _ELLIPSIS
                    else "einstein sum subscripts string contains more than one ellipsis"
                )
            labels.append(_ELLIPSIS)
            i += 3
            continue
        if not (c.isascii() and c.isalpha()):
            raise ValueError(
                f"invalid subscript '{c}' in einstein sum subscripts string, "
                "subscripts must be letters"
            )
        labels.append(c)
        i += 1
    return labels


def _parse(subscripts, ndims):
    """Input label lists (ellipsis dims become ``("...", k)`` labels, right-aligned) and the
    output label list."""
    s = subscripts.replace(" ", "")
    if "->" in s:
        lhs, rhs = s.split("->", 1)
        if "-" in rhs or ">" in rhs:
            raise ValueError(
                "einstein sum subscript string does not contain proper '->' output specified"
            )
    else:
        if "-" in s or ">" in s:
            raise ValueError(
                "einstein sum subscript string does not contain proper '->' output specified"
            )
        lhs, rhs = s, None
    terms = lhs.split(",")
    if len(terms) > len(ndims):
        raise ValueError(
            "fewer operands provided to einstein sum function than specified in the "
            "subscripts string"
        )
    if len(terms) < len(ndims):
        raise ValueError(
            "more operands provided to einstein sum function than specified in the "
            "subscripts string"
        )
    split = [_split_term(t) for t in terms]
    ell_dims = []
    for i, (labels, nd) in enumerate(zip(split, ndims)):
        letters = sum(1 for lab in labels if lab != _ELLIPSIS)
        if letters > nd:
            raise ValueError(
                f"einstein sum subscripts string contains too many subscripts for operand {i}"
            )
        if _ELLIPSIS not in labels and letters < nd:
            raise ValueError(
                "operand has more dimensions than subscripts given in einstein sum, but no "
                "'...' ellipsis provided to broadcast the extra dimensions."
            )
        ell_dims.append(nd - letters)
    n_ell = max(ell_dims, default=0)
    inputs = []
    for labels, k in zip(split, ell_dims):
        expanded = []
        for lab in labels:
            if lab == _ELLIPSIS:
                expanded.extend((_ELLIPSIS, j) for j in range(n_ell - k, n_ell))
            else:
                expanded.append(lab)
        inputs.append(expanded)
    ell_labels = [(_ELLIPSIS, j) for j in range(n_ell)]
    if rhs is None:
        counts = {}
        for labels in split:
            for lab in labels:
                if lab != _ELLIPSIS:
                    counts[lab] = counts.get(lab, 0) + 1
        return inputs, ell_labels + sorted(lab for lab, c in counts.items() if c == 1)
    out_split = _split_term(rhs)
    seen = {lab for labels in split for lab in labels}
    output = []
    for lab in out_split:
        if lab == _ELLIPSIS:
            output.extend(ell_labels)
            continue
        if lab in output:
            raise ValueError(
                f"einstein sum subscripts string includes output subscript '{lab}' multiple times"
            )
        if lab not in seen:
            raise ValueError(
                f"einstein sum subscripts string included output subscript '{lab}' which "
                "never appeared in an input"
            )
        output.append(lab)
    if _ELLIPSIS not in out_split and n_ell > 0:
        raise ValueError(
            "output has more dimensions than subscripts given in einstein sum, but no '...' "
            "ellipsis provided to broadcast the extra dimensions."
        )
    return inputs, output


def _diagonals(t, labels, index):
    """Takes the diagonal of each repeated label: ``(..., n, n)`` viewed as ``(..., n*n)``
    and sliced with step ``n + 1``."""
    labels = list(labels)
    while len(set(labels)) < len(labels):
        lab = next(lab for lab in labels if labels.count(lab) > 1)
        p = labels.index(lab)
        q = labels.index(lab, p + 1)
        n, m = t.shape[p], t.shape[q]
        if n != m:
            name = lab if isinstance(lab, str) else "..."
            raise ValueError(
                f"dimensions in operand {index} for collapsing index '{name}' don't match "
                f"({n} != {m})"
            )
        rest = [i for i in range(t.ndim) if i not in (p, q)]
        t = _api.transpose(t, rest + [p, q])
        t = _api.reshape(t, [t.shape[i] for i in range(len(rest))] + [n * n])
        t = t[..., :: n + 1]
        labels = [labels[i] for i in rest] + [lab]
    return t, labels


def _reduce_sum(t, axes):
    """A sum over ``axes`` in ``t``'s own dtype (``any`` for bool), as einsum accumulates."""
    if not axes:
        return t
    if t.dtype == np.bool_:
        return _api.any(t, axis=tuple(axes))
    r = _api.sum(t, axis=tuple(axes))
    return r if r.dtype == t.dtype else _api.astype(r, t.dtype)


def _sum_out(t, labels, keep):
    """Sums away the labels not in ``keep``."""
    axes = [i for i, lab in enumerate(labels) if lab not in keep]
    return _reduce_sum(t, axes), [lab for lab in labels if lab in keep]


def _arrange(t, labels, order):
    """``t`` transposed to ``order`` (labels ``t`` lacks become size-1 axes)."""
    present = [lab for lab in order if lab in labels]
    t = _api.transpose(t, [labels.index(lab) for lab in present])
    sizes = dict(zip(present, t.shape))
    return _api.reshape(t, [sizes.get(lab, 1) for lab in order])


def _contract(a, la, b, lb, keep):
    """``a`` and ``b`` multiplied and summed over their shared labels that ``keep`` lacks.
    Returns the result and its labels."""
    a, la = _sum_out(a, la, set(keep) | set(lb))
    b, lb = _sum_out(b, lb, set(keep) | set(la))
    size_a, size_b = dict(zip(la, a.shape)), dict(zip(lb, b.shape))
    batch = [lab for lab in la if lab in lb and lab in keep]
    summed = [lab for lab in la if lab in lb and lab not in keep]
    free_a = [lab for lab in la if lab not in lb]
    free_b = [lab for lab in lb if lab not in la]
    # A summed label of size 1 on one side broadcasts against the other side's size.
    for lab in summed:
        if size_a[lab] != size_b[lab]:
            n = max(size_a[lab], size_b[lab])
            if size_a[lab] == 1:
                a = _api.broadcast_to(a, [n if x == lab else size_a[x] for x in la])
            else:
                b = _api.broadcast_to(b, [n if x == lab else size_b[x] for x in lb])
            size_a[lab] = size_b[lab] = n
    if a.dtype == np.bool_ or not summed or not (free_a or free_b):
        order = batch + free_a + free_b + summed
        prod = _api.multiply(_arrange(a, la, order), _arrange(b, lb, order))
        n_kept = len(order) - len(summed)
        return _reduce_sum(prod, list(range(n_kept, len(order)))), order[:n_kept]
    batch_shape = [max(size_a[lab], size_b[lab]) for lab in batch]
    m = int(np.prod([size_a[lab] for lab in free_a]))
    n = int(np.prod([size_b[lab] for lab in free_b]))
    k = int(np.prod([size_a[lab] for lab in summed]))
    a2 = _api.reshape(
        _arrange(a, la, batch + free_a + summed), [size_a[lab] for lab in batch] + [m, k]
    )
    b2 = _api.reshape(
        _arrange(b, lb, batch + summed + free_b), [size_b[lab] for lab in batch] + [k, n]
    )
    r = _api.matmul(a2, b2)
    shape = batch_shape + [size_a[lab] for lab in free_a] + [size_b[lab] for lab in free_b]
    return _api.reshape(r, shape), batch + free_a + free_b


def _check_sizes(ops, inputs):
    sizes = {}
    for t, labels in zip(ops, inputs):
        for lab, n in zip(labels, t.shape):
            m = sizes.get(lab, 1)
            if m != n and m != 1 and n != 1:
                name = lab if isinstance(lab, str) else "..."
                raise ValueError(
                    f"operands could not be broadcast together: subscript '{name}' has "
                    f"sizes {m} and {n}"
                )
            sizes[lab] = max(m, n)


def einsum(subscripts, *operands, out=None, dtype=None, order="K", casting="safe", optimize=False):
    """``numpy.einsum`` with a subscripts string (the sublist form, ``out=``, ``dtype=`` and
    a ``casting`` other than ``'safe'`` raise :class:`Unsupported`). ``order`` and
    ``optimize`` are accepted and ignored: the contraction order is always left to right."""
    if not isinstance(subscripts, str):
        raise Unsupported("the sublist form of einsum (only a subscripts string is traced)")
    if out is not None:
        raise Unsupported("out=")
    if dtype is not None:
        raise Unsupported("dtype=")
    if casting != "safe":
        raise Unsupported(f"casting={casting!r}")
    if not operands:
        raise ValueError("No input operands")
    ops = [tensor(o) for o in operands]
    inputs, output = _parse(subscripts, [t.ndim for t in ops])
    common = np.result_type(*[t.dtype for t in ops])
    ops = [t if t.dtype == common else _api.astype(t, common) for t in ops]
    # Diagonals are checked per operand before the cross-operand broadcast check, as NumPy does.
    diag = [_diagonals(t, labels, i) for i, (t, labels) in enumerate(zip(ops, inputs))]
    _check_sizes([t for t, _ in diag], [labels for _, labels in diag])
    acc, acc_labels = diag[0]
    for i in range(1, len(diag)):
        later = {lab for _, labels in diag[i + 1 :] for lab in labels} | set(output)
        acc, acc_labels = _contract(acc, acc_labels, *diag[i], later)
    acc, acc_labels = _sum_out(acc, acc_labels, set(output))
    return _api.transpose(acc, [acc_labels.index(lab) for lab in output])
