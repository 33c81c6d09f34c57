"""GAN-free reconstruction losses: zero for identical inputs, positive otherwise, known values,
weights from one place, and gradients reaching complex parameters."""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import pytest
import torch

from cplxcodec.losses import (
    CodecLoss,
    ComplexSpectralLoss,
    LossOutput,
    LossWeights,
    MelLoss,
    MultiResolutionSTFTLoss,
    time_l1,
)
from cplxcodec.models import CodecConfig, ComplexCodec
from cplxcodec.signals import chirp, noise, speech_like

TERMS = ("mrstft", "mel", "complex_spec", "time_l1", "commit")


def _wav(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).view(1, 1, -1)


@pytest.fixture
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    x = _wav(speech_like(0.5))
    return x, x + _wav(noise(0.5, seed=1, level=0.05))


def _spec(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 1, 16, 10, dtype=torch.complex64, generator=g)


# ------------------------------------------------------------------------------ time L1
def test_time_l1_value(pair) -> None:
    x, y = pair
    assert float(time_l1(x, x)) == 0.0
    expected = np.abs(x.numpy() - y.numpy()).mean()
    assert float(time_l1(x, y)) == pytest.approx(expected, rel=1e-6)
    assert float(time_l1(x, y)) == pytest.approx(float(time_l1(y, x)))


# ------------------------------------------------------------------------------ mel
def test_mel_loss_zero_for_identical_and_positive_otherwise(pair) -> None:
    x, y = pair
    mel = MelLoss(16000)
    assert float(mel(x, x)) == 0.0
    d = float(mel(x, y))
    assert d > 0.01
    assert d == pytest.approx(float(mel(y, x)), rel=1e-5)


def test_mel_loss_of_a_gain_is_its_log10() -> None:
    """Away from the floor, log-mel distance of x and g·x is |log10 g| in every bin."""
    x = _wav(noise(0.5, seed=2, level=0.3))
    mel = MelLoss(16000)
    assert float(mel(x, 2 * x)) == pytest.approx(math.log10(2), rel=2e-2)
    assert float(mel(x, 4 * x)) == pytest.approx(math.log10(4), rel=2e-2)


def test_mel_loss_differentiates_whichever_input_needs_it() -> None:
    """Each input is transformed on its own (the reference stays out of the backward pass):
    the gradient reaches the argument that requires it, in either position, and is the same."""
    x = _wav(speech_like(0.3, seed=1)).float()
    y = _wav(speech_like(0.3, seed=2)).float()
    mel = MelLoss(16000)
    gx = torch.autograd.grad(mel(x.requires_grad_(), y), x)[0]
    x2 = x.detach().requires_grad_()
    gx_second = torch.autograd.grad(mel(y, x2), x2)[0]
    assert gx.abs().sum() > 0 and torch.allclose(gx, gx_second, rtol=1e-5, atol=1e-9)
    # The graph holds no concatenation of the two inputs (whose backward would run the STFT of
    # the reference too).
    seen, todo = set(), [mel(x2, y).grad_fn]
    while todo:
        node = todo.pop()
        if node is not None and node not in seen:
            seen.add(node)
            todo += [n for n, _ in node.next_functions]
    names = {type(n).__name__ for n in seen}
    assert not any(name.startswith("Cat") for name in names), names


def test_mel_loss_accepts_batches_and_checks_its_arguments() -> None:
    x = torch.from_numpy(np.stack([chirp(0.3), speech_like(0.3)])).unsqueeze(1)
    assert float(MelLoss(16000)(x, x.flip(0))) > 0
    with pytest.raises(ValueError, match="same length"):
        MelLoss(16000, n_ffts=(256, 512), n_mels=(32,))


