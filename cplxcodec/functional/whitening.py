r"""2×2 whitening of complex data (Trabelsi et al., "Deep Complex Networks", ICLR 2018, §3.5).

A complex variable :math:`z = x + iy` is treated as the real 2-vector :math:`(x, y)`. Whitening
maps it to :math:`V^{-1/2}(z - \mu)`, where :math:`V` is the 2×2 covariance

.. math::
    V = \begin{pmatrix} V_{rr} & V_{ri} \\ V_{ri} & V_{ii} \end{pmatrix},

so that the result has identity covariance (real and imaginary parts uncorrelated, each of unit
variance), which plain scaling by :math:`1/\sqrt{E|z|^2}` does not achieve for improper signals.

Closed-form inverse square root
--------------------------------
For a symmetric positive-definite 2×2 matrix :math:`V`, let :math:`s = \sqrt{\det V}` and
:math:`t = \sqrt{\operatorname{tr} V + 2s}`. By Cayley–Hamilton, :math:`V^2 - (\operatorname{tr}V)V
+ s^2 I = 0`; checking :math:`((V + sI)/t)^2 = (V^2 + 2sV + s^2 I)/t^2 = ((\operatorname{tr}V) V
+ 2sV)/t^2 = V` shows :math:`V^{1/2} = (V + sI)/t`. Inverting the 2×2 matrix
:math:`V + sI`, whose determinant is :math:`s^2 + s\operatorname{tr}V + s^2 = s\,t^2`, gives

.. math::
    V^{-1/2} = \frac{1}{s\,t}
    \begin{pmatrix} V_{ii} + s & -V_{ri} \\ -V_{ri} & V_{rr} + s \end{pmatrix}.

Numerical safety: :math:`\epsilon` is added to both diagonal entries before the formula, so
:math:`\det V \ge \epsilon(V_{rr} + V_{ii}) + \epsilon^2 > 0` for any positive semi-definite
estimate. Purely real input (:math:`V_{ii} = 0`), constant input (:math:`V = 0`) and zeros all
give finite outputs; for constant input the centred data are 0 and so is the output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["covariance_2x2", "inv_sqrt_2x2", "apply_2x2", "whiten_2x2"]


def covariance_2x2(
    x: Tensor, dims: Sequence[int], unbiased: bool = False
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Mean and 2×2 covariance of complex ``x`` reduced over ``dims`` (kept as size-1 dims).

    Returns ``(mean, vrr, vri, vii)``: complex mean and the real covariance entries.
    """
    dims = tuple(dims)
    mean = x.mean(dim=dims, keepdim=True)
    xc = x - mean
    xr, xi = xc.real, xc.imag
    n = 1
    for d in dims:
        n *= x.shape[d]
    denom = max(n - 1, 1) if unbiased else n
    vrr = (xr * xr).sum(dim=dims, keepdim=True) / denom
    vri = (xr * xi).sum(dim=dims, keepdim=True) / denom
    vii = (xi * xi).sum(dim=dims, keepdim=True) / denom
    return mean, vrr, vri, vii


def inv_sqrt_2x2(
    vrr: Tensor, vri: Tensor, vii: Tensor, eps: float = 1e-5
) -> tuple[Tensor, Tensor, Tensor]:
    """Closed-form inverse square root of the SPD matrix ``[[vrr, vri], [vri, vii]] + eps·I``.

    Returns the entries ``(wrr, wri, wii)`` of the symmetric result (see module docstring).
    """
    vrr = vrr + eps
    vii = vii + eps
    det = (vrr * vii - vri * vri).clamp_min(eps * eps)
    s = det.sqrt()
    t = (vrr + vii + 2 * s).sqrt()
    inv = 1.0 / (s * t)
    return (vii + s) * inv, -vri * inv, (vrr + s) * inv


def apply_2x2(x: Tensor, wrr: Tensor, wri: Tensor, wii: Tensor) -> Tensor:
    """Apply the real symmetric 2×2 matrix ``[[wrr, wri], [wri, wii]]`` to complex ``x``."""
    xr, xi = x.real, x.imag
    return torch.complex(wrr * xr + wri * xi, wri * xr + wii * xi)


def whiten_2x2(x: Tensor, dims: Sequence[int], eps: float = 1e-5) -> Tensor:
    """Whiten complex ``x`` over ``dims``: zero mean and 2×2 identity covariance."""
    mean, vrr, vri, vii = covariance_2x2(x, dims)
    wrr, wri, wii = inv_sqrt_2x2(vrr, vri, vii, eps)
    return apply_2x2(x - mean, wrr, wri, wii)
