r"""``CAdam``: Adam whose second moment is :math:`E[|g|^2]`, shared by real and imaginary parts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from ._common import check_unsupported_options, default_foreach, real_dtype_of, to_float
from .adam_functional import cadam

__all__ = ["CAdam"]


def _scalar_dtype() -> torch.dtype:
    # The dtype torch.optim uses for its "step" counters.
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


class CAdam(Optimizer):
    r"""Adam for complex (and real) parameters, drop-in for :class:`torch.optim.Adam`.

    **Gradient convention.** A complex parameter :math:`z = x + iy` receives from autograd
    :math:`g = \partial L/\partial x + i\,\partial L/\partial y = 2\,\partial L/\partial\bar z`,
    i.e. twice the conjugate Wirtinger derivative (Kreutz-Delgado, arXiv:0906.4835). The step
    uses this ``g`` as given. Because Adam divides by the root of the second moment, the factor
    two cancels except against ``eps``, which is compared with the RMS of the real and imaginary
    parts of ``g`` (as ``torch.optim.Adam`` compares it with each part).

    **Update** (Kingma & Ba, ICLR 2015), per complex entry:

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) |g_t|^2,\quad
        z_t = z_{t-1} - \frac{\gamma}{1-\beta_1^t}\frac{m_t}{\sqrt{\tfrac12 v_t/(1-\beta_2^t)}
        +\epsilon}

    with :math:`m` complex and :math:`v = E[|g|^2]` real (one value per complex entry, stored
    as a real tensor of the parameter's shape, shared by the real and imaginary parts). The
    step is equivariant to phase rotations: replacing :math:`z` by :math:`e^{i\theta}z` (and the
    loss :math:`L(z)` by :math:`L(e^{-i\theta}z)`) rotates the whole trajectory by
    :math:`e^{i\theta}`. ``torch.optim.Adam`` keeps separate moments for the real and imaginary
    parts and is not equivariant. The :math:`\tfrac12` makes :math:`\sqrt{\hat v/2}` the RMS of
    the two parts, so that when they have equal magnitude a CAdam step has the size of torch's
    at the same ``lr`` and ``eps`` (see :mod:`cplxcodec.optim.adam_functional`).

    Real parameters go through exactly the operations of ``torch.optim.Adam`` and follow its
    trajectory bitwise (on each of the per-tensor and ``foreach`` paths).

    ``weight_decay`` adds ``weight_decay * z`` to the gradient (the PyTorch gradient of the
    penalty :math:`\tfrac{\lambda}{2}|z|^2`); with ``decoupled_weight_decay=True`` the parameter
    is instead multiplied by ``1 - lr * weight_decay`` (AdamW, Loshchilov & Hutter, ICLR 2019).
    ``amsgrad`` uses the running maximum of :math:`v` (Reddi et al., ICLR 2018).

    Args:
        params: parameters or parameter groups (dicts), as for any ``torch.optim`` optimizer.
        lr: learning rate :math:`\gamma` (a float, or a one-element tensor read as a float).
        betas: :math:`(\beta_1, \beta_2)`.
        eps: added to :math:`\sqrt{\hat v/2}` (complex) or :math:`\sqrt{\hat v}` (real).
        weight_decay: L2 coefficient :math:`\lambda`.
        amsgrad: use the AMSGrad maximum of the second moment.
        foreach: use the multi-tensor (``torch._foreach_*``) path; ``None`` picks it when all
            parameters are on CUDA, like torch.
        maximize: maximize the objective instead of minimizing it.
        capturable, differentiable, fused: accepted for signature compatibility; ``True``
            raises :class:`NotImplementedError`.
        decoupled_weight_decay: AdamW-style decay (see :class:`CAdamW`).

    State per parameter: ``step`` (float tensor on CPU), ``exp_avg`` (parameter dtype),
    ``exp_avg_sq`` and, with amsgrad, ``max_exp_avg_sq`` (real dtype, parameter shape).

    Example:
        >>> lin = torch.nn.Linear(4, 4, dtype=torch.cfloat)
        >>> opt = CAdam(lin.parameters(), lr=1e-3)
        >>> lin(torch.randn(2, 4, dtype=torch.cfloat)).abs().pow(2).sum().backward()
        >>> opt.step()
    """

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        name = type(self).__name__
        check_unsupported_options(
            name, capturable=capturable, differentiable=differentiable, fused=fused
        )
        lr_value = to_float(lr, "lr")
        beta1, beta2 = (to_float(b, f"betas[{i}]") for i, b in enumerate(betas))
        if not 0.0 <= lr_value:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= beta1 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {beta1}")
        if not 0.0 <= beta2 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {beta2}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "betas": (beta1, beta2),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": False,
            "differentiable": False,
            "fused": None,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("fused", None)
            group.setdefault("decoupled_weight_decay", False)

    def _init_group(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        exp_avgs: list[Tensor],
        exp_avg_sqs: list[Tensor],
        max_exp_avg_sqs: list[Tensor],
        state_steps: list[Tensor],
    ) -> None:
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError(
                    f"{type(self).__name__} does not support sparse gradients "
                    "(use torch.optim.SparseAdam)"
                )
            params.append(p)
            grads.append(p.grad)
            state = self.state[p]
            if len(state) == 0:
                state["step"] = torch.tensor(0.0, dtype=_scalar_dtype())
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                # Real second moment of |g|^2, one per (complex) entry.
                real_zeros = torch.zeros_like(
                    p, dtype=real_dtype_of(p.dtype), memory_format=torch.preserve_format
                )
                state["exp_avg_sq"] = real_zeros
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = real_zeros.clone()
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            if group["amsgrad"]:
                max_exp_avg_sqs.append(state["max_exp_avg_sq"])
            state_steps.append(state["step"])

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Perform one optimization step.

        Args:
            closure: optional callable that re-evaluates the model and returns the loss.

        Returns:
            The closure's loss, or ``None``.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            check_unsupported_options(
                type(self).__name__,
                capturable=group["capturable"],
                differentiable=group["differentiable"],
                fused=group["fused"],
            )
            params: list[Tensor] = []
            grads: list[Tensor] = []
            exp_avgs: list[Tensor] = []
            exp_avg_sqs: list[Tensor] = []
            max_exp_avg_sqs: list[Tensor] = []
            state_steps: list[Tensor] = []
            self._init_group(
                group, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps
            )
            if not params:
                continue
            foreach = group["foreach"]
            if foreach is None:
                foreach = default_foreach(params)
            beta1, beta2 = group["betas"]
            cadam(
                params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                max_exp_avg_sqs,
                state_steps,
                foreach=foreach,
                amsgrad=group["amsgrad"],
                beta1=to_float(beta1, "betas[0]"),
                beta2=to_float(beta2, "betas[1]"),
                lr=to_float(group["lr"], "lr"),
                weight_decay=to_float(group["weight_decay"], "weight_decay"),
                eps=group["eps"],
                maximize=group["maximize"],
                decoupled_weight_decay=group["decoupled_weight_decay"],
            )
        return loss

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load state like :meth:`torch.optim.Optimizer.load_state_dict`, then check its layout.

        Raises:
            ValueError: if a second moment of a complex parameter is not a real tensor of the
                parameter's shape — e.g. a ``torch.optim.Adam`` state dict, whose complex
                ``exp_avg_sq`` holds separate real/imaginary moments.
        """
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state.get(p, {})
                for key in ("exp_avg_sq", "max_exp_avg_sq"):
                    value = state.get(key)
                    if value is None:
                        continue
                    if value.is_complex() or value.shape != p.shape:
                        raise ValueError(
                            f"{type(self).__name__}.load_state_dict: state '{key}' of a "
                            f"parameter of shape {tuple(p.shape)} and dtype {p.dtype} has "
                            f"dtype {value.dtype} and shape {tuple(value.shape)}; expected a "
                            "real tensor of the parameter's shape (was this state saved by "
                            "torch.optim.Adam?)"
                        )
