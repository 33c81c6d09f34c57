"""CAdam / CAdamW: maths of the complex step, torch parity on real params, phase equivariance."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cplxcodec.optim import CAdam, CAdamW


def _loss(a: torch.Tensor, b: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    # Non-quadratic so that second moments vary along the trajectory.
    return (a @ z - b).abs().pow(2).mean() + 0.1 * z.abs().pow(4).sum()


def _data(dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(16, 6, dtype=dtype, generator=g),
        torch.randn(16, dtype=dtype, generator=g),
        torch.randn(6, dtype=dtype, generator=g),
    )


@pytest.mark.parametrize("foreach", [False, True])
def test_first_step_matches_closed_form(foreach: bool) -> None:
    # After one step m_hat = g, v_hat = |g|^2, so dz = -lr * g / (|g| / sqrt(2) + eps)
    # with g = 2 dL/d(conj z) = 2 A^H (A z - b) / n for L = mean |A z - b|^2.
    a, b, z0 = _data(torch.complex128)
    z = torch.nn.Parameter(z0.clone())
    lr, eps, beta2 = 0.01, 1e-3, 0.99
    opt = CAdam([z], lr=lr, eps=eps, betas=(0.9, beta2), foreach=foreach)
    (a @ z - b).abs().pow(2).mean().backward()
    opt.step()
    g = 2 * a.conj().T @ (a @ z0 - b) / a.shape[0]
    expected = z0 - lr * g / (g.abs() / math.sqrt(2) + eps)
    torch.testing.assert_close(z.detach(), expected, rtol=1e-12, atol=1e-14)
    # The second moment is one real number per complex entry: (1 - beta2) |g|^2.
    v = opt.state[z]["exp_avg_sq"]
    assert v.dtype == torch.float64 and v.shape == z.shape
    torch.testing.assert_close(v, (1 - beta2) * g.abs().pow(2), rtol=1e-12, atol=0)


def _trajectory(
    opt_cls: type[torch.optim.Optimizer], theta: float, steps: int = 30, **kwargs: object
) -> list[torch.Tensor]:
    """Optimize L_theta(z) = L(e^{-i theta} z) from e^{i theta} z0; return the iterates."""
    a, b, z0 = _data(torch.complex128)
    rot = complex(math.cos(theta), math.sin(theta))
    z = torch.nn.Parameter(z0 * rot)
    w = torch.nn.Parameter(torch.full((2,), 0.5, dtype=torch.float64))  # real, rotation-free
    opt = opt_cls([z, w], lr=0.05, **kwargs)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = _loss(a, b, z / rot) + (w.pow(2).sum() - 1) ** 2 * (z / rot)[0].abs()
        loss.backward()
        opt.step()
        out.append(z.detach() / rot)
    return out


def _max_rel_dev(x: list[torch.Tensor], y: list[torch.Tensor]) -> float:
    return max(((p - q).abs().max() / q.abs().max()).item() for p, q in zip(x, y))


@settings(max_examples=5, deadline=None)
@given(theta=st.floats(0.15, 1.42), amsgrad=st.booleans(), foreach=st.booleans())
def test_cadam_trajectory_rotates_with_phase_but_torch_adam_does_not(
    theta: float, amsgrad: bool, foreach: bool
) -> None:
    # theta stays away from multiples of pi/2, which merely permute/negate Re and Im and
    # therefore leave torch.optim.Adam equivariant too.
    kw = {"amsgrad": amsgrad, "foreach": foreach, "weight_decay": 0.01}
    ours = _max_rel_dev(_trajectory(CAdam, theta, **kw), _trajectory(CAdam, 0.0, **kw))
    theirs = _max_rel_dev(
        _trajectory(torch.optim.Adam, theta, **kw), _trajectory(torch.optim.Adam, 0.0, **kw)
    )
    assert ours < 1e-10, f"CAdam trajectory not rotation-equivariant: {ours:.2e}"
    assert theirs > 1e-3, f"torch.optim.Adam unexpectedly equivariant: {theirs:.2e}"


def test_cadamw_trajectory_rotates_in_complex64() -> None:
    dev = _max_rel_dev(_trajectory(CAdamW, 0.9, foreach=True), _trajectory(CAdamW, 0.0))
    assert dev < 1e-9  # complex128; the single-precision version is checked below
    a, b, z0 = _data(torch.complex64)
    rot = complex(math.cos(0.9), math.sin(0.9))
    finals = []
    for r in (1.0, rot):
        z = torch.nn.Parameter(z0 * r)
        opt = CAdamW([z], lr=0.05, weight_decay=0.1)
        for _ in range(40):
            opt.zero_grad()
            _loss(a, b, z / r).backward()
            opt.step()
        finals.append(z.detach() / r)
    torch.testing.assert_close(finals[1], finals[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize(
    ("ours", "ref", "kwargs"),
    [
        (CAdam, torch.optim.Adam, {}),
        (CAdam, torch.optim.Adam, {"amsgrad": True, "weight_decay": 0.1}),
        (CAdam, torch.optim.Adam, {"maximize": True, "weight_decay": 0.1, "eps": 1e-3}),
        (CAdam, torch.optim.Adam, {"decoupled_weight_decay": True, "weight_decay": 0.1}),
        (CAdamW, torch.optim.AdamW, {}),
        (CAdamW, torch.optim.AdamW, {"amsgrad": True, "betas": (0.8, 0.95)}),
    ],
)
def test_real_params_match_torch_bitwise(ours: type, ref: type, foreach: bool,
                                         kwargs: dict) -> None:
    a, b, z0 = _data(torch.float32)
    sign = -1.0 if kwargs.get("maximize") else 1.0
    results = []
    for cls in (ours, ref):
        z = torch.nn.Parameter(z0.clone())
        s = torch.nn.Parameter(torch.ones(2, 3))
        opt = cls([z, s], lr=0.03, foreach=foreach, **kwargs)
        for _ in range(25):
            opt.zero_grad()
            (sign * (_loss(a, b, z) + (s @ z[:3]).pow(2).sum())).backward()
            opt.step()
        results.append([z.detach().clone(), s.detach().clone()])
        results[-1] += [opt.state[z]["exp_avg"], opt.state[z]["exp_avg_sq"]]
    for x, y in zip(*results):
        assert torch.equal(x, y)  # bitwise, not merely close


@pytest.mark.parametrize("amsgrad", [False, True])
def test_foreach_and_per_tensor_paths_agree_on_complex(amsgrad: bool) -> None:
    a, b, z0 = _data(torch.complex64)
    finals = []
    for foreach in (False, True):
        z = torch.nn.Parameter(z0.clone())
        u = torch.nn.Parameter(torch.ones(2, 3, dtype=torch.complex64))
        opt = CAdamW([z, u], lr=0.03, amsgrad=amsgrad, foreach=foreach)
        for _ in range(20):
            opt.zero_grad()
            (_loss(a, b, z) + (u @ z[:3]).abs().pow(2).sum()).backward()
            opt.step()
        finals.append(torch.cat([z.detach(), u.detach().flatten()]))
    torch.testing.assert_close(finals[0], finals[1], rtol=1e-6, atol=1e-7)


def test_unsupported_options_raise_clearly() -> None:
    p = [torch.nn.Parameter(torch.zeros(2, dtype=torch.cfloat))]
    for option in ("capturable", "differentiable", "fused"):
        with pytest.raises(NotImplementedError, match=option):
            CAdam(p, **{option: True})
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        CAdam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="1-element"):
        CAdam(p, lr=torch.tensor([1e-3, 1e-3]))
    q = torch.nn.Parameter(torch.zeros(4, 2))
    q.grad = torch.zeros(4, 2).to_sparse()
    with pytest.raises(RuntimeError, match="sparse"):
        CAdam([q]).step()


def test_tensor_lr_is_read_as_float() -> None:
    a, b, z0 = _data(torch.complex64)
    finals = []
    for lr in (0.01, torch.tensor(0.01)):
        z = torch.nn.Parameter(z0.clone())
        opt = CAdam([z], lr=lr)
        _loss(a, b, z).backward()
        opt.step()
        finals.append(z.detach())
    assert torch.equal(finals[0], finals[1])


@pytest.mark.parametrize("foreach", [False, True])
def test_real_params_in_a_mixed_group_still_match_torch(foreach: bool) -> None:
    # Decoupled losses: the real tensors' trajectories must not depend on the complex tensors
    # that share their group (bucketing by dtype must leave the real path untouched).
    a, b, z0 = _data(torch.complex64)
    ar, br, x0 = _data(torch.float32, seed=1)
    results = []
    for cls in (CAdamW, torch.optim.AdamW):
        z = torch.nn.Parameter(z0.clone())
        x = torch.nn.Parameter(x0.clone())
        y = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
        opt = cls([z, x, y], lr=0.03, amsgrad=True, foreach=foreach)
        for _ in range(20):
            opt.zero_grad()
            (_loss(a, b, z) + _loss(ar, br, x) + (y - 2).pow(4).sum()).backward()
            opt.step()
        results.append((x.detach().clone(), y.detach().clone()))
    for ours, ref in zip(*results):
        assert torch.equal(ours, ref)
