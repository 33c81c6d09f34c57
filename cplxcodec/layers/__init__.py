"""Complex-valued layers over native ``torch.complex64`` tensors.

Convolutions, linear maps, 2×2-whitening normalisation, activations, dropout and axial
attention; see each module's docstring for the maths and shape contracts.
"""

from cplxcodec.layers.activation import Cardioid, ComplexDropout, CReLU, ModReLU, ZReLU
from cplxcodec.layers.attention import ComplexAxialAttention
from cplxcodec.layers.conv import (
    ComplexConv1d,
    ComplexConv2d,
    ComplexConvTranspose1d,
    ComplexConvTranspose2d,
)
from cplxcodec.layers.init import complex_glorot_, complex_he_, complex_init_
from cplxcodec.layers.linear import ComplexLinear
from cplxcodec.layers.norm import (
    ComplexBatchNorm1d,
    ComplexBatchNorm2d,
    ComplexGroupNorm,
    ComplexLayerNorm,
    ComplexRMSNorm,
)

__all__ = [
    "ComplexConv1d",
    "ComplexConv2d",
    "ComplexConvTranspose1d",
    "ComplexConvTranspose2d",
    "ComplexLinear",
    "ComplexBatchNorm1d",
    "ComplexBatchNorm2d",
    "ComplexLayerNorm",
    "ComplexGroupNorm",
    "ComplexRMSNorm",
    "ModReLU",
    "CReLU",
    "ZReLU",
    "Cardioid",
    "ComplexDropout",
    "ComplexAxialAttention",
    "complex_init_",
    "complex_glorot_",
    "complex_he_",
]
