"""Testing helpers.

``simulate_cuda`` makes ``cuda:0`` a *simulated* CUDA device on a machine without a GPU, so
code that moves tensors to a GPU, runs ``@ember.jit(device="cuda")`` or checks copies with
``ember.transfer_ledger()`` can be tested anywhere::

    with ember.testing.simulate_cuda(memory=256 << 20):
        x = ember.asarray(a).to("cuda")      # lives in the simulated device's memory
        y = f(x)                             # kernels run in Ember's CUDA grid simulator

The simulated device has its own memory of ``memory`` bytes (exceeding it raises
:class:`ember.OutOfMemoryError`) and runs each kernel's CUDA lowering (blocks, threads,
shared memory, barriers) in an interpreter on the CPU: correct and slow, never a
performance proxy. ``ember.devices()`` lists it and ``ember.describe_device("cuda:0")`` says
it is simulated. It is never enabled on its own.
"""

from __future__ import annotations

from . import _ember as _C


class simulate_cuda:
    """Turns the simulated ``cuda:0`` on (for the ``with`` block, or until
    :meth:`stop`); ``memory`` is its capacity in bytes."""

    def __init__(self, memory: int = 256 << 20):
        if not isinstance(memory, int) or isinstance(memory, bool) or memory <= 0:
            raise ValueError(f"memory: expected a positive number of bytes, got {memory!r}")
        self.memory = memory
        _C.simulate_cuda(memory)

    def stop(self):
        """Turns the simulation off; tensors still on it can no longer be read."""
        _C.simulate_cuda(None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
