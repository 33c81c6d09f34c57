r"""``CAdamW``: :class:`CAdam` with decoupled weight decay, drop-in for ``torch.optim.AdamW``."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .adam import CAdam

__all__ = ["CAdamW"]


class CAdamW(CAdam):
    r"""AdamW for complex (and real) parameters (Loshchilov & Hutter, ICLR 2019).

    Identical to :class:`CAdam` with ``decoupled_weight_decay=True``: before the Adam update
    each parameter is multiplied by :math:`1 - \gamma\lambda`, a real factor, so the step stays
    phase-equivariant. The second moment is :math:`E[|g|^2]` with the PyTorch gradient
    :math:`g = \partial L/\partial\operatorname{Re} z + i\,\partial L/\partial\operatorname{Im} z
    = 2\,\partial L/\partial\bar z`; see :class:`CAdam` for the update and conventions. Real
    parameters follow ``torch.optim.AdamW`` bitwise.

    Args:
        params, lr, betas, eps, amsgrad, maximize, foreach, capturable, differentiable, fused:
            as :class:`CAdam`.
        weight_decay: decoupled decay coefficient :math:`\lambda` (default ``1e-2`` as torch).
    """

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
