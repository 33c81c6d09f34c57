"""Shared fixtures: seeded randomness and synthetic test signals (tests never read outside the repo)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    """Every test starts from the same random state."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def speech_like(seconds: float = 1.0, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A speech-like test signal: a gliding harmonic source with formant-ish AM, plus noise bursts.

    Returns float32 mono samples in [-1, 1], shape ``(T,)``.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    f0 = 120.0 + 40.0 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    x = np.zeros(n)
    for h in range(1, 30):
        fh = h * f0
        amp = np.exp(-(((fh - 700) / 400) ** 2)) + 0.6 * np.exp(-(((fh - 1800) / 600) ** 2)) + 0.05
        amp = amp * (fh < sample_rate / 2 - 200)
        x += amp * np.sin(h * phase) / h**0.3
    syll = 0.5 * (1 + np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 2 * np.pi)))
    x = x * syll
    noise = rng.standard_normal(n) * (syll < 0.15) * 0.3
    x = x + noise
    x = 0.5 * x / (np.abs(x).max() + 1e-9)
    return x.astype(np.float32)


def chirp(seconds: float = 1.0, sample_rate: int = 16000, f0: float = 100.0, f1: float = 6000.0) -> np.ndarray:
    """A linear chirp from f0 to f1 Hz, float32 ``(T,)``, amplitude 0.5."""
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    k = (f1 - f0) / seconds
    return (0.5 * np.sin(2 * np.pi * (f0 * t + 0.5 * k * t**2))).astype(np.float32)


@pytest.fixture
def speech_signal() -> np.ndarray:
    """One second of speech-like audio at 16 kHz."""
    return speech_like(1.0, 16000)