# ------------------------------------------------------------------------------ multi-resolution STFT
def test_mrstft_is_bitwise_auralosss_and_skips_the_phase(monkeypatch) -> None:
    import auraloss

    sizes = (256, 512, 1024, 2048)
    ref = auraloss.freq.MultiResolutionSTFTLoss(sizes, [n // 4 for n in sizes], sizes)
    x = torch.from_numpy(np.stack([speech_like(0.5, seed=s) for s in (1, 2)]))[:, None]
    est = (x + 0.05 * torch.from_numpy(noise(0.5, seed=3))).requires_grad_()
    expected = ref(est, x)
    (g_ref,) = torch.autograd.grad(expected, est)
    calls = []
    monkeypatch.setattr(torch, "angle", lambda *a, **k: calls.append(1))  # must not be needed
    got = MultiResolutionSTFTLoss(sizes)(est, x)
    (g_got,) = torch.autograd.grad(got, est)
    assert torch.equal(got, expected) and torch.equal(g_got, g_ref) and not calls
    assert float(MultiResolutionSTFTLoss()(x, x)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="fft_sizes"):
        MultiResolutionSTFTLoss(())


# ------------------------------------------------------------------------------ complex spectral
def test_complex_spectral_loss_value() -> None:
    s, t = _spec(0), _spec(1)
    loss = ComplexSpectralLoss()
    assert float(loss(s, s)) == 0.0
    expected = ((s - t).abs() ** 2).mean() + ((s.abs() - t.abs()) ** 2).mean()
    assert float(loss(s, t)) == pytest.approx(float(expected), rel=1e-5)
    only_complex = ComplexSpectralLoss(magnitude_weight=0.0)
    assert float(only_complex(s, t)) == pytest.approx(float(((s - t).abs() ** 2).mean()), rel=1e-5)


def test_complex_spectral_loss_sees_phase_errors() -> None:
    """A pure phase rotation leaves magnitudes alone but costs mean |S|²·|1 - e^{iθ}|²."""
    s = _spec(3)
    theta = 0.5
    rotated = s * torch.polar(torch.tensor(1.0), torch.tensor(theta))
    loss = ComplexSpectralLoss()
    expected = float((s.abs() ** 2).mean()) * abs(1 - np.exp(1j * theta)) ** 2
    assert float(loss(s, rotated)) == pytest.approx(expected, rel=1e-4)


def test_complex_spectral_loss_rejects_real_spectra() -> None:
    with pytest.raises(TypeError, match="complex"):
        ComplexSpectralLoss()(_spec().abs(), _spec().abs())


def test_complex_spectral_loss_gradient_reaches_a_complex_leaf() -> None:
    s = _spec(0)
    est = _spec(1).requires_grad_()
    ComplexSpectralLoss(magnitude_weight=0.0)(s, est).backward()
    # d/d conj(est) of mean |s - est|² is (est - s)/M; autograd stores twice that
    expected = 2 * (est.detach() - s) / s.numel()
    torch.testing.assert_close(est.grad, expected, rtol=1e-4, atol=1e-7)


# ------------------------------------------------------------------------------ codec loss
def test_loss_weights_from_dict_and_defaults() -> None:
    w = LossWeights(**{"mel": 3.0, "commit": 0.0})
    assert w.mel == 3.0 and w.commit == 0.0 and w.mrstft == LossWeights().mrstft
    loss = CodecLoss(16000, weights={"mel": 3.0, "time_l1": 0.0})
    assert isinstance(loss.weights, LossWeights)
    assert loss.weights.mel == 3.0 and loss.weights.time_l1 == 0.0
    assert set(asdict(LossWeights())) == set(TERMS) | {"stoi"}
    with pytest.raises(TypeError, match="unexpected keyword"):
        CodecLoss(16000, weights={"gan": 1.0})


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "1", True])
def test_loss_weights_refuse_negative_or_non_numbers(bad) -> None:
    with pytest.raises(ValueError, match="loss weight 'mel'"):
        LossWeights(mel=bad)


