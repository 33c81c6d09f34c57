"""Objective metrics on identical, noisy and silent signals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cplxcodec.analysis import (
    dnsmos,
    dnsmos_available,
    estoi,
    log_spectral_distance,
    mel_distance,
    objective_metrics,
    pesq_wb,
    si_sdr,
    stoi,
)
from cplxcodec.analysis.metrics import SI_SDR_MAX_DB, mel_filterbank
from cplxcodec.signals import noise, speech_like

SR = 16000


def _orthogonal_noise(x: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """Zero-mean noise orthogonal to zero-mean ``x`` with ``||x||^2 / ||n||^2 = 10^(snr/10)``."""
    s = x.astype(np.float64) - x.mean()
    n = np.random.default_rng(seed).standard_normal(x.size)
    n -= n.mean()
    n -= np.dot(n, s) / np.dot(s, s) * s
    return n * np.sqrt(np.dot(s, s) / np.dot(n, n) / 10 ** (snr_db / 10))


def test_si_sdr_identity_noise_and_scale_invariance() -> None:
    x = speech_like(1.0, SR).astype(np.float64)
    assert si_sdr(x, x) > 150.0
    assert si_sdr(x, x) <= SI_SDR_MAX_DB
    n = _orthogonal_noise(x, 10.0)
    s = x - x.mean()
    expected = 10 * math.log10(np.dot(s, s) / np.dot(n, n))
    assert si_sdr(x, x + n) == pytest.approx(expected, abs=1e-6)
    assert si_sdr(x, 0.3 * (x + n)) == pytest.approx(si_sdr(x, x + n), abs=1e-9)
    assert si_sdr(x, x + _orthogonal_noise(x, 0.0)) == pytest.approx(0.0, abs=1e-6)
    assert si_sdr(np.zeros(100), np.ones(100)) == -math.inf


def test_pesq_identical_is_near_maximum_and_degrades_with_noise() -> None:
    x = speech_like(3.0, SR)
    best = pesq_wb(x, x, SR)
    assert 4.5 < best <= 4.65
    noisy = x + noise(3.0, SR, seed=1, level=0.02)
    assert pesq_wb(x, noisy, SR) < best - 1.0


def test_pesq_resamples_other_rates() -> None:
    x = speech_like(2.0, 24000)
    assert pesq_wb(x, x, 24000) > 4.5


def test_pesq_without_utterance_is_nan_with_warning() -> None:
    silence = np.zeros(2 * SR, dtype=np.float32)
    with pytest.warns(UserWarning, match="PESQ"), np.errstate(all="ignore"):
        assert math.isnan(pesq_wb(silence, silence, SR))


def test_stoi_estoi_identical_and_noisy() -> None:
    x = speech_like(2.0, SR)
    assert stoi(x, x, SR) == pytest.approx(1.0, abs=1e-6)
    assert estoi(x, x, SR) == pytest.approx(1.0, abs=1e-6)
    noisy = x + noise(2.0, SR, seed=2, level=0.1)
    assert stoi(x, noisy, SR) < 0.95
    assert estoi(x, noisy, SR) < stoi(x, noisy, SR)


def test_spectral_distances_zero_for_identical_and_grow_with_noise() -> None:
    x = speech_like(1.0, SR)
    assert mel_distance(x, x, SR) == 0.0
    assert log_spectral_distance(x, x, SR) == 0.0
    small = x + noise(1.0, SR, seed=3, level=0.003)
    large = x + noise(1.0, SR, seed=3, level=0.03)
    assert 0 < mel_distance(x, small, SR) < mel_distance(x, large, SR)
    assert 0 < log_spectral_distance(x, small, SR) < log_spectral_distance(x, large, SR)
    # a gain of 2 is a log-spectral distance of 20 log10(2) dB wherever the power is above the
    # floor, i.e. everywhere for white noise
    w = noise(1.0, SR, seed=5, level=0.1)
    assert log_spectral_distance(w, 2 * w, SR) == pytest.approx(20 * math.log10(2), rel=1e-9)


def test_mel_filterbank_shape_and_peaks() -> None:
    fb = mel_filterbank(SR, 1024, 40)
    assert fb.shape == (40, 513)
    assert np.all(fb >= 0) and np.all(fb.max(axis=1) > 0.5)
    centres = fb.argmax(axis=1)
    assert np.all(np.diff(centres) >= 0)
    with pytest.raises(ValueError, match="f_min"):
        mel_filterbank(SR, 1024, 40, f_max=SR)


def test_objective_metrics_keys_and_length_mismatch() -> None:
    x = speech_like(1.5, SR)
    m = objective_metrics(x, np.concatenate([x, np.zeros(7, np.float32)]), SR)
    assert set(m) == {"pesq_wb", "stoi", "estoi", "si_sdr", "mel_distance", "lsd"}
    assert all(isinstance(v, float) for v in m.values())
    assert m["pesq_wb"] > 4.5 and m["mel_distance"] == 0.0
    with pytest.raises(ValueError, match="lengths differ"):
        objective_metrics(x, x[: x.size // 2], SR)


@pytest.mark.slow
@pytest.mark.skipif(not dnsmos_available(), reason="speechmos/onnxruntime not installed")
def test_dnsmos_scores_clean_above_noisy() -> None:
    x = speech_like(3.0, SR)
    clean = dnsmos(x, SR)
    assert set(clean) == {"ovrl", "sig", "bak", "p808"}
    assert all(1.0 <= v <= 5.0 for v in clean.values())
    noisy = dnsmos(x + noise(3.0, SR, seed=4, level=0.05), SR)
    assert noisy["bak"] < clean["bak"]
