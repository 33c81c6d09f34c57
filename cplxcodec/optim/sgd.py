r"""``CSGD``: stochastic gradient descent with momentum for complex (and real) parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from ._common import (
    bucket_by_device_and_dtype,
    check_unsupported_options,
    default_foreach,
    to_float,
)

__all__ = ["CSGD", "csgd"]


class CSGD(Optimizer):
    r"""SGD with momentum, dampening, Nesterov and weight decay; drop-in for ``torch.optim.SGD``.

    **Gradient convention.** For a real loss :math:`L` of a complex parameter
    :math:`z = x + iy`, autograd stores
    :math:`g = \partial L/\partial x + i\,\partial L/\partial y = 2\,\partial L/\partial\bar z`,
    twice the conjugate Wirtinger derivative :math:`\partial/\partial\bar z =
    \tfrac12(\partial/\partial x + i\,\partial/\partial y)` (Brandwood, IEE Proc. 1983;
    Kreutz-Delgado, arXiv:0906.4835). This :math:`g` is the steepest-ascent direction of
    :math:`L` for the real inner product :math:`\operatorname{Re}\langle u, v\rangle` on
    :math:`\mathbb{C}^n \cong \mathbb{R}^{2n}`. The plain step is therefore

    .. math:: z \leftarrow z - \gamma\, g = z - 2\gamma\,\partial L/\partial\bar z ,

    which is what ``torch.optim.SGD`` does on complex tensors too; with the same ``lr`` the two
    give the same trajectories. With momentum :math:`\mu`, dampening :math:`\tau` and weight
    decay :math:`\lambda` (Sutskever et al., ICML 2013 for Nesterov):

    .. math::
        g_t \leftarrow g_t + \lambda z_{t-1},\quad
        b_t = \mu b_{t-1} + (1-\tau) g_t\ (b_1 = g_1),\quad
        z_t = z_{t-1} - \gamma\,(g_t + \mu b_t \text{ if Nesterov else } b_t).

    Every operation is complex-linear with real coefficients, so the trajectory rotates with
    the parameters (phase equivariance). Real parameters follow ``torch.optim.SGD`` bitwise.

    Args:
        params: parameters or parameter groups.
        lr: learning rate :math:`\gamma` (float, or a one-element tensor read as a float).
        momentum: :math:`\mu`.
        dampening: :math:`\tau`.
        weight_decay: :math:`\lambda` (gradient of the penalty :math:`\tfrac\lambda2|z|^2`).
        nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        maximize: maximize the objective.
        foreach: multi-tensor path; ``None`` picks it when all parameters are on CUDA.
        differentiable, fused: accepted for compatibility; ``True`` raises
            :class:`NotImplementedError`.

    State per parameter (with momentum): ``momentum_buffer`` (parameter dtype).
    """

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_unsupported_options("CSGD", differentiable=differentiable, fused=fused)
        if to_float(lr, "lr") < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": False,
            "fused": None,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            group.setdefault("fused", None)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Perform one optimization step; returns the closure's loss (or ``None``)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            check_unsupported_options(
                "CSGD", differentiable=group["differentiable"], fused=group["fused"]
            )
            params: list[Tensor] = []
            grads: list[Tensor] = []
            bufs: list[Tensor | None] = []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("CSGD does not support sparse gradients")
                params.append(p)
                grads.append(p.grad)
                if group["momentum"] != 0:
                    bufs.append(self.state[p].get("momentum_buffer"))
            if not params:
                continue
            foreach = group["foreach"]
            if foreach is None:
                foreach = default_foreach(params)
            csgd(
                params,
                grads,
                bufs,
                foreach=foreach,
                lr=to_float(group["lr"], "lr"),
                momentum=group["momentum"],
                dampening=group["dampening"],
                weight_decay=to_float(group["weight_decay"], "weight_decay"),
                nesterov=group["nesterov"],
                maximize=group["maximize"],
            )
            if group["momentum"] != 0:
                for p, buf in zip(params, bufs):
                    self.state[p]["momentum_buffer"] = buf
        return loss


def csgd(
    params: list[Tensor],
    grads: list[Tensor],
    momentum_buffers: list[Tensor | None],
    *,
    foreach: bool,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    maximize: bool,
) -> None:
    """Functional CSGD step, in place; new momentum buffers are written into ``momentum_buffers``.

    Complex and real tensors use the same (complex-linear) operations; see :class:`CSGD`.
    """
    if not foreach:
        for i, param in enumerate(params):
            grad = grads[i] if not maximize else -grads[i]
            if weight_decay != 0:
                grad = grad.add(param, alpha=weight_decay)
            if momentum != 0:
                buf = momentum_buffers[i]
                if buf is None:
                    buf = grad.detach().clone()
                    momentum_buffers[i] = buf
                else:
                    buf.mul_(momentum).add_(grad, alpha=1 - dampening)
                grad = grad.add(buf, alpha=momentum) if nesterov else buf
            param.add_(grad, alpha=-lr)
        return

    buf_list: list[Tensor | None] = (
        list(momentum_buffers) if momentum != 0 else [None] * len(params)
    )
    for bucket in bucket_by_device_and_dtype([params, grads, buf_list]).values():
        d_params, d_grads, d_bufs, indices = bucket
        if maximize:
            d_grads = torch._foreach_neg(d_grads)
        if weight_decay != 0:
            if maximize:
                torch._foreach_add_(d_grads, d_params, alpha=weight_decay)
            else:
                d_grads = torch._foreach_add(d_grads, d_params, alpha=weight_decay)
        if momentum != 0:
            if all(b is not None for b in d_bufs):
                torch._foreach_mul_(d_bufs, momentum)
                torch._foreach_add_(d_bufs, d_grads, alpha=1 - dampening)
            else:
                for j, b in enumerate(d_bufs):
                    if b is None:
                        b = d_grads[j].detach().clone()
                        d_bufs[j] = b
                        momentum_buffers[indices[j]] = b
                    else:
                        b.mul_(momentum).add_(d_grads[j], alpha=1 - dampening)
            if nesterov:
                torch._foreach_add_(d_grads, d_bufs, alpha=momentum)
            else:
                d_grads = d_bufs
        torch._foreach_add_(d_params, d_grads, alpha=-lr)
