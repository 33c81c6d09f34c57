"""Building blocks of the codec, written once for complex layers and for the real twin.

:class:`Ops` is a small factory: the complex codec builds its network from
:class:`ComplexOps` (native complex layers from :mod:`cplxcodec.layers`); the real-valued twin
uses :class:`RealOps` (``torch.nn`` layers on tensors whose channels are (Re, Im) pairs), so both
share one architecture definition and differ only in the number field.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cplxcodec.functional.attention import banded_attention
from cplxcodec.functional.whitening import inv_sqrt_2x2
from cplxcodec.layers import (
    Cardioid,
    ComplexAxialAttention,
    ComplexConv1d,
    ComplexConv2d,
    ComplexConvTranspose2d,
    CReLU,
    ModReLU,
)

__all__ = ["Ops", "ComplexOps", "RealOps", "FrameNorm", "RealFrameNorm", "ResBlock2d", "AttnBlock"]


class FrameNorm(nn.Module):
    r"""Per-frame 2×2 whitening over channels and frequency of ``(B, C, F, N)`` complex input.

    Statistics are taken per (sample, frame), so the layer is time-local: it behaves the same in
    streaming, in chunks and at any batch size (unlike batch or utterance-level statistics).
    Affine: real 2×2 γ per channel (diagonal 1/√2) and complex β.

    Implementation: whitening :math:`W_{bn}` and affine :math:`\Gamma_c` compose into one real
    2×2 map per (sample, channel, frame), :math:`y = M(x - \mu) + \beta = Mx + d` with
    :math:`M = \Gamma_c W_{bn}`; second moments come from one batched matmul, and the map is
    applied by four strided multiply-adds that keep the input's memory layout (channels-last
    stays channels-last, so the next convolution copies nothing). Without autograd the planes
    are written straight into the output (``out=``); with autograd they are merged by
    :func:`torch.complex` (one extra pass).

    ``keep_gain=True`` (used where the norm sits on the signal path, not inside a residual
    branch) multiplies the whitening by the frame's RMS :math:`g = \sqrt{\operatorname{tr}
    \Sigma + \epsilon}`: the frame's shape is whitened but its level is kept, so the layer is
    positively homogeneous in its input and loudness survives it (a fully whitened frame has
    unit power whatever its input level). For :math:`\Sigma \to 0` it tends to centring.
    """

    def __init__(self, channels: int, eps: float = 1e-5, keep_gain: bool = False) -> None:
        super().__init__()
        self.eps = eps
        self.keep_gain = keep_gain
        w = torch.zeros(3, channels)
        w[0] = w[2] = 1 / math.sqrt(2)
        self.weight = nn.Parameter(w)
        self.bias = nn.Parameter(torch.zeros(channels, dtype=torch.complex64))

    def forward(self, x: Tensor) -> Tensor:
        """Whiten each frame over (C, F), then apply the affine map."""
        b, c, f, n = x.shape
        xv = torch.view_as_real(x)  # (B, C, F, N, 2)
        mean = xv.mean(dim=(1, 2))  # (B, N, 2)
        flat = xv.permute(0, 3, 4, 1, 2).reshape(b, n, 2, c * f)
        second = torch.matmul(flat, flat.transpose(-1, -2)) / (c * f)  # (B, N, 2, 2)
        cov = second - mean.unsqueeze(-1) * mean.unsqueeze(-2)
        wrr, wri, wii = inv_sqrt_2x2(cov[..., 0, 0], cov[..., 0, 1], cov[..., 1, 1], self.eps)
        if self.keep_gain:
            gain = (cov[..., 0, 0] + cov[..., 1, 1] + self.eps).sqrt()
            wrr, wri, wii = wrr * gain, wri * gain, wii * gain
        g = self.weight  # (3, C): γrr, γri, γii
        grr, gri, gii = (g[i].view(1, c, 1) for i in range(3))
        wrr, wri, wii = (w.view(b, 1, n) for w in (wrr, wri, wii))
        # M = Γ W (both symmetric, product is not): (B, C, N) entries
        mrr = grr * wrr + gri * wri
        mri = grr * wri + gri * wii
        mir = gri * wrr + gii * wri
        mii = gri * wri + gii * wii
        mu = torch.view_as_complex(mean.contiguous()).view(b, 1, n)
        mur, mui = mu.real, mu.imag
        d = self.bias.view(1, c, 1) - torch.complex(mrr * mur + mri * mui, mir * mur + mii * mui)
        # y = M x + d, written plane by plane into an output with x's memory layout
        mrr, mri, mir, mii, d = (t.unsqueeze(2) for t in (mrr, mri, mir, mii, d))
        xv = torch.view_as_real(x)
        xr, xi, dv = xv[..., 0], xv[..., 1], torch.view_as_real(d)
        if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            yr = torch.addcmul(dv[..., 0], mrr, xr).addcmul_(mri, xi)
            yi = torch.addcmul(dv[..., 1], mii, xi).addcmul_(mir, xr)
            return torch.complex(yr, yi)
        out = torch.empty_like(xv)
        torch.addcmul(dv[..., 0], mrr, xr, out=out[..., 0]).addcmul_(mri, xi)
        torch.addcmul(dv[..., 1], mii, xi, out=out[..., 1]).addcmul_(mir, xr)
        return torch.view_as_complex(out)


class RealFrameNorm(nn.Module):
    """Per-frame layer norm over channels and frequency of ``(B, C, F, N)`` real input.

    ``keep_gain=True``: centre only (the frame's level is kept), as in :class:`FrameNorm`.
    """

    def __init__(self, channels: int, eps: float = 1e-5, keep_gain: bool = False) -> None:
        super().__init__()
        self.eps = eps
        self.keep_gain = keep_gain
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        """Normalise each frame over (C, F)."""
        mean = x.mean(dim=(1, 2), keepdim=True)
        if self.keep_gain:
            z = x - mean
        else:
            var = x.var(dim=(1, 2), keepdim=True, unbiased=False)
            z = (x - mean) * torch.rsqrt(var + self.eps)
        return z * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class RealAxialAttention(nn.Module):
    """Real multi-head self-attention along one axis of ``(B, C, F, N)`` (the twin's)."""

    def __init__(
        self, channels: int, heads: int, axis: str, causal: bool, window: int | None
    ) -> None:
        super().__init__()
        self.channels, self.heads, self.axis, self.causal = channels, heads, axis, causal
        self.window = window
        self.qkv = nn.Linear(channels, 3 * channels, bias=False)
        self.out = nn.Linear(channels, channels, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """Attend along ``axis`` (banded when ``window`` is set)."""
        b, c, f, n = x.shape
        if self.axis == "time":
            seq = x.permute(0, 2, 3, 1).reshape(b * f, n, c)
        else:
            seq = x.permute(0, 3, 2, 1).reshape(b * n, f, c)
        s, length = seq.shape[:2]
        q, k, v = (
            self.qkv(seq).view(s, length, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        )
        if self.window:
            o = banded_attention(q, k, v, self.window, self.causal)
        else:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        o = self.out(o.transpose(1, 2).reshape(s, length, c))
        if self.axis == "time":
            return o.view(b, f, n, c).permute(0, 3, 1, 2)
        return o.view(b, n, f, c).permute(0, 3, 2, 1)


class Ops:
    """Layer factory interface (see module docstring)."""

    width_factor: float = 1.0
    io_channels: int = 1

    def width(self, c: int, heads: int = 1) -> int:
        """Channel count for a nominal complex width ``c`` (rounded to a multiple of ``heads``)."""
        w = max(heads, round(c * self.width_factor / heads) * heads)
        return int(w)


class ComplexOps(Ops):
    """Native complex layers."""

    io_channels = 1

    def __init__(self, activation: str = "crelu") -> None:
        self.activation = activation

    def conv2d(
        self, cin, cout, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1), causal=False
    ):
        return ComplexConv2d(cin, cout, kernel, stride, padding, dilation, causal=causal)

    def conv_transpose2d(self, cin, cout, kernel, stride, padding, causal=False):
        return ComplexConvTranspose2d(cin, cout, kernel, stride, padding, causal=causal)

    def conv1d(self, cin, cout, kernel, padding=0, causal=False):
        return ComplexConv1d(cin, cout, kernel, padding=padding, causal=causal)

    def norm(self, channels, keep_gain=False):
        return FrameNorm(channels, keep_gain=keep_gain)

    def act(self, channels):
        if self.activation == "modrelu":
            return ModReLU(channels, init=-0.5)
        if self.activation == "cardioid":
            return Cardioid()
        return CReLU()

    def attention(self, channels, heads, axis, causal, window):
        return ComplexAxialAttention(channels, heads, axis=axis, causal=causal, window=window)


class RealOps(Ops):
    """Real ``torch.nn`` layers; widths × √2 so the parameter count matches the complex model."""

    width_factor = math.sqrt(2.0)
    io_channels = 2

    def conv2d(
        self, cin, cout, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1), causal=False
    ):
        if causal:
            return _CausalReal(
                nn.Conv2d(cin, cout, kernel, stride, (padding[0], 0), dilation),
                dilation[1] * (kernel[1] - 1),
            )
        return nn.Conv2d(cin, cout, kernel, stride, padding, dilation)

    def conv_transpose2d(self, cin, cout, kernel, stride, padding, causal=False):
        if causal:
            conv = nn.ConvTranspose2d(cin, cout, kernel, stride, (padding[0], 0))
            return _TrimReal(conv, kernel[1] - stride[1])
        return nn.ConvTranspose2d(cin, cout, kernel, stride, padding)

    def conv1d(self, cin, cout, kernel, padding=0, causal=False):
        if causal:
            return _CausalReal(nn.Conv1d(cin, cout, kernel), kernel - 1)
        return nn.Conv1d(cin, cout, kernel, padding=padding)

    def norm(self, channels, keep_gain=False):
        return RealFrameNorm(channels, keep_gain=keep_gain)

    def act(self, channels):
        return nn.GELU()

    def attention(self, channels, heads, axis, causal, window):
        return RealAxialAttention(channels, heads, axis, causal, window)


class _CausalReal(nn.Module):
    def __init__(self, conv: nn.Module, left: int) -> None:
        super().__init__()
        self.conv, self.left = conv, left

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (self.left, 0)))


class _TrimReal(nn.Module):
    def __init__(self, conv: nn.Module, trim: int) -> None:
        super().__init__()
        self.conv, self.trim = conv, trim

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        return y[..., : y.shape[-1] - self.trim] if self.trim > 0 else y


class ResBlock2d(nn.Module):
    """Residual unit ``x + conv1x1(act(conv3x3_d(act(x))))`` with time dilation ``d``.

    No normalisation inside the unit (as in EnCodec/DAC residual units): the 2×2 whitening norms
    sit at level transitions, before attention and before the output, where the grid is small.
    """

    def __init__(self, ops: Ops, channels: int, dilation: int, causal: bool) -> None:
        super().__init__()
        self.act1 = ops.act(channels)
        pad_t = 0 if causal else dilation
        self.conv1 = ops.conv2d(
            channels, channels, (3, 3), (1, 1), (1, pad_t), (1, dilation), causal
        )
        self.act2 = ops.act(channels)
        self.conv2 = ops.conv2d(channels, channels, (1, 1))

    def forward(self, x: Tensor) -> Tensor:
        """``x + f(x)``."""
        return x + self.conv2(self.act2(self.conv1(self.act1(x))))


class AttnBlock(nn.Module):
    """Pre-norm residual axial attention: ``x + attn(norm(x))``; time attention is windowed."""

    def __init__(
        self, ops: Ops, channels: int, heads: int, axis: str, causal: bool, window: int
    ) -> None:
        super().__init__()
        self.norm = ops.norm(channels)
        time = axis == "time"
        self.attn = ops.attention(
            channels, heads, axis, causal and time, (window or None) if time else None
        )

    def forward(self, x: Tensor) -> Tensor:
        """``x + attn(norm(x))``."""
        return x + self.attn(self.norm(x))
