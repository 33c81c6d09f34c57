"""2×2 whitening normalisation: identity covariance, running stats, degenerate input, references."""

from __future__ import annotations

import math

import pytest
import torch
from complexPyTorch.complexLayers import ComplexBatchNorm2d as RefBN2d

from cplxcodec.functional import covariance_2x2, inv_sqrt_2x2
from cplxcodec.layers import (
    ComplexBatchNorm1d,
    ComplexBatchNorm2d,
    ComplexGroupNorm,
    ComplexLayerNorm,
    ComplexRMSNorm,
)


def _improper(shape, seed=0):
    """Correlated, unequal-variance real/imag parts with an offset (an improper signal)."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(shape, generator=g)
    b = torch.randn(shape, generator=g)
    return torch.complex(3 * a + 1.0, 0.5 * a + 0.2 * b - 2.0)


def _cov(y, dims):
    _, vrr, vri, vii = covariance_2x2(y, dims)
    return vrr, vri, vii


def _no_affine(m):
    with torch.no_grad():
        m.weight[0].fill_(1.0)
        m.weight[1].zero_()
        m.weight[2].fill_(1.0)
    return m


def test_inv_sqrt_closed_form_matches_eigendecomposition():
    vrr, vri, vii = torch.tensor(2.0), torch.tensor(0.7), torch.tensor(1.3)
    w = torch.stack(
        [
            torch.stack(list(inv_sqrt_2x2(vrr, vri, vii, eps=0.0))[:2]),
            torch.stack(list(inv_sqrt_2x2(vrr, vri, vii, eps=0.0))[1:]),
        ]
    )
    v = torch.tensor([[2.0, 0.7], [0.7, 1.3]])
    evals, evecs = torch.linalg.eigh(v)
    ref = evecs @ torch.diag(evals.rsqrt()) @ evecs.T
    torch.testing.assert_close(w, ref)


@pytest.mark.parametrize(
    "cls,shape", [(ComplexBatchNorm2d, (16, 3, 10, 12)), (ComplexBatchNorm1d, (64, 3, 20))]
)
def test_batchnorm_whitens_in_train_and_eval(cls, shape):
    bn = _no_affine(cls(3, momentum=None))
    x = _improper(shape)
    dims = [0, *range(2, x.dim())]
    y = bn(x)
    vrr, vri, vii = _cov(y, dims)
    torch.testing.assert_close(vrr.flatten(), torch.ones(3), atol=1e-3, rtol=0)
    torch.testing.assert_close(vri.flatten(), torch.zeros(3), atol=1e-3, rtol=0)
    torch.testing.assert_close(vii.flatten(), torch.ones(3), atol=1e-3, rtol=0)
    assert y.mean(dim=dims).abs().max() < 1e-4
    for seed in range(1, 6):
        bn(_improper(shape, seed=seed))
    # true covariance of _improper: Vrr = 9, Vri = 1.5, Vii = 0.25 + 0.04
    true = torch.tensor([9.0, 1.5, 0.29]).view(3, 1).expand(3, 3)
    torch.testing.assert_close(bn.running_covar, true, rtol=0.06, atol=0)
    bn.eval()
    y = bn(_improper(shape, seed=7))
    vrr, vri, vii = _cov(y, dims)
    torch.testing.assert_close(vrr.flatten(), torch.ones(3), atol=0.15, rtol=0)
    torch.testing.assert_close(vri.flatten(), torch.zeros(3), atol=0.15, rtol=0)
    torch.testing.assert_close(vii.flatten(), torch.ones(3), atol=0.15, rtol=0)


def test_batchnorm_default_affine_gives_unit_power():
    bn = ComplexBatchNorm2d(2)
    y = bn(_improper((8, 2, 16, 16)))
    assert bn.weight[0, 0].item() == pytest.approx(1 / math.sqrt(2))
    assert y.abs().square().mean().item() == pytest.approx(1.0, abs=0.01)


def test_batchnorm_momentum_and_state_dict():
    bn = ComplexBatchNorm2d(2, momentum=0.5)
    x = _improper((4, 2, 5, 5))
    bn(x)
    mean = x.mean(dim=(0, 2, 3))
    torch.testing.assert_close(bn.running_mean, 0.5 * mean)
    assert int(bn.num_batches_tracked) == 1
    bn2 = ComplexBatchNorm2d(2)
    bn2.load_state_dict(bn.state_dict())
    bn.eval(), bn2.eval()
    torch.testing.assert_close(bn(x), bn2(x))


def test_batchnorm_agrees_with_complexpytorch():
    """complexPyTorch starts γ at √2 (ours 1/√2) and stores weight as (C, [rr, ii, ri])."""
    ref, ours = RefBN2d(3), ComplexBatchNorm2d(3)
    with torch.no_grad():
        ref.weight.copy_(torch.randn(3, 3))
        ref.bias.copy_(torch.randn(3, 2))
        ours.weight.copy_(torch.stack([ref.weight[:, 0], ref.weight[:, 2], ref.weight[:, 1]]))
        ours.bias.copy_(torch.complex(ref.bias[:, 0], ref.bias[:, 1]))
    x = _improper((8, 3, 6, 7))
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    # default initialisations differ by exactly a factor 2 in the output (√2 vs 1/√2)
    torch.testing.assert_close(ComplexBatchNorm2d(3)(x) * 2, RefBN2d(3)(x), rtol=1e-4, atol=1e-4)


def test_layer_and_group_norm_whiten_per_sample():
    x = torch.stack([_improper((4, 6, 5), seed=s) * (s + 1) for s in range(3)])  # (3, 4, 6, 5)
    y = _no_affine(ComplexLayerNorm([4, 6, 5]))(x)
    vrr, vri, vii = _cov(y, (1, 2, 3))
    torch.testing.assert_close(vrr.flatten(), torch.ones(3), atol=1e-3, rtol=0)
    torch.testing.assert_close(vri.flatten(), torch.zeros(3), atol=1e-3, rtol=0)
    gn = _no_affine(ComplexGroupNorm(2, 4))
    y = gn(x).reshape(3, 2, -1)
    vrr, vri, vii = _cov(y, (2,))
    torch.testing.assert_close(vii.flatten(), torch.ones(6), atol=1e-3, rtol=0)
    torch.testing.assert_close(vri.flatten(), torch.zeros(6), atol=1e-3, rtol=0)


def test_rmsnorm_preserves_phase():
    x = _improper((2, 3, 8))
    y = ComplexRMSNorm(8)(x)
    torch.testing.assert_close(torch.angle(y), torch.angle(x), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.abs().square().mean(-1), torch.ones(2, 3), atol=1e-4, rtol=0)


NORMS = [
    lambda: ComplexBatchNorm2d(2),
    lambda: ComplexBatchNorm1d(2),
    lambda: ComplexLayerNorm(5),
    lambda: ComplexGroupNorm(1, 2),
    lambda: ComplexRMSNorm(5),
]


@pytest.mark.parametrize("make", NORMS)
@pytest.mark.parametrize("kind", ["zeros", "constant", "real", "imag_only_constant_real"])
def test_degenerate_input_gives_finite_output_and_grads(make, kind):
    norm = make()
    shape = (3, 2, 4, 5) if isinstance(norm, ComplexBatchNorm2d) else (3, 2, 5)
    if kind == "zeros":
        x = torch.zeros(shape, dtype=torch.cfloat)
    elif kind == "constant":
        x = torch.full(shape, 2 - 1j, dtype=torch.cfloat)
    elif kind == "real":
        x = torch.complex(torch.randn(shape), torch.zeros(shape))
    else:
        x = torch.complex(torch.ones(shape), torch.randn(shape))
    x.requires_grad_()
    y = norm(x)
    y.abs().sum().backward()
    assert torch.isfinite(torch.view_as_real(y)).all()
    assert torch.isfinite(torch.view_as_real(x.grad)).all()
    norm.eval()
    assert torch.isfinite(torch.view_as_real(norm(x.detach()))).all()


def _double(m):
    for p in m.parameters():
        p.data = p.data.to(torch.complex128 if p.is_complex() else torch.float64)
    for name, b in m.named_buffers():
        if b.is_floating_point() or b.is_complex():
            setattr(m, name, b.to(torch.complex128 if b.is_complex() else torch.float64))
    return m


@pytest.mark.parametrize("make", NORMS)
def test_gradcheck_complex128(make):
    norm = _double(make())
    with torch.no_grad():
        for p in norm.parameters():
            p.add_(0.1 * torch.randn_like(p))
    shape = (3, 2, 3, 5) if isinstance(norm, ComplexBatchNorm2d) else (3, 2, 5)
    x = _improper(shape).to(torch.cdouble).requires_grad_()
    norm.track_running_stats = False if hasattr(norm, "track_running_stats") else None
    assert torch.autograd.gradcheck(norm, (x,))


def test_norm_errors():
    with pytest.raises(TypeError, match="complex"):
        ComplexBatchNorm2d(2)(torch.randn(2, 2, 3, 3))
    with pytest.raises(ValueError, match="channels"):
        ComplexBatchNorm2d(2)(torch.randn(2, 3, 3, 3, dtype=torch.cfloat))
    with pytest.raises(ValueError, match="more than one value"):
        ComplexBatchNorm1d(2)(torch.randn(1, 2, dtype=torch.cfloat))
    with pytest.raises(ValueError, match="divisible"):
        ComplexGroupNorm(3, 4)
    with pytest.raises(ValueError, match="trailing shape"):
        ComplexLayerNorm(4)(torch.randn(2, 5, dtype=torch.cfloat))
