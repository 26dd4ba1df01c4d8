"""The transfer guard and the copy ledger.

Ember records every copy of array data it makes at run time, with the bytes, direction
(``h2h`` within the host; ``h2d``/``d2h``/``d2d`` for devices), duration, cause and whether you
asked for it. The guard decides what an *implicit* copy does: ``"allow"`` (default),
``"log"`` (one line on stderr) or ``"disallow"`` (raises :class:`ember.TransferError` naming the
cause and the bytes), like ``jax.transfer_guard``.
"""

from __future__ import annotations

from . import _ember as _C

_LEVELS = ("allow", "log", "disallow")


def _check(level):
    if level not in _LEVELS:
        raise ValueError(f"transfer_guard: expected 'allow', 'log' or 'disallow', got {level!r}")
    return level


class transfer_guard:
    """``with ember.transfer_guard("disallow"):`` sets the guard for this thread inside the
    block (see the module doc); :func:`set_transfer_guard` sets it for the process."""

    def __init__(self, level):
        self.level = _check(level)
        self._prev = None

    def __enter__(self):
        self._prev = _C.set_transfer_guard(self.level, "thread")
        return self

    def __exit__(self, *exc):
        _C.set_transfer_guard(self._prev, "thread")
        return False


def set_transfer_guard(level):
    """Sets the process-wide guard level; returns the previous one."""
    return _C.set_transfer_guard(_check(level), "global")


def transfer_ledger(reset=False):
    """The copies recorded so far, oldest first, as dicts with ``bytes``, ``direction``,
    ``device``, ``seconds``, ``cause`` and ``explicit``; ``reset=True`` empties the ledger."""
    rows, _dropped = _C.transfer_ledger(reset)
    keys = ("bytes", "direction", "device", "seconds", "cause", "explicit")
    return [dict(zip(keys, r)) for r in rows]
