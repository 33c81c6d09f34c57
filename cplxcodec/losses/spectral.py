r"""GAN-free reconstruction losses of the codec (no discriminators, no feature matching).

- :class:`MelLoss`: L1 between log-mel magnitudes at several resolutions.
- :class:`ComplexSpectralLoss`: on the power-law-compressed spectrum the codec predicts,
  :math:`\operatorname{mean}|S_c - \hat S_c|^2` (real and imaginary parts, so phase errors are
  penalised in proportion to magnitude) plus :math:`\operatorname{mean}(|S_c| - |\hat S_c|)^2`.
- :class:`MultiResolutionSTFTLoss`: auraloss's multi-resolution STFT loss (spectral
  convergence + log magnitude) without the phase spectra auraloss computes and, at its default
  phase weight 0, never uses — see :mod:`cplxcodec.losses.codec_loss`.
- time-domain L1.
"""

from __future__ import annotations

from collections.abc import Sequence

import auraloss
import torch
from torch import Tensor, nn

from cplxcodec.functional.mel import mel_filterbank

__all__ = ["MelLoss", "ComplexSpectralLoss", "MultiResolutionSTFTLoss", "time_l1"]


class _MagnitudeSTFTLoss(auraloss.freq.STFTLoss):
    """:class:`auraloss.freq.STFTLoss` at phase weight 0, whose ``stft`` skips the phase."""

    def stft(self, x: Tensor) -> tuple[Tensor, None]:
        """Magnitude spectrum ``(B, n_fft // 2 + 1, frames)`` exactly as auraloss computes it;
        no phase (``torch.angle`` of every spectrum cost ~3 % of a speech16k training step)."""
        spec = torch.stft(
            x, self.fft_size, self.hop_size, self.win_length, self.window, return_complex=True
        )
        return torch.sqrt(torch.clamp(spec.real**2 + spec.imag**2, min=self.eps)), None


class MultiResolutionSTFTLoss(nn.Module):
    """Mean over resolutions of auraloss's STFT loss (spectral convergence + log magnitude, hop
    a quarter of the FFT size, Hann windows of the FFT size) between ``(B, C, T)`` waveforms.

    Values and gradients are bitwise those of ``auraloss.freq.MultiResolutionSTFTLoss(
    fft_sizes, [n // 4 for n in fft_sizes], fft_sizes)``; only the phase spectra that class
    computes and discards are skipped. Call as ``loss(estimate, reference)``.
    """

    def __init__(self, fft_sizes: Sequence[int] = (256, 512, 1024, 2048)) -> None:
        super().__init__()
        if not fft_sizes or any(int(n) < 2 for n in fft_sizes):
            raise ValueError(f"fft_sizes must be a non-empty list of sizes >= 2, got {fft_sizes}")
        self.fft_sizes = tuple(int(n) for n in fft_sizes)
        self.stft_losses = nn.ModuleList(_MagnitudeSTFTLoss(n, n // 4, n) for n in self.fft_sizes)

    def forward(self, estimate: Tensor, reference: Tensor) -> Tensor:
        """Scalar loss (auraloss's summation order, then the mean)."""
        total = 0.0
        for loss in self.stft_losses:
            total += loss(estimate, reference)
        return total / len(self.stft_losses)


class MelLoss(nn.Module):
    """Multi-scale log-mel L1 distance between waveforms ``(B, C, T)``."""

    def __init__(
        self,
        sample_rate: int,
        n_ffts: Sequence[int] = (256, 512, 1024),
        n_mels: Sequence[int] = (32, 64, 80),
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if len(n_ffts) != len(n_mels):
            raise ValueError("n_ffts and n_mels must have the same length")
        self.n_ffts, self.eps = tuple(n_ffts), eps
        for i, (n, m) in enumerate(zip(n_ffts, n_mels)):
            fb = torch.from_numpy(mel_filterbank(sample_rate, n, m)).float()
            self.register_buffer(f"fb{i}", fb, persistent=False)
            self.register_buffer(f"win{i}", torch.hann_window(n), persistent=False)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Mean over scales of ``mean |log10 mel(x) - log10 mel(y)|``."""
        xs = x.reshape(-1, x.shape[-1])
        ys = y.reshape(-1, y.shape[-1])
        total = x.new_zeros(())
        for i, n in enumerate(self.n_ffts):
            fb, win = getattr(self, f"fb{i}"), getattr(self, f"win{i}")
            # One transform per input (not one over both concatenated): the input that needs no
            # gradient (the reference) then stays out of the backward pass, which costs ~40 % of
            # this loss's fwd+bwd time.
            mx, my = (
                torch.matmul(fb, torch.stft(s, n, n // 4, window=win, return_complex=True).abs())
                .clamp_min(self.eps)
                .log10()
                for s in (xs, ys)
            )
            total = total + (mx - my).abs().mean()
        return total / len(self.n_ffts)


class ComplexSpectralLoss(nn.Module):
    """Complex MSE plus magnitude MSE on compressed spectra ``(B, C, F, N)`` complex."""

    def __init__(self, magnitude_weight: float = 1.0) -> None:
        super().__init__()
        self.magnitude_weight = magnitude_weight

    def forward(self, target: Tensor, estimate: Tensor) -> Tensor:
        """``mean |S - Ŝ|² + w · mean (|S| - |Ŝ|)²``."""
        if not (target.is_complex() and estimate.is_complex()):
            raise TypeError("ComplexSpectralLoss expects complex spectra")
        diff = torch.view_as_real(target - estimate).square().sum(-1).mean()
        mag = (target.abs() - estimate.abs()).square().mean()
        return diff + self.magnitude_weight * mag


def time_l1(x: Tensor, y: Tensor) -> Tensor:
    """Mean absolute error between waveforms."""
    return (x - y).abs().mean()
