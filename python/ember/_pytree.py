"""Flattening of argument and result structures (tuples, lists, dicts, None), like JAX's
pytrees: the leaves are arrays, the structure is part of the cache key."""

from __future__ import annotations


def flatten(tree, leaves):
    """Appends the leaves of ``tree`` to ``leaves`` and returns a hashable structure."""
    if isinstance(tree, tuple) and not hasattr(tree, "_fields"):
        return ("T", tuple(flatten(v, leaves) for v in tree))
    if isinstance(tree, list):
        return ("L", tuple(flatten(v, leaves) for v in tree))
    if isinstance(tree, dict):
        keys = sorted(tree)
        return ("D", tuple(keys), tuple(flatten(tree[k], leaves) for k in keys))
    if tree is None:
        return ("N",)
    leaves.append(tree)
    return "*"


def unflatten(structure, leaves):
    """Rebuilds a tree from ``structure`` taking leaves from the iterator ``leaves``."""
    if structure == "*":
        return next(leaves)
    tag = structure[0]
    if tag == "T":
        return tuple(unflatten(s, leaves) for s in structure[1])
    if tag == "L":
        return [unflatten(s, leaves) for s in structure[1]]
    if tag == "D":
        return {k: unflatten(s, leaves) for k, s in zip(structure[1], structure[2])}
    return None
