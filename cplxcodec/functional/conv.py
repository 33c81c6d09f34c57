r"""Complex N-d (transposed) convolution kernels over native ``complex64`` tensors.

A complex convolution :math:`y = w \star x` with :math:`x = a + ib`, :math:`w = c + id` is
:math:`y = (c \star a - d \star b) + i(d \star a + c \star b)`. Three kernels compute it:

``"karatsuba"``
    Gauss/Karatsuba's three-product form: :math:`P_1 = c\star a`, :math:`P_2 = d\star b`,
    :math:`P_3 = (c+d)\star(a+b)`; :math:`\Re y = P_1 - P_2`, :math:`\Im y = P_3 - P_1 - P_2`,
    in a custom autograd function whose backward uses the same three-product structure
    (three fused ``convolution_backward`` calls, each returning input and weight gradients).
    With :math:`G = G_r + iG_i` the incoming gradient (PyTorch's convention,
    :math:`\partial L/\partial\Re y + i\,\partial L/\partial\Im y`), the product gradients are
    :math:`\partial L/\partial P_1 = G_r - G_i`, :math:`\partial L/\partial P_2 = -G_r - G_i`,
    :math:`\partial L/\partial P_3 = G_i`.
``"block"``
    The block-real form: one real convolution over ``2C`` channels with the weight
    :math:`\begin{pmatrix} c & -d \\ d & c\end{pmatrix}`. A complex tensor stored channels-last,
    ``(B, H, W, C)`` of interleaved (re, im) pairs, *is* a real channels-last tensor of ``2C``
    interleaved channels, so this kernel splits and merges nothing: it views the input, runs one
    channels-last real convolution (oneDNN's preferred layout) and views the output back. Its
    output is channels-last, so a stack of such layers stays copy-free.
``"native"``
    ``torch``'s own complex convolution (for reference and benchmarks).

All three agree to float32 rounding; ``benchmarks/layers.py`` measures them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["ConvImpl", "complex_conv", "block_real_weight"]

ConvImpl = Literal["karatsuba", "block", "native"]
_conv = torch.ops.aten.convolution
_conv_bwd = torch.ops.aten.convolution_backward


class _KaratsubaConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, stride, padding, dilation, transposed, output_padding, groups):  # type: ignore[override]
        xv, wv = torch.view_as_real(x), torch.view_as_real(w)
        a, b = xv[..., 0].contiguous(), xv[..., 1].contiguous()
        c, d = wv[..., 0].contiguous(), wv[..., 1].contiguous()
        geometry = (stride, padding, dilation, transposed, output_padding, groups)
        p1 = _conv(a, c, None, *geometry)
        p2 = _conv(b, d, None, *geometry)
        p3 = _conv(a + b, c + d, None, *geometry)
        ctx.save_for_backward(a, b, c, d)
        ctx.geometry = geometry
        return torch.complex(p1 - p2, p3 - p1 - p2)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        a, b, c, d = ctx.saved_tensors
        geometry = ctx.geometry
        gv = torch.view_as_real(g)
        gr, gi = gv[..., 0], gv[..., 1]
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], False]
        ga, gc, _ = _conv_bwd((gr - gi).contiguous(), a, c, None, *geometry, mask)
        gb, gd, _ = _conv_bwd((-(gr + gi)).contiguous(), b, d, None, *geometry, mask)
        gs, gcd, _ = _conv_bwd(gi.contiguous(), a + b, c + d, None, *geometry, mask)
        gx = torch.complex(ga + gs, gb + gs) if mask[0] else None
        gw = torch.complex(gc + gcd, gd + gcd) if mask[1] else None
        return gx, gw, None, None, None, None, None, None


def block_real_weight(w: Tensor, transposed: bool = False) -> Tensor:
    """Real weight acting on interleaved (re, im) channels.

    For a convolution weight ``(O, I/g, *k)`` the result is ``(2O, 2I/g, *k)`` with entry
    ``[2o+p, 2i+q] = M[p][q]``, ``M = [[re, -im], [im, re]]``; for a transposed weight
    ``(I, O/g, *k)`` it is ``[2i+q, 2o+p] = M[p][q]``.
    """
    wr, wi = w.real, w.imag
    m = torch.stack([torch.stack([wr, -wi]), torch.stack([wi, wr])])  # (p, q, A, B, *k)
    k = w.shape[2:]
    order = (2, 1, 3, 0) if transposed else (2, 0, 3, 1)  # (A, q, B, p) or (A, p, B, q)
    m = m.permute(*order, *range(4, 4 + len(k)))
    return m.reshape(2 * w.shape[0], 2 * w.shape[1], *k)


def _block_conv(x, w, stride, padding, dilation, transposed, output_padding, groups):
    squeeze = x.dim() == 3  # 1-d: run as 2-d with a unit height so channels-last applies
    if squeeze:
        x = x.unsqueeze(2)
        w = w.unsqueeze(2)
        stride, padding, dilation, output_padding = (
            [1, *stride],
            [0, *padding],
            [1, *dilation],
            [0, *output_padding],
        )
    if x.dim() != 4:
        raise ValueError("the block kernel supports 1-d and 2-d convolutions")
    x = x.contiguous(memory_format=torch.channels_last)  # no-op for channels-last input
    b, c, h, wd = x.shape
    xr = torch.view_as_real(x).permute(0, 1, 4, 2, 3).reshape(b, 2 * c, h, wd)
    wb = block_real_weight(w, transposed).contiguous(memory_format=torch.channels_last)
    y = _conv(xr, wb, None, stride, padding, dilation, transposed, output_padding, groups)
    y = y.contiguous(memory_format=torch.channels_last)
    bo, c2, ho, wo = y.shape
    out = torch.view_as_complex(y.reshape(bo, c2 // 2, 2, ho, wo).permute(0, 1, 3, 4, 2))
    return out.squeeze(2) if squeeze else out


def _native_conv(x, w, stride, padding, dilation, transposed, output_padding, groups):
    dim = x.dim() - 2
    fns = {
        (1, False): F.conv1d,
        (2, False): F.conv2d,
        (3, False): F.conv3d,
        (1, True): F.conv_transpose1d,
        (2, True): F.conv_transpose2d,
        (3, True): F.conv_transpose3d,
    }
    if transposed:
        return fns[(dim, True)](x, w, None, stride, padding, output_padding, groups, dilation)
    return fns[(dim, False)](x, w, None, stride, padding, dilation, groups)


def complex_conv(
    x: Tensor,
    weight: Tensor,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int = 1,
    transposed: bool = False,
    output_padding: Sequence[int] | None = None,
    impl: ConvImpl = "block",
) -> Tensor:
    """Complex convolution of ``x`` ``(B, C, *spatial)`` with complex ``weight`` (no bias).

    Arguments follow :func:`torch.nn.functional.conv2d` / ``conv_transpose2d`` with explicit
    per-dimension sequences; ``impl`` selects the kernel (see the module docstring).
    """
    stride, padding, dilation = list(stride), list(padding), list(dilation)
    output_padding = list(output_padding) if output_padding is not None else [0] * len(stride)
    if impl == "karatsuba":
        return _KaratsubaConv.apply(
            x, weight, stride, padding, dilation, transposed, output_padding, groups
        )
    if impl == "block":
        return _block_conv(x, weight, stride, padding, dilation, transposed, output_padding, groups)
    if impl == "native":
        return _native_conv(
            x, weight, stride, padding, dilation, transposed, output_padding, groups
        )
    raise ValueError(f"unknown convolution kernel {impl!r}; use 'karatsuba', 'block' or 'native'")
