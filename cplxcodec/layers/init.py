r"""Complex weight initialisation (Trabelsi et al., "Deep Complex Networks", ICLR 2018, §3.6).

A complex weight :math:`w = |w| e^{i\theta}` gets a Rayleigh-distributed magnitude and a uniform
phase :math:`\theta \sim U(-\pi, \pi)`. For a Rayleigh variable with mode :math:`\sigma`,
:math:`E|w|^2 = 2\sigma^2`, so :math:`\operatorname{Var}(w) = 2\sigma^2` (the mean is 0 because the
phase is uniform). Matching the real criteria:

- Glorot: :math:`\operatorname{Var}(w) = 2/(n_{in} + n_{out})`,
  so :math:`\sigma = 1/\sqrt{n_{in}+n_{out}}`;
- He: :math:`\operatorname{Var}(w) = 2/n_{in}` → :math:`\sigma = 1/\sqrt{n_{in}}`.

A Rayleigh sample is :math:`\sigma\sqrt{-2\ln U}` with :math:`U \sim U(0, 1]`.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

__all__ = ["Criterion", "complex_fans", "complex_init_", "complex_glorot_", "complex_he_"]

Criterion = Literal["glorot", "he"]


def complex_fans(weight: Tensor, transposed: bool = False) -> tuple[int, int]:
    """Fan-in and fan-out of a (transposed) convolution or linear weight."""
    if weight.dim() < 2:
        raise ValueError(f"need a weight with at least 2 dims, got shape {tuple(weight.shape)}")
    receptive = math.prod(weight.shape[2:]) if weight.dim() > 2 else 1
    a, b = weight.shape[0], weight.shape[1]
    out_ch, in_ch = (b, a) if transposed else (a, b)
    return in_ch * receptive, out_ch * receptive


@torch.no_grad()
def complex_init_(
    weight: Tensor,
    criterion: Criterion = "glorot",
    transposed: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill complex ``weight`` in place with Rayleigh magnitudes and uniform phases."""
    if not weight.is_complex():
        raise TypeError("complex_init_ expects a complex tensor")
    fan_in, fan_out = complex_fans(weight, transposed)
    if criterion == "glorot":
        sigma = 1.0 / math.sqrt(fan_in + fan_out)
    elif criterion == "he":
        sigma = 1.0 / math.sqrt(fan_in)
    else:
        raise ValueError(f"unknown criterion {criterion!r}; use 'glorot' or 'he'")
    real_dtype = weight.real.dtype
    u = torch.rand(weight.shape, generator=generator, dtype=real_dtype, device=weight.device)
    mag = sigma * torch.sqrt(-2.0 * torch.log1p(-u))  # 1 - u in (0, 1]
    phase = torch.rand(weight.shape, generator=generator, dtype=real_dtype, device=weight.device)
    phase = (2 * phase - 1) * math.pi
    weight.copy_(torch.polar(mag, phase))
    return weight


def complex_glorot_(weight: Tensor, transposed: bool = False) -> Tensor:
    """Glorot (Xavier) criterion: ``Var(w) = 2 / (fan_in + fan_out)``."""
    return complex_init_(weight, "glorot", transposed)


def complex_he_(weight: Tensor, transposed: bool = False) -> Tensor:
    """He (Kaiming) criterion: ``Var(w) = 2 / fan_in``."""
    return complex_init_(weight, "he", transposed)
