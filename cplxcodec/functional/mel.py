"""Mel filterbank (HTK mel scale), shared by the losses and the analysis metrics."""

from __future__ import annotations

import numpy as np

__all__ = ["mel_filterbank"]


def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int = 80, f_min: float = 0.0, f_max: float | None = None
) -> np.ndarray:
    r"""``(n_mels, n_fft // 2 + 1)`` triangular filters equally spaced on the HTK mel scale
    :math:`m = 2595 \log_{10}(1 + f/700)`, peak 1 (unnormalised), float64."""
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate/2, got {f_min}, {f_max}")
    if n_mels <= 0 or n_fft <= 0:
        raise ValueError("n_mels and n_fft must be positive")

    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    pts = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    lo, mid, hi = pts[:-2, None], pts[1:-1, None], pts[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    return np.clip(np.minimum(up, down), 0.0, None)
