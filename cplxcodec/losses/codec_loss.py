"""The codec's total loss, with every weight in one place (:class:`LossWeights`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from torch import Tensor, nn

from cplxcodec.losses.intelligibility import STOILoss
from cplxcodec.losses.spectral import (
    ComplexSpectralLoss,
    MelLoss,
    MultiResolutionSTFTLoss,
    time_l1,
)

__all__ = ["LossWeights", "LossOutput", "CodecLoss"]


@dataclass
class LossWeights:
    """Weights of the GAN-free loss terms (the only place they are set).

    The phase-carrying terms (``complex_spec`` on power-law-compressed spectra, ``time_l1`` on
    waveforms) are small in value, so they need large weights to matter: measured on the
    ``speech16k`` model at step 1350 of its training run, the L2 norms of the terms' gradients
    at the decoder output were mrstft 0.089, mel 0.021, complex_spec 0.0015, time_l1 0.0028 per
    unit weight. With weights 1 / 0.5 on the last two (this class's first defaults), the model
    had learned no phase at all (its complex loss was worse than that of an all-zero output);
    with 30 / 10 the complex loss fell below that baseline within 100 steps while the magnitude
    terms kept improving (``configs/speech16k.yaml`` documents the run).
    """

    mrstft: float = 1.0
    mel: float = 2.0
    complex_spec: float = 30.0
    time_l1: float = 10.0
    commit: float = 0.25
    #: ``1 - STOI`` through the differentiable STOI (:class:`~cplxcodec.losses.STOILoss`,
    #: lenient: a clip too short or too silent for one 384 ms window adds a constant). Off in
    #: the training recipes; the encoder's refinement (:mod:`cplxcodec.models.refine`) uses it
    #: with weight 1, and so can a fine-tune towards that loss (``configs/speech16k-finetune.yaml``).
    stoi: float = 0.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 <= value < float("inf")
            ):
                raise ValueError(
                    f"loss weight {name!r} must be a finite number >= 0, got {value!r}"
                )


@dataclass
class LossOutput:
    """Total loss and its unweighted terms (for logging)."""

    total: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)


class CodecLoss(nn.Module):
    """Multi-resolution STFT (auraloss) + mel + complex spectral + time L1 + commitment, and
    ``1 - STOI`` where its weight is set (its term is then logged as ``stoi``).

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
        self.mrstft = MultiResolutionSTFTLoss(fft_sizes)
        self.mel = MelLoss(sample_rate)
        self.complex_spec = ComplexSpectralLoss()
        self.stoi = STOILoss(sample_rate, lenient=True) if self.weights.stoi > 0 else None

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
        if self.stoi is not None:
            terms["stoi"] = self.stoi(wav, wav_hat)
        w = asdict(self.weights)
        total = sum(w[k] * v for k, v in terms.items())
        return LossOutput(total=total, terms=terms)
