"""CSGD: the step is -lr times the PyTorch gradient 2 dL/d(conj z), and real params match SGD."""

from __future__ import annotations

import pytest
import torch

from cplxcodec.optim import CSGD


def _problem(dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(12, 5, dtype=dtype, generator=g)
    b = torch.randn(12, dtype=dtype, generator=g)
    z0 = torch.randn(5, dtype=dtype, generator=g)
    return a, b, z0


@pytest.mark.parametrize("foreach", [False, True])
def test_step_is_minus_lr_times_twice_conjugate_wirtinger(foreach: bool) -> None:
    # L(z) = |A z - b|^2 + sum |z|^4 has dL/d(conj z) = A^H (A z - b) + 2 |z|^2 z (Wirtinger).
    a, b, z0 = _problem(torch.complex128)
    z = torch.nn.Parameter(z0.clone())
    opt = CSGD([z], lr=0.01, foreach=foreach)
    loss = (a @ z - b).abs().pow(2).sum() + z.abs().pow(4).sum()
    loss.backward()
    opt.step()
    dl_dzbar = a.conj().T @ (a @ z0 - b) + 2 * z0.abs().pow(2) * z0
    torch.testing.assert_close(z.detach(), z0 - 0.01 * 2 * dl_dzbar, rtol=1e-12, atol=1e-12)
    # And not the other plausible conventions (guards the factor of two and the conjugate).
    assert not torch.allclose(z.detach(), z0 - 0.01 * dl_dzbar)
    assert not torch.allclose(z.detach(), z0 - 0.02 * dl_dzbar.conj())


@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64])
@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": 0.05},
        {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
        {"lr": 0.05, "momentum": 0.5, "maximize": True},
    ],
)
def test_matches_torch_sgd_bitwise(dtype: torch.dtype, foreach: bool, kwargs: dict) -> None:
    # torch.optim.SGD already treats complex tensors as complex (every op is complex-linear),
    # so CSGD must reproduce it exactly for real and complex parameters alike.
    a, b, z0 = _problem(dtype)
    sign = -1.0 if kwargs.get("maximize") else 1.0
    results = []
    for cls in (CSGD, torch.optim.SGD):
        z = torch.nn.Parameter(z0.clone())
        w = torch.nn.Parameter(torch.ones(3, dtype=dtype))
        opt = cls([z, w], foreach=foreach, **kwargs)
        for _ in range(15):
            opt.zero_grad()
            loss = (a @ z - b).abs().pow(2).mean() + (w * z[:3]).abs().pow(2).sum()
            (sign * loss).backward()
            opt.step()
        results.append((z.detach().clone(), w.detach().clone()))
    for ours, ref in zip(*results):
        assert torch.equal(ours, ref)


def test_descends_on_complex_least_squares() -> None:
    a, b, z0 = _problem(torch.complex64)
    z = torch.nn.Parameter(torch.zeros(5, dtype=torch.complex64))
    opt = CSGD([z], lr=0.02, momentum=0.9)
    first = None
    for _ in range(100):
        opt.zero_grad()
        loss = (a @ z - b).abs().pow(2).mean()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    lstsq = torch.linalg.lstsq(a, b.unsqueeze(-1)).solution.squeeze(-1)
    optimum = (a @ lstsq - b).abs().pow(2).mean().item()
    assert loss.item() < optimum + 0.05 * (first - optimum)


def test_invalid_arguments() -> None:
    p = [torch.nn.Parameter(torch.zeros(2, dtype=torch.cfloat))]
    with pytest.raises(ValueError, match="Nesterov"):
        CSGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="learning rate"):
        CSGD(p, lr=-1.0)
    with pytest.raises(NotImplementedError, match="differentiable"):
        CSGD(p, lr=0.1, differentiable=True)
    with pytest.raises(NotImplementedError, match="fused"):
        CSGD(p, lr=0.1, fused=True)
