"""Short-time Fourier transform pair with perfect reconstruction, and power-law compression.

Shape contract (see DESIGN.md): waveform ``(B, C, T)`` float32 ↔ spectrogram ``(B, C, F, N)``
complex64 with ``F = n_fft // 2 + 1`` bins and ``N = T // hop_length + 1`` frames (centred frames).

Perfect reconstruction: with a periodic Hann window and ``hop_length <= win_length // 2`` the
squared window satisfies the non-zero overlap-add condition (NOLA), so the weighted overlap-add
inverse of :func:`torch.istft` recovers ``x`` exactly up to float rounding.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["stft", "istft", "num_frames", "power_compress", "power_decompress"]


def _check_wave(wav: Tensor) -> None:
    if not isinstance(wav, Tensor):
        raise TypeError(f"expected a torch.Tensor waveform, got {type(wav).__name__}")
    if wav.is_complex():
        raise TypeError("stft expects a real waveform (B, C, T); got a complex tensor")
    if wav.dim() != 3:
        raise ValueError(f"stft expects a waveform of shape (B, C, T), got {tuple(wav.shape)}")


def num_frames(length: int, hop_length: int) -> int:
    """Number of centred STFT frames for ``length`` samples."""
    return length // hop_length + 1


def stft(
    wav: Tensor,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    center: bool = True,
) -> Tensor:
    """Complex STFT of a ``(B, C, T)`` waveform with a periodic Hann window.

    Returns a complex tensor ``(B, C, n_fft // 2 + 1, N)``. Frames are scaled by
    ``1/sqrt(n_fft)`` (``normalized=True`` in :func:`torch.stft`), so the per-bin power of a
    stationary signal does not depend on ``n_fft`` (white noise of variance σ² gives
    ``E|X|² = 3σ²/8`` with the Hann window).
    """
    _check_wave(wav)
    win_length = win_length or n_fft
    if hop_length <= 0 or hop_length > win_length:
        raise ValueError(f"hop_length must be in [1, win_length={win_length}], got {hop_length}")
    b, c, t = wav.shape
    if center and t <= n_fft // 2:
        raise ValueError(
            f"waveform too short for the STFT: {t} samples, need more than {n_fft // 2}"
        )
    window = torch.hann_window(win_length, periodic=True, device=wav.device, dtype=wav.dtype)
    spec = torch.stft(
        wav.reshape(b * c, t),
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=window,
        center=center,
        pad_mode="reflect" if t > n_fft // 2 else "constant",
        normalized=True,
        return_complex=True,
    )
    return spec.reshape(b, c, spec.shape[-2], spec.shape[-1])


def istft(
    spec: Tensor,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    length: int | None = None,
    center: bool = True,
) -> Tensor:
    """Inverse of :func:`stft`: ``(B, C, F, N)`` complex → ``(B, C, T)`` real.

    ``length`` trims or zero-pads the output to the original number of samples.
    """
    if not spec.is_complex():
        raise TypeError("istft expects a complex spectrogram (B, C, F, N)")
    if spec.dim() != 4:
        raise ValueError(f"istft expects (B, C, F, N), got {tuple(spec.shape)}")
    win_length = win_length or n_fft
    b, c, f, n = spec.shape
    if f != n_fft // 2 + 1:
        raise ValueError(f"spectrogram has {f} bins but n_fft={n_fft} needs {n_fft // 2 + 1}")
    window = torch.hann_window(win_length, periodic=True, device=spec.device, dtype=spec.real.dtype)
    wav = torch.istft(
        spec.reshape(b * c, f, n),
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=window,
        center=center,
        normalized=True,
        length=length,
    )
    return wav.reshape(b, c, wav.shape[-1])


def power_compress(x: Tensor, alpha: float = 0.3, eps: float = 1e-6) -> Tensor:
    r"""Power-law magnitude compression that keeps the phase: :math:`|X|^\alpha e^{i\angle X}`.

    Computed as :math:`X \cdot \max(|X|, \epsilon)^{\alpha-1}`, which is exact for
    :math:`|X| \ge \epsilon`, has a finite gradient everywhere (the bare power has an infinite
    derivative at 0 for :math:`\alpha < 1`) and maps 0 to 0.
    """
    if not x.is_complex():
        raise TypeError("power_compress expects a complex tensor")
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    mag = x.abs().clamp_min(eps)
    return x * mag.pow(alpha - 1.0)


def power_decompress(y: Tensor, alpha: float = 0.3, eps: float = 1e-6) -> Tensor:
    r"""Inverse of :func:`power_compress`: :math:`|Y|^{1/\alpha} e^{i\angle Y}`.

    Exact inverse wherever the compressed magnitude is at least :math:`\epsilon^\alpha`.
    """
    if not y.is_complex():
        raise TypeError("power_decompress expects a complex tensor")
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    mag = y.abs().clamp_min(eps**alpha)
    return y * mag.pow(1.0 / alpha - 1.0)
