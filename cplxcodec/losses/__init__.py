"""GAN-free reconstruction losses; all weights live in :class:`LossWeights`."""

from cplxcodec.losses.codec_loss import CodecLoss, LossOutput, LossWeights
from cplxcodec.losses.spectral import ComplexSpectralLoss, MelLoss, time_l1

__all__ = ["CodecLoss", "LossOutput", "LossWeights", "MelLoss", "ComplexSpectralLoss", "time_l1"]
