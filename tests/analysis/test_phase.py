"""Phase fidelity and Griffin-Lim on signals with known phase relations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import signal as sps

from cplxcodec.analysis import griffin_lim, octave_band_edges, phase_fidelity
from cplxcodec.analysis._signal import stft
from cplxcodec.signals import harmonic_tone, noise, speech_like

SR = 16000


def _harmonics(phases: np.ndarray, f0: float = 220.0, seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return sum(np.sin(2 * np.pi * f0 * h * t + p) / h for h, p in enumerate(phases, start=1))


def test_perfect_reconstruction_has_zero_phase_error() -> None:
    x = speech_like(1.5, SR)
    r = phase_fidelity(x, x.copy(), SR, griffin_lim_iters=8)
    c = r.codec
    assert c.phase_error == pytest.approx(0.0, abs=1e-12)
    assert c.phase_error_rad == pytest.approx(0.0, abs=1e-6)
    assert c.if_deviation_hz == pytest.approx(0.0, abs=1e-9)
    assert c.group_delay_deviation_ms == pytest.approx(0.0, abs=1e-9)
    assert c.magnitude_error == 0.0 and c.lag_samples == 0
    assert np.nanmax(c.band_phase_error) < 1e-12
    # magnitude-only reconstruction cannot recover the phase of speech
    assert r.griffin_lim is not None and r.griffin_lim.phase_error > 0.2


def test_phase_scrambled_harmonics_large_phase_error_tiny_magnitude_error() -> None:
    rng = np.random.default_rng(7)
    ref = _harmonics(np.zeros(10))
    scrambled = _harmonics(rng.uniform(0, 2 * np.pi, 10))
    r = phase_fidelity(ref, scrambled, SR, align_signals=False, griffin_lim_iters=0)
    assert r.codec.phase_error > 0.6
    assert r.codec.phase_error_rad > 1.0
    assert r.codec.magnitude_error < 0.1
    assert r.griffin_lim is None
    # even the best global shift cannot undo independent per-harmonic phase offsets
    aligned = phase_fidelity(ref, scrambled, SR, griffin_lim_iters=0)
    assert aligned.codec.phase_error > 0.3
    # the same magnitudes with the true phases score far better
    assert phase_fidelity(ref, ref * 1.01, SR, griffin_lim_iters=0).codec.phase_error < 1e-9


def test_alignment_removes_a_pure_delay() -> None:
    x = speech_like(1.5, SR, seed=2).astype(np.float64)
    delayed = np.concatenate([np.zeros(37), x])[: x.size]
    r = phase_fidelity(x, delayed, SR, griffin_lim_iters=0)
    assert r.codec.lag_samples == 37
    assert r.codec.phase_error < 1e-6
    raw = phase_fidelity(x, delayed, SR, align_signals=False, griffin_lim_iters=0)
    assert raw.codec.phase_error > 0.5
    assert raw.codec.group_delay_deviation_ms > 1.0


def test_polarity_inversion_is_maximal_phase_error() -> None:
    x = harmonic_tone(1.0, SR)
    r = phase_fidelity(x, -x, SR, align_signals=False, griffin_lim_iters=0)
    assert r.codec.phase_error == pytest.approx(2.0, abs=1e-9)


def test_per_band_error_localises_high_frequency_noise() -> None:
    x = speech_like(1.5, SR, seed=1).astype(np.float64)
    b, a = sps.butter(8, 4000, btype="highpass", fs=SR)
    hf_noise = sps.lfilter(b, a, noise(1.5, SR, seed=3, level=0.05))
    r = phase_fidelity(x, x + hf_noise, SR, griffin_lim_iters=0)
    edges = r.band_edges_hz
    assert edges.tolist() == octave_band_edges(SR).tolist()
    assert len(r.codec.band_phase_error) == len(edges) - 1
    low = r.codec.band_phase_error[(edges[1:] <= 1000)]
    assert np.nanmax(low) < 0.01
    assert r.codec.band_phase_error[-1] > 10 * np.nanmax(low)
    assert r.codec.band_if_deviation_hz[-1] > r.codec.band_if_deviation_hz[2]


def test_custom_bands_and_griffin_lim_anchor_reported() -> None:
    x = speech_like(1.0, SR, seed=4)
    r = phase_fidelity(x, x, SR, band_edges_hz=[0, 1000, 8000], griffin_lim_iters=4, n_fft=256)
    assert r.n_fft == 256 and r.hop_length == 64
    assert r.codec.band_phase_error.shape == (2,)
    assert r.griffin_lim is not None and r.griffin_lim.band_phase_error.shape == (2,)
    assert r.freqs_hz.shape == (129,)
    d = r.to_dict()
    assert d["griffin_lim"]["phase_error"] > 0 and d["codec"]["phase_error"] == 0.0


def test_griffin_lim_reduces_spectral_inconsistency_and_is_deterministic() -> None:
    x = speech_like(1.0, SR, seed=5)
    n_fft, hop = 512, 128
    mag = stft(x, n_fft, hop).abs().to(torch.float32)

    def spectral_convergence(n_iter: int) -> float:
        y = griffin_lim(mag, n_fft=n_fft, hop_length=hop, n_iter=n_iter, length=x.size)
        m = stft(y.numpy(), n_fft, hop).abs().to(torch.float32)
        return float(torch.linalg.norm(m - mag) / torch.linalg.norm(mag))

    assert spectral_convergence(16) < 0.5 * spectral_convergence(0)
    a = griffin_lim(mag, n_fft=n_fft, hop_length=hop, n_iter=3, init="random", seed=1)
    b = griffin_lim(mag, n_fft=n_fft, hop_length=hop, n_iter=3, init="random", seed=1)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    batch = griffin_lim(mag[None].repeat(2, 1, 1), n_fft=n_fft, hop_length=hop, n_iter=2)
    assert batch.shape[0] == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_fft": 256}, "bins"),
        ({"momentum": 1.0}, "momentum"),
        ({"init": "noise"}, "init"),
        ({"length": 10}, "frames"),
    ],
)
def test_griffin_lim_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    mag = torch.ones(257, 20)
    args = {"n_fft": 512, "hop_length": 128, "n_iter": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        griffin_lim(mag, **args)


def test_phase_fidelity_rejects_bad_input() -> None:
    x = speech_like(0.5, SR)
    with pytest.raises(ValueError, match="mono"):
        phase_fidelity(np.stack([x, x]), x, SR)
    with pytest.raises(ValueError, match="lengths differ"):
        phase_fidelity(x, x[: x.size // 2], SR)
    with pytest.raises(ValueError, match="increasing"):
        phase_fidelity(x, x, SR, band_edges_hz=[1000, 500], griffin_lim_iters=0)
