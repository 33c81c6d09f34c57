"""Training behaviour of tiny codecs on CPU: overfitting one signal, codebook usage after
dead-code restarts, and reconstruction error against the number of stages.

Budgets are test-sized: the quick overfit check asserts a clear gain after 80 steps; reaching
15 dB SI-SDR takes far longer and is marked ``slow``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _support import one_torch_thread

from cplxcodec.analysis import codebook_usage
from cplxcodec.analysis.metrics import si_sdr
from cplxcodec.losses import ComplexSpectralLoss
from cplxcodec.models import CodecConfig, ComplexCodec
from cplxcodec.optim import CAdam
from cplxcodec.signals import chirp, harmonic_tone, noise, speech_like


def overfit_config(**overrides) -> CodecConfig:
    """About 0.4 M real parameters; overcomplete first levels (8 ch × 64 bins, 16 × 32), no
    attention, 4 stages of 256 codes (more codes than the 201 frames of a 2 s signal)."""
    base = dict(
        name="tiny-overfit", channels=(8, 16), freq_strides=(4, 2), res_blocks=1, dilations=(1,),
        attn_layers=0, attn_heads=2, latent_dim=64, n_stages=4, codebook_size=256,
        quantizer_dropout=0.0, ema_decay=0.9,
    )  # fmt: skip
    return CodecConfig(**{**base, **overrides})


def _batch(signals: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(signals)).unsqueeze(1)


def _neg_si_sdr(ref: torch.Tensor, est: torch.Tensor) -> torch.Tensor:
    """Mean negative SI-SDR (dB) over the batch of ``(B, 1, T)`` waveforms."""
    ref, est = ref.flatten(1), est.flatten(1)
    scale = (ref * est).sum(-1, keepdim=True) / ref.square().sum(-1, keepdim=True).clamp_min(1e-8)
    target = scale * ref
    ratio = target.square().sum(-1) / (est - target).square().sum(-1).clamp_min(1e-8)
    return -10 * torch.log10(ratio.clamp_min(1e-8)).mean()


def _train(model: ComplexCodec, wav: torch.Tensor, steps: int, lr: float) -> list[float]:
    """-SI-SDR + normalised complex spectral loss + commitment, CAdam, full batch.

    Runs on one intra-op thread (restored afterwards): on the shared 2-core machine that is
    5-10x faster than two contending threads (measured 17 s against 97-164 s for 80 steps).
    """
    spectral = ComplexSpectralLoss()
    opt = CAdam(model.parameters(), lr=lr)
    model.train()
    history: list[float] = []
    with one_torch_thread():
        _steps(model, wav, steps, spectral, opt, history)
    return history


def _steps(model, wav, steps, spectral, opt, history) -> None:
    for _ in range(steps):
        out = model(wav)
        norm = spectral(out.spec, torch.zeros_like(out.spec)).detach()
        loss = (
            _neg_si_sdr(wav, out.wav)
            + spectral(out.spec, out.spec_hat) / norm
            + 0.25 * out.commit_loss
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))


def _eval_si_sdr(model: ComplexCodec, wav: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        y = model(wav).wav  # all stages, eval-mode quantizer
    return si_sdr(wav[0, 0].numpy(), y[0, 0].numpy())


# ------------------------------------------------------------------------------ overfitting
@pytest.fixture(scope="module")
def trained() -> tuple[ComplexCodec, torch.Tensor, float, list[float]]:
    """The tiny model after 80 CAdam steps (lr 5e-3) on 2 s of speech-like audio."""
    torch.manual_seed(0)
    wav = _batch([speech_like(2.0)])
    model = ComplexCodec(overfit_config())
    before = _eval_si_sdr(model, wav)
    history = _train(model, wav, steps=80, lr=5e-3)
    return model.eval(), wav, before, history


def test_tiny_model_learns_one_signal_quickly(trained) -> None:
    """From about -45 dB to above -5 dB SI-SDR (measured: -0.2 dB) in 80 steps."""
    model, wav, before, history = trained
    after = _eval_si_sdr(model, wav)
    assert np.isfinite(history).all()
    assert after > -5.0, (before, after)
    assert after > before + 10.0, (before, after)
    assert np.mean(history[-10:]) < np.mean(history[:10])


@pytest.mark.slow
def test_tiny_model_overfits_one_signal_to_15_db() -> None:
    """The issue's bar: SI-SDR above 15 dB on the training signal, all stages, eval mode."""
    wav = _batch([speech_like(2.0)])
    model = ComplexCodec(overfit_config())
    _train(model, wav, steps=1500, lr=5e-3)
    after = _eval_si_sdr(model, wav)
    assert after > 15.0, after