def test_stoi_term_only_when_weighted(pair) -> None:
    """The 1 - STOI term is off by default (no term, no module) and, weighted, adds
    weight x (1 - STOI) to the total: 0 for identical audio, positive for a degraded copy."""
    x, _ = pair
    spec = _spec()
    zero = torch.tensor(0.0)
    plain = CodecLoss(16000)
    assert plain.stoi is None
    assert "stoi" not in plain(x, x.clone(), spec, spec.clone(), zero).terms
    weighted = CodecLoss(16000, weights={"stoi": 2.0})
    same = weighted(x, x.clone(), spec, spec.clone(), zero)
    assert float(same.terms["stoi"]) == pytest.approx(0.0, abs=1e-5)
    noisy = x + 0.3 * x.std() * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    a = plain(x, noisy, spec, spec.clone(), zero)
    b = weighted(x, noisy, spec, spec.clone(), zero)
    assert float(b.terms["stoi"]) > 0.01
    torch.testing.assert_close(b.total, a.total + 2.0 * b.terms["stoi"])


def test_codec_loss_terms_are_zero_for_identical_inputs(pair) -> None:
    x, _ = pair
    spec = _spec()
    out = CodecLoss(16000)(x, x.clone(), spec, spec.clone(), torch.tensor(0.0))
    assert isinstance(out, LossOutput) and set(out.terms) == set(TERMS)
    for name, value in out.terms.items():
        assert float(value) == pytest.approx(0.0, abs=1e-6), name
    assert float(out.total) == pytest.approx(0.0, abs=1e-6)


def test_codec_loss_terms_are_positive_for_different_inputs(pair) -> None:
    x, y = pair
    out = CodecLoss(16000)(x, y, _spec(0), _spec(1), torch.tensor(0.3))
    for name, value in out.terms.items():
        assert float(value) > 0, name
    assert float(out.total) > 0


def test_codec_loss_total_is_the_weighted_sum(pair) -> None:
    x, y = pair
    weights = LossWeights(mrstft=0.5, mel=1.5, complex_spec=2.0, time_l1=3.0, commit=0.1)
    out = CodecLoss(16000, weights=weights)(x, y, _spec(0), _spec(1), torch.tensor(0.3))
    expected = sum(getattr(weights, k) * float(v) for k, v in out.terms.items())
    assert float(out.total) == pytest.approx(expected, rel=1e-5)
    zero = CodecLoss(16000, weights={k: 0.0 for k in TERMS})
    assert float(zero(x, y, _spec(0), _spec(1), torch.tensor(0.3)).total) == 0.0


def test_codec_loss_is_finite_on_silence() -> None:
    silence = torch.zeros(1, 1, 8000)
    out = CodecLoss(16000)(silence, silence.clone(), _spec() * 0, _spec() * 0, torch.tensor(0.0))
    assert all(torch.isfinite(v) for v in out.terms.values())
    out = CodecLoss(16000)(silence, _wav(noise(0.5)), _spec() * 0, _spec(), torch.tensor(0.0))
    assert torch.isfinite(out.total)


def test_gradient_flows_to_every_complex_parameter() -> None:
    cfg = CodecConfig(
        channels=(4, 8), freq_strides=(8, 4), res_blocks=1, dilations=(1,), attn_layers=1,
        attn_heads=4, attn_window=8, latent_dim=8, n_stages=2, codebook_size=16,
        quantizer_dropout=0.0,
    )  # fmt: skip
    model = ComplexCodec(cfg).train()
    x = _wav(speech_like(0.5))
    out = model(x)
    CodecLoss(16000)(x, out.wav, out.spec, out.spec_hat, out.commit_loss).total.backward()
    complex_params = [(n, p) for n, p in model.named_parameters() if p.is_complex()]
    assert complex_params
    for name, p in complex_params:
        assert p.grad is not None and p.grad.dtype == p.dtype, name
        assert torch.isfinite(p.grad).all(), name
    nonzero = [n for n, p in complex_params if p.grad.abs().max() > 0]
    assert len(nonzero) >= 0.9 * len(complex_params), set(dict(complex_params)) - set(nonzero)
    assert any(p.grad.imag.abs().max() > 0 for _, p in complex_params)
