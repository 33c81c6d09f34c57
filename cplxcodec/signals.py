"""Synthetic test signals: chirps, harmonic tones, noise and speech-like AM/FM sources.

Used by the test suite, the notebooks and the benchmarks that must not depend on external data.
All generators are deterministic given ``seed`` and return float32 mono arrays of shape ``(T,)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["chirp", "harmonic_tone", "noise", "speech_like"]


def _n(seconds: float, sample_rate: int) -> int:
    if seconds <= 0 or sample_rate <= 0:
        raise ValueError(f"seconds and sample_rate must be positive, got {seconds}, {sample_rate}")
    return int(round(seconds * sample_rate))


def speech_like(seconds: float = 1.0, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A speech-like signal: a gliding harmonic source shaped by two formants, syllabic AM, and
    noise bursts between syllables (fricative-like). Peak amplitude 0.5.
    """
    rng = np.random.default_rng(seed)
    n = _n(seconds, sample_rate)
    t = np.arange(n) / sample_rate
    base = rng.uniform(100.0, 220.0)
    f0 = base * (1.0 + 0.25 * np.sin(2 * np.pi * rng.uniform(0.4, 1.2) * t + rng.uniform(0, 6.3)))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    f1, f2 = rng.uniform(500, 900), rng.uniform(1400, 2400)
    x = np.zeros(n)
    for h in range(1, 40):
        fh = h * f0
        amp = np.exp(-(((fh - f1) / 350) ** 2)) + 0.6 * np.exp(-(((fh - f2) / 500) ** 2)) + 0.03
        amp = amp * (fh < 0.45 * sample_rate)
        x += amp * np.sin(h * phase) / h**0.3
    syll = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(3.0, 5.0) * t + rng.uniform(0, 6.3)))
    x = x * syll
    x = x + rng.standard_normal(n) * (syll < 0.15) * 0.3
    x = 0.5 * x / (np.abs(x).max() + 1e-9)
    return x.astype(np.float32)


def chirp(
    seconds: float = 1.0, sample_rate: int = 16000, f0: float = 100.0, f1: float = 6000.0
) -> np.ndarray:
    """A linear chirp from ``f0`` to ``f1`` Hz with amplitude 0.5."""
    n = _n(seconds, sample_rate)
    t = np.arange(n) / sample_rate
    k = (f1 - f0) / seconds
    return (0.5 * np.sin(2 * np.pi * (f0 * t + 0.5 * k * t**2))).astype(np.float32)


def harmonic_tone(
    seconds: float = 1.0, sample_rate: int = 16000, f0: float = 220.0, n_harmonics: int = 10
) -> np.ndarray:
    """A harmonic tone with 1/h amplitudes, normalised to peak 0.5."""
    n = _n(seconds, sample_rate)
    t = np.arange(n) / sample_rate
    hs = [h for h in range(1, n_harmonics + 1) if h * f0 < sample_rate / 2]
    x = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in hs)
    x = 0.5 * x / (np.abs(x).max() + 1e-9)
    return np.asarray(x, dtype=np.float32)


def noise(
    seconds: float = 1.0, sample_rate: int = 16000, seed: int = 0, level: float = 0.1
) -> np.ndarray:
    """White Gaussian noise with standard deviation ``level``."""
    rng = np.random.default_rng(seed)
    return (level * rng.standard_normal(_n(seconds, sample_rate))).astype(np.float32)
