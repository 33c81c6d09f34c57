r"""Functional form of the complex-aware Adam / AdamW update (used by :class:`CAdam`).

For a parameter :math:`z \in \mathbb{C}^n` with PyTorch gradient
:math:`g = \partial L/\partial \operatorname{Re} z + i\,\partial L/\partial \operatorname{Im} z
= 2\,\partial L/\partial \bar z` (the conjugate Wirtinger derivative, times two), one step is

.. math::
    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \qquad (\text{complex}) \\
    v_t &= \beta_2 v_{t-1} + (1-\beta_2)\, |g_t|^2 \qquad (\text{real, one per complex entry}) \\
    z_t &= z_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
           \frac{m_t}{\sqrt{\tfrac12 v_t/(1-\beta_2^t)} + \epsilon}

so the preconditioner :math:`1/(\sqrt{\hat v/2}+\epsilon)` is one positive real number per
complex coordinate. Multiplying :math:`z` (and the loss's argument) by :math:`e^{i\theta}`
multiplies :math:`g` and :math:`m` by :math:`e^{i\theta}` and leaves :math:`v` unchanged, hence
the whole trajectory rotates by :math:`e^{i\theta}`. ``torch.optim.Adam`` instead keeps separate
second moments for :math:`\operatorname{Re} g` and :math:`\operatorname{Im} g`, a non-scalar
real-linear map of :math:`g` that breaks this equivariance.

The factor :math:`\tfrac12` makes :math:`\sqrt{\hat v/2}` the RMS of the real and imaginary parts
of :math:`g`: where the two have equal magnitude, the step has the size ``torch.optim.Adam``
takes at the same ``lr`` and ``eps`` (each part moves by up to :math:`\gamma`, the complex
entry by up to :math:`\sqrt2\gamma`), so learning rates tuned for torch carry over. Without it
(:math:`\sqrt{\hat v}`), the step would be :math:`1/\sqrt2` of torch's, which in our measurements
needed :math:`\sqrt2\times` the learning rate to keep up. ``exp_avg_sq`` stores :math:`v`
itself, i.e. :math:`E[|g|^2]`.

Real tensors go through exactly the operations ``torch.optim.Adam`` performs (same order, same
scalars) on each path, so their results are bitwise identical to torch's.

References: Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015; Reddi, Kale &
Kumar, "On the Convergence of Adam and Beyond", ICLR 2018 (amsgrad); Loshchilov & Hutter,
"Decoupled Weight Decay Regularization", ICLR 2019; Kreutz-Delgado, "The Complex Gradient
Operator and the CR-Calculus", arXiv:0906.4835 (Wirtinger derivatives).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._common import bucket_by_device_and_dtype

__all__ = ["cadam"]

_SQRT2 = 2.0**0.5


def cadam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    state_steps: list[Tensor],
    *,
    foreach: bool,
    amsgrad: bool,
    beta1: float,
    beta2: float,
    lr: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> None:
    """Apply one complex-aware Adam step in place.

    Args:
        params: parameters, real or complex, each with a gradient in ``grads``.
        grads: ``grads[i]`` has the shape and dtype of ``params[i]`` (PyTorch convention
            ``g = 2 dL/d(conj z)`` for complex tensors).
        exp_avgs: first moments, same dtype as the parameter (complex for complex ones).
        exp_avg_sqs: second moments, the *real* dtype and the shape of the parameter.
        max_exp_avg_sqs: running maxima of ``exp_avg_sqs`` (used only when ``amsgrad``).
        state_steps: one-element float tensors counting steps, incremented here.
        foreach: use the multi-tensor (``torch._foreach_*``) path.
        amsgrad, beta1, beta2, lr, weight_decay, eps, maximize, decoupled_weight_decay: as in
            ``torch.optim.Adam``.
    """
    kernel = _multi_tensor_cadam if foreach else _single_tensor_cadam
    kernel(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        max_exp_avg_sqs,
        state_steps,
        amsgrad=amsgrad,
        beta1=beta1,
        beta2=beta2,
        lr=lr,
        weight_decay=weight_decay,
        eps=eps,
        maximize=maximize,
        decoupled_weight_decay=decoupled_weight_decay,
    )


def _single_tensor_cadam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    state_steps: list[Tensor],
    *,
    amsgrad: bool,
    beta1: float,
    beta2: float,
    lr: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> None:
    for i, param in enumerate(params):
        grad = grads[i] if not maximize else -grads[i]
        exp_avg = exp_avgs[i]
        exp_avg_sq = exp_avg_sqs[i]
        step_t = state_steps[i]

        step_t += 1

        if weight_decay != 0:
            if decoupled_weight_decay:
                param.mul_(1 - lr * weight_decay)
            else:
                grad = grad.add(param, alpha=weight_decay)

        is_complex = torch.is_complex(param)
        if is_complex:
            # |g|^2 = Re(g)^2 + Im(g)^2, accumulated into one real moment per entry.
            exp_avg_sq.mul_(beta2)
            exp_avg_sq.addcmul_(grad.real, grad.real, value=1 - beta2)
            exp_avg_sq.addcmul_(grad.imag, grad.imag, value=1 - beta2)
            grad = torch.view_as_real(grad)
            exp_avg = torch.view_as_real(exp_avg)
            param = torch.view_as_real(param)
            exp_avg.lerp_(grad, 1 - beta1)
        else:
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)

        step = step_t.item()
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5

        if is_complex:
            # sqrt(v / 2): the RMS of the real and imaginary parts (see module docstring).
            bias_correction2_sqrt = bias_correction2_sqrt * _SQRT2
        if amsgrad:
            torch.maximum(max_exp_avg_sqs[i], exp_avg_sq, out=max_exp_avg_sqs[i])
            denom = (max_exp_avg_sqs[i].sqrt() / bias_correction2_sqrt).add_(eps)
        else:
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)

        if is_complex:
            # The same real denominator scales the real and imaginary parts.
            denom = denom.unsqueeze(-1)
        param.addcdiv_(exp_avg, denom, value=-step_size)


def _multi_tensor_cadam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    state_steps: list[Tensor],
    *,
    amsgrad: bool,
    beta1: float,
    beta2: float,
    lr: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> None:
    if not params:
        return
    maxes: list[Tensor | None] = list(max_exp_avg_sqs) if amsgrad else [None] * len(params)
    buckets = bucket_by_device_and_dtype([params, grads, exp_avgs, exp_avg_sqs, maxes, state_steps])
    for (_, dtype), bucket in buckets.items():
        d_params, d_grads, d_exp_avgs, d_exp_avg_sqs, d_maxes, d_steps, _ = bucket
        is_complex = dtype.is_complex

        if maximize:
            d_grads = torch._foreach_neg(d_grads)

        # A CPU step counter would otherwise wrap the scalar 1 into a tensor per entry.
        if d_steps[0].is_cpu:
            torch._foreach_add_(d_steps, torch.tensor(1.0, device="cpu"), alpha=1.0)
        else:
            torch._foreach_add_(d_steps, 1)

        if weight_decay != 0:
            if decoupled_weight_decay:
                torch._foreach_mul_(d_params, 1 - lr * weight_decay)
            elif maximize:
                torch._foreach_add_(d_grads, d_params, alpha=weight_decay)
            else:
                d_grads = torch._foreach_add(d_grads, d_params, alpha=weight_decay)

        torch._foreach_mul_(d_exp_avg_sqs, beta2)
        if is_complex:
            re = [g.real for g in d_grads]
            im = [g.imag for g in d_grads]
            torch._foreach_addcmul_(d_exp_avg_sqs, re, re, 1 - beta2)
            torch._foreach_addcmul_(d_exp_avg_sqs, im, im, 1 - beta2)
            del re, im
            d_params = [torch.view_as_real(p) for p in d_params]
            d_exp_avgs = [torch.view_as_real(m) for m in d_exp_avgs]
            d_grads = [torch.view_as_real(g) for g in d_grads]
            torch._foreach_lerp_(d_exp_avgs, d_grads, 1 - beta1)
        else:
            torch._foreach_lerp_(d_exp_avgs, d_grads, 1 - beta1)
            torch._foreach_addcmul_(d_exp_avg_sqs, d_grads, d_grads, 1 - beta2)
        del d_grads

        bias_correction1 = [1 - beta1 ** step.item() for step in d_steps]
        bias_correction2 = [1 - beta2 ** step.item() for step in d_steps]
        step_size = [(lr / bc) * -1 for bc in bias_correction1]
        bias_correction2_sqrt = [bc**0.5 for bc in bias_correction2]
        if is_complex:
            bias_correction2_sqrt = [bc * _SQRT2 for bc in bias_correction2_sqrt]

        if amsgrad:
            torch._foreach_maximum_(d_maxes, d_exp_avg_sqs)
            denom = torch._foreach_sqrt(d_maxes)
        else:
            denom = torch._foreach_sqrt(d_exp_avg_sqs)
        torch._foreach_div_(denom, bias_correction2_sqrt)
        torch._foreach_add_(denom, eps)
        if is_complex:
            denom = [d.unsqueeze(-1) for d in denom]
        torch._foreach_addcdiv_(d_params, d_exp_avgs, denom, step_size)
