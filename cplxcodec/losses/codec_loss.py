"""The codec's total loss, with every weight in one place (:class:`LossWeights`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import auraloss
from torch import Tensor, nn

from cplxcodec.losses.spectral import ComplexSpectralLoss, MelLoss, time_l1

__all__ = ["LossWeights", "LossOutput", "CodecLoss"]


@dataclass
class LossWeights:
    """Weights of the GAN-free loss terms (the only place they are set)."""

    mrstft: float = 1.0
    mel: float = 2.0
    complex_spec: float = 1.0
    time_l1: float = 0.5
    commit: float = 0.25


@dataclass
class LossOutput:
    """Total loss and its unweighted terms (for logging)."""

    total: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)


class CodecLoss(nn.Module):
    """Multi-resolution STFT (auraloss) + mel + complex spectral + time L1 + commitment.

    Args:
        sample_rate: audio rate (sets the mel filterbanks).
        weights: :class:`LossWeights` or a dict of them.
        fft_sizes: resolutions of the multi-resolution STFT loss (hop = size/4).
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        weights: LossWeights | dict | None = None,
        fft_sizes: tuple[int, ...] = (256, 512, 1024, 2048),
    ) -> None:
        super().__init__()
        if isinstance(weights, dict):
            weights = LossWeights(**weights)
        self.weights = weights or LossWeights()
        self.mrstft = auraloss.freq.MultiResolutionSTFTLoss(
            fft_sizes=list(fft_sizes),
            hop_sizes=[n // 4 for n in fft_sizes],
            win_lengths=list(fft_sizes),
        )
        self.mel = MelLoss(sample_rate)
        self.complex_spec = ComplexSpectralLoss()

    def forward(
        self, wav: Tensor, wav_hat: Tensor, spec: Tensor, spec_hat: Tensor, commit: Tensor
    ) -> LossOutput:
        """Weighted sum of the terms for waveforms ``(B, 1, T)`` and compressed spectra."""
        terms = {
            "mrstft": self.mrstft(wav_hat, wav),
            "mel": self.mel(wav, wav_hat),
            "complex_spec": self.complex_spec(spec, spec_hat),
            "time_l1": time_l1(wav, wav_hat),
            "commit": commit,
        }
        w = asdict(self.weights)
        total = sum(w[k] * v for k, v in terms.items())
        return LossOutput(total=total, terms=terms)
