"""Activations, dropout and complex axial attention."""

from __future__ import annotations

import cmath

import pytest
import torch

from cplxcodec.layers import (
    Cardioid,
    ComplexAxialAttention,
    ComplexDropout,
    CReLU,
    ModReLU,
    ZReLU,
)


def test_activation_values():
    z = torch.tensor([3 + 4j, -1 + 1j, 1 - 1j, -2 - 2j], dtype=torch.cfloat)
    m = ModReLU(init=-1.0)(z)
    torch.testing.assert_close(m[0], torch.tensor(4 * (3 + 4j) / 5, dtype=torch.cfloat))
    assert m.abs()[1].item() == pytest.approx(2**0.5 - 1, rel=1e-5)  # |z| - 1 > 0: kept
    torch.testing.assert_close(CReLU()(z), torch.tensor([3 + 4j, 1j, 1, 0], dtype=torch.cfloat))
    torch.testing.assert_close(ZReLU()(z), torch.tensor([3 + 4j, 0, 0, 0], dtype=torch.cfloat))
    c = Cardioid()(z)
    for zi, ci in zip(z.tolist(), c.tolist()):
        expect = 0.5 * (1 + cmath.cos(cmath.phase(zi))) * zi
        assert abs(ci - expect) < 1e-5


def test_modrelu_threshold_and_phase():
    z = torch.polar(torch.tensor([0.5, 2.0]), torch.tensor([1.0, -2.0]))
    y = ModReLU(init=-1.0)(z)
    assert y[0] == 0
    assert y[1].abs().item() == pytest.approx(1.0, rel=1e-5)
    assert torch.angle(y[1]).item() == pytest.approx(-2.0, rel=1e-5)


def test_modrelu_per_channel():
    act = ModReLU(num_parameters=3, init=0.1)
    assert act(torch.randn(2, 3, 5, dtype=torch.cfloat)).shape == (2, 3, 5)
    with pytest.raises(ValueError, match="biases"):
        act(torch.randn(2, 4, 5, dtype=torch.cfloat))


def _double(m):
    for p in m.parameters():
        p.data = p.data.to(torch.complex128 if p.is_complex() else torch.float64)
    return m


@pytest.mark.parametrize(
    "act", [ModReLU(num_parameters=2, init=-0.3), CReLU(), ZReLU(), Cardioid()]
)
def test_activation_gradcheck(act):
    x = (torch.randn(2, 2, 3, dtype=torch.cdouble) + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(_double(act), (x,))


def test_dropout_shares_mask_and_scales():
    d = ComplexDropout(0.5)
    z = torch.full((10000,), 1 + 1j, dtype=torch.cfloat)
    y = d(z)
    zeroed = y == 0
    assert torch.equal(y.real == 0, y.imag == 0)
    assert 0.45 < zeroed.float().mean() < 0.55
    torch.testing.assert_close(y[~zeroed], torch.full_like(y[~zeroed], 2 + 2j))
    d.eval()
    assert torch.equal(d(z), z)
    with pytest.raises(ValueError):
        ComplexDropout(1.5)


def _attn_ref(x, attn):
    """Explicit complex attention: softmax(Re(Q K^H)/sqrt d) V, per head."""
    b, c, f, n = x.shape
    seq = (
        x.permute(0, 2, 3, 1).reshape(b * f, n, c)
        if attn.axis == "time"
        else x.permute(0, 3, 2, 1).reshape(b * n, f, c)
    )
    q, k, v = attn.qkv(seq).chunk(3, dim=-1)
    h, d = attn.heads, attn.head_dim
    q, k, v = (t.reshape(t.shape[0], t.shape[1], h, d).transpose(1, 2) for t in (q, k, v))
    scores = (q @ k.conj().transpose(-1, -2)).real / d**0.5
    if attn.causal:
        L = scores.shape[-1]
        scores = scores.masked_fill(torch.ones(L, L, dtype=torch.bool).triu(1), float("-inf"))
    w = scores.softmax(-1).to(v.dtype)
    o = (w @ v).transpose(1, 2).reshape(seq.shape)
    o = attn.out(o)
    return (
        o.view(b, f, n, c).permute(0, 3, 1, 2)
        if attn.axis == "time"
        else o.view(b, n, f, c).permute(0, 3, 2, 1)
    )


@pytest.mark.parametrize("axis", ["time", "freq"])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_explicit_formula(axis, causal):
    attn = ComplexAxialAttention(8, heads=2, axis=axis, causal=causal)
    x = torch.randn(2, 8, 5, 6, dtype=torch.cfloat)
    torch.testing.assert_close(attn(x), _attn_ref(x, attn), rtol=1e-4, atol=1e-5)


def test_attention_causal_never_sees_future():
    attn = ComplexAxialAttention(8, heads=2, axis="time", causal=True)
    x = torch.randn(1, 8, 4, 10, dtype=torch.cfloat)
    y = attn(x)
    x2 = x.clone()
    x2[..., 6:] = 10 * torch.randn_like(x2[..., 6:])
    torch.testing.assert_close(attn(x2)[..., :6], y[..., :6])
    assert not torch.allclose(attn(x2)[..., 6:], y[..., 6:])


@pytest.mark.parametrize("axis", ["time", "freq"])
def test_attention_permutation_equivariant(axis):
    attn = ComplexAxialAttention(8, heads=4, axis=axis)
    x = torch.randn(2, 8, 6, 7, dtype=torch.cfloat)
    dim = 3 if axis == "time" else 2
    perm = torch.randperm(x.shape[dim])
    torch.testing.assert_close(
        attn(x.index_select(dim, perm)), attn(x).index_select(dim, perm), rtol=1e-4, atol=1e-5
    )


def test_attention_phase_rotation_equivariant():
    attn = ComplexAxialAttention(8, heads=2, axis="freq")
    x = torch.randn(2, 8, 6, 7, dtype=torch.cfloat)
    rot = torch.polar(torch.tensor(1.0), torch.tensor(0.77))
    torch.testing.assert_close(attn(x * rot), attn(x) * rot, rtol=1e-4, atol=1e-5)
    biased = ComplexAxialAttention(8, heads=2, axis="freq", bias=True)
    with torch.no_grad():
        biased.qkv.bias.normal_()
    assert not torch.allclose(biased(x * rot), biased(x) * rot, atol=1e-3)


def test_attention_gradcheck_and_errors():
    attn = _double(ComplexAxialAttention(4, heads=2, axis="time", causal=True))
    x = torch.randn(1, 4, 2, 3, dtype=torch.cdouble, requires_grad=True)
    assert torch.autograd.gradcheck(attn, (x,))
    with pytest.raises(ValueError, match="divisible"):
        ComplexAxialAttention(6, heads=4)
    with pytest.raises(ValueError, match="axis"):
        ComplexAxialAttention(8, axis="space")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="complex"):
        ComplexAxialAttention(8)(torch.randn(1, 8, 2, 2))
    with pytest.raises(ValueError, match="shape"):
        ComplexAxialAttention(8)(torch.randn(8, 2, 2, dtype=torch.cfloat))
