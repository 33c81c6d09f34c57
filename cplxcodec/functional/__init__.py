"""Stateless maths: STFT/iSTFT, power-law compression, 2×2 whitening, complex convolution."""

from cplxcodec.functional.attention import band_mask, banded_attention
from cplxcodec.functional.conv import ConvImpl, block_real_weight, complex_conv
from cplxcodec.functional.mel import mel_filterbank
from cplxcodec.functional.spectral import (
    istft,
    num_frames,
    power_compress,
    power_decompress,
    stft,
)
from cplxcodec.functional.whitening import apply_2x2, covariance_2x2, inv_sqrt_2x2, whiten_2x2

__all__ = [
    "stft",
    "istft",
    "num_frames",
    "power_compress",
    "power_decompress",
    "covariance_2x2",
    "inv_sqrt_2x2",
    "apply_2x2",
    "whiten_2x2",
    "complex_conv",
    "block_real_weight",
    "ConvImpl",
    "mel_filterbank",
    "band_mask",
    "banded_attention",
]
