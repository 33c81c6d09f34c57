"""Wirtinger-aware optimizers for complex (and real) parameters.

Convention (all optimizers here): a complex parameter ``z`` is updated with the gradient autograd
stores, ``g = dL/dRe(z) + i dL/dIm(z) = 2 dL/d(conj z)`` — twice the conjugate Wirtinger
derivative. ``CSGD`` with ``lr`` therefore matches ``torch.optim.SGD``; ``CAdam``/``CAdamW`` keep
one real second moment ``E[|g|^2]`` per complex entry, which makes their steps equivariant to
phase rotations. Real parameters follow the matching ``torch.optim`` class bitwise.

- :class:`CSGD` — SGD with momentum, dampening, Nesterov, weight decay.
- :class:`CAdam` — Adam / AMSGrad with a shared ``|g|^2`` second moment.
- :class:`CAdamW` — CAdam with decoupled weight decay.
- :func:`complex_param_groups` — decay/no-decay × complex/real parameter groups.
- :func:`cadam`, :func:`csgd` — the functional steps.
"""

from .adam import CAdam
from .adam_functional import cadam
from .adamw import CAdamW
from .param_groups import complex_param_groups, default_no_decay
from .sgd import CSGD, csgd

__all__ = [
    "CSGD",
    "CAdam",
    "CAdamW",
    "cadam",
    "complex_param_groups",
    "csgd",
    "default_no_decay",
]
