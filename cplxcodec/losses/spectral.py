r"""GAN-free reconstruction losses of the codec (no discriminators, no feature matching).

- :class:`MelLoss`: L1 between log-mel magnitudes at several resolutions.
- :class:`ComplexSpectralLoss`: on the power-law-compressed spectrum the codec predicts,
  :math:`\operatorname{mean}|S_c - \hat S_c|^2` (real and imaginary parts, so phase errors are
  penalised in proportion to magnitude) plus :math:`\operatorname{mean}(|S_c| - |\hat S_c|)^2`.
- multi-resolution STFT loss: :class:`auraloss.freq.MultiResolutionSTFTLoss` (spectral
  convergence + log magnitude) — see :mod:`cplxcodec.losses.codec_loss`.
- time-domain L1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cplxcodec.functional.mel import mel_filterbank

__all__ = ["MelLoss", "ComplexSpectralLoss", "time_l1"]


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