# ------------------------------------------------------------------------------ codebook usage
def _varied(batch: int, seed: int, seconds: float = 0.5) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(batch):
        kind = (seed + i) % 4
        if kind == 0:
            x = speech_like(seconds, seed=int(rng.integers(1 << 30)))
        elif kind == 1:
            lo, hi = sorted(rng.uniform(50, 7500, size=2))
            x = chirp(seconds, f0=lo, f1=hi)
        elif kind == 2:
            x = noise(seconds, seed=int(rng.integers(1 << 30)), level=float(rng.uniform(0.02, 0.3)))
        else:
            x = harmonic_tone(seconds, f0=float(rng.uniform(80, 600)))
        out.append(x * np.float32(rng.uniform(0.3, 1.0)))
    return _batch(out)


def test_every_stage_uses_most_codes_on_varied_input() -> None:
    """Quantizer-only training (EMA, k-means init, dead-code restarts) on chirps, noise, tones
    and speech-like signals; then, in eval mode on held-out signals, every stage uses ≥ 90% of
    its 32 codes."""
    cfg = overfit_config(
        channels=(4, 8), freq_strides=(8, 4), latent_dim=8, codebook_size=32, n_stages=4,
        ema_decay=0.8, quantizer_dropout=0.5,
    )  # fmt: skip
    model = ComplexCodec(cfg)
    model.quantizer.train()
    with torch.no_grad():
        for step in range(12):
            wav = _varied(8, seed=step)
            model.quantizer(model.encode_latent(model.analysis(wav)))
    model.eval()
    held_out = _varied(16, seed=1000)  # 16 × 51 frames, about 25 per code
    codes = model.encode(held_out, cfg.kbps(cfg.n_stages), beam=1)  # as forward() searches
    usage = codebook_usage(codes, cfg.codebook_size)
    assert usage.usage_fraction.shape == (cfg.n_stages,)
    assert (usage.usage_fraction >= 0.9).all(), usage.usage_fraction
    assert not usage.collapsed.any()
    # the quantizer's own batch statistics agree
    with torch.no_grad():
        stats = model(held_out).usage
    np.testing.assert_allclose(stats.numpy(), usage.usage_fraction, rtol=1e-6)


# ------------------------------------------------------------------------------ stages
def test_reconstruction_error_does_not_grow_with_stages(trained) -> None:
    """Every prefix of the stages decodes the trained model's signal; the latent error falls
    strictly with each stage, and the decoded SI-SDR with all stages beats one stage and never
    drops by more than 0.5 dB when a stage is added (the decoder was trained on all stages only,
    so later stages refine little: measured -0.43, -0.29, -0.24, -0.25 dB)."""
    model, wav, _, _ = trained
    with torch.no_grad():
        z = model.encode_latent(model.analysis(wav))
    codes = model.quantizer.encode(z)
    latent_err, scores = [], []
    for k in range(1, model.n_stages + 1):
        zq = model.quantizer.decode(codes[:, :k])
        latent_err.append(float((z - zq).abs().square().mean()))
        y = model.decode(codes[:, :k], length=wav.shape[-1])
        assert y.shape == wav.shape and torch.isfinite(y).all()
        scores.append(si_sdr(wav[0, 0].numpy(), y[0, 0].numpy()))
    assert all(b < a for a, b in zip(latent_err, latent_err[1:])), latent_err
    assert scores[-1] > scores[0], scores
    assert all(b > a - 0.5 for a, b in zip(scores, scores[1:])), scores
