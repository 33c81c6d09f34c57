"""GAN-free reconstruction losses; all weights live in :class:`LossWeights`."""

from cplxcodec.losses.codec_loss import CodecLoss, LossOutput, LossWeights
from cplxcodec.losses.intelligibility import STOILoss, stoi
from cplxcodec.losses.spectral import (
    ComplexSpectralLoss,
    MelLoss,
    MultiResolutionSTFTLoss,
    time_l1,
)

__all__ = [
    "CodecLoss",
    "LossOutput",
    "LossWeights",
    "MelLoss",
    "ComplexSpectralLoss",
    "MultiResolutionSTFTLoss",
    "time_l1",
    "STOILoss",
    "stoi",
]
