"""Private helpers shared by the analysis modules: array coercion, alignment, STFT.

Nothing here is public API; the public modules document the conventions they rely on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import signal as sps

__all__ = ["Aligned", "align", "as_mono", "crop_common", "stft"]


def as_mono(x: Any, name: str) -> np.ndarray:
    """Coerce a numpy array or torch tensor of shape ``(T,)``, ``(1, T)`` or ``(1, 1, T)`` to a
    float64 ``(T,)`` array; anything multichannel or non-finite raises ``ValueError``."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{name}: expected a real waveform, got dtype {a.dtype}")
    while a.ndim > 1 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a mono waveform (T,), got shape {np.shape(x)}")
    if a.size == 0:
        raise ValueError(f"{name}: empty waveform")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: contains {int((~np.isfinite(a)).sum())} non-finite samples")
    return a


def crop_common(ref: np.ndarray, est: np.ndarray, *, min_ratio: float = 0.9) -> tuple:
    """Crop two ``(T,)`` signals to their common length.

    Codecs may return a few samples more or less than they were given; a length ratio below
    ``min_ratio`` is treated as a bug in the caller and raises ``ValueError``.
    """
    n = min(ref.size, est.size)
    if n < min_ratio * max(ref.size, est.size):
        raise ValueError(
            f"reference and decoded lengths differ too much ({ref.size} vs {est.size} samples); "
            "the decoded signal must be at the reference's sample rate and about its length"
        )
    return ref[:n], est[:n]


@dataclass(frozen=True)
class Aligned:
    """Result of :func:`align`: the two signals cropped to their overlap after the shift.

    ``lag`` > 0 means the estimate was late by ``lag`` samples; ``sign`` is ``-1`` when the
    estimate's polarity was flipped (only with ``allow_polarity``).
    """

    reference: np.ndarray
    estimate: np.ndarray
    lag: int
    sign: int


def align(
    ref: np.ndarray, est: np.ndarray, max_lag: int, *, allow_polarity: bool = False
) -> Aligned:
    """Globally align ``est`` to ``ref`` by the integer lag in ``[-max_lag, max_lag]`` that
    maximises the cross-correlation ``c[l] = sum_n est[n + l] ref[n]`` (or ``|c[l]|`` with
    ``allow_polarity``, flipping the sign of ``est`` when the peak is negative)."""
    if max_lag <= 0:
        n = min(ref.size, est.size)
        sign = -1 if (allow_polarity and float(np.dot(ref[:n], est[:n])) < 0) else 1
        return Aligned(ref[:n], sign * est[:n], 0, sign)
    corr = sps.correlate(est, ref, mode="full", method="fft")
    lags = sps.correlation_lags(est.size, ref.size, mode="full")
    keep = np.abs(lags) <= max_lag
    corr, lags = corr[keep], lags[keep]
    score = np.abs(corr) if allow_polarity else corr
    i = int(np.argmax(score))
    lag = int(lags[i])
    sign = -1 if (allow_polarity and corr[i] < 0) else 1
    if lag >= 0:
        e, r = est[lag:], ref
    else:
        e, r = est, ref[-lag:]
    n = min(e.size, r.size)
    return Aligned(r[:n], sign * e[:n], lag, sign)


def stft(x: np.ndarray | torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """Complex STFT (Hann window, ``center=True``, reflect padding) in double precision.

    Args:
        x: ``(T,)`` or ``(B, T)`` waveform.

    Returns:
        ``(F, N)`` or ``(B, F, N)`` complex128 tensor with ``F = n_fft // 2 + 1``.
    """
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    t = t.to(torch.float64)
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    return torch.stft(
        t, n_fft, hop_length, n_fft, window, center=True, pad_mode="reflect", return_complex=True
    )
