"""``ember.linalg``: the parts of ``numpy.linalg`` Ember implements.

``np.linalg.norm`` on tensors (and inside ``@ember.jit``) dispatches here too.
"""

from ._functions import norm

__all__ = ["norm"]
