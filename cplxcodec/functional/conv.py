r"""Complex N-d (transposed) convolution kernels over native ``complex64`` tensors.

A complex convolution :math:`y = w \star x` with :math:`x = a + ib`, :math:`w = c + id` is
:math:`y = (c \star a - d \star b) + i(d \star a + c \star b)`. Three kernels compute it:

``"karatsuba"`` (default)
    Gauss's three-product form (the 3M trick behind Karatsuba's algorithm) in the variant whose
    real and imaginary parts each need one combination:
    :math:`k_1 = c\star(a+b)`, :math:`k_2 = (d-c)\star a`, :math:`k_3 = (c+d)\star b`;
    :math:`\Re y = k_1 - k_3`, :math:`\Im y = k_1 + k_2`. It costs three real convolutions
    (the four-convolution and block forms cost four) plus four elementwise passes: one strided
    copy de-interleaves :math:`(a, b)` into a preallocated ``(3, B, C, ...)`` buffer, one
    ``out=`` add writes :math:`a+b` into its third plane, and two ``out=`` ops write
    :math:`\Re y`, :math:`\Im y` straight into ``view_as_real`` of the complex output (no
    ``torch.complex`` merge). The complex bias rides in the real convolutions' fused bias
    (:math:`b_2 = \Im\beta` on :math:`k_2`, :math:`b_3 = -\Re\beta` on :math:`k_3`). The
    backward is a custom autograd function with the same structure. With
    :math:`G = G_r + iG_i` the incoming gradient (PyTorch's convention,
    :math:`\partial L/\partial\Re y + i\,\partial L/\partial\Im y`), the product gradients are
    :math:`\partial L/\partial k_1 = G_r + G_i`, :math:`\partial L/\partial k_2 = G_i`,
    :math:`\partial L/\partial k_3 = -G_r`; by linearity the kernel back-propagates
    :math:`+G_r` through :math:`k_3` and flips signs in the (cheap) combinations, so the grad
    planes are again one de-interleaving copy and one add. Three ``convolution_backward`` calls
    return :math:`s_j` (input) and :math:`W_j` (weight) gradients, and
    :math:`\partial L/\partial a = s_1 + s_2`, :math:`\partial L/\partial b = s_1 - s_3`,
    :math:`\partial L/\partial c = W_1 - W_2 - W_3`, :math:`\partial L/\partial d = W_2 - W_3`.
    The real planes take the input's layout: a channels-last complex input gives channels-last
    planes and output, anything else the standard layout. Not twice differentiable (the 1×1
    route below is).

    Two shapes take faster routes to the same result (``benchmarks/fast_paths.py`` times each
    against Gauss's form): a plain ``1×1`` convolution of standard-layout input is one batched
    complex GEMM (:func:`_pointwise`: 2× forward, 2.4× forward + backward), and a strided
    transposed convolution with at most ``_SUBPIXEL_MAX_OUT`` output channels and standard-layout
    input is a stride-1 convolution over its kernel phases plus a pixel shuffle
    (:func:`_subpixel_transposed`: about 3× both ways for the codec's last upsampler). Both return
    contiguous output, as the general route does for standard-layout input.
``"block"``
    The block-real form: one real convolution over ``2C`` channels with the weight
    :math:`\begin{pmatrix} c & -d \\ d & c\end{pmatrix}`. A complex tensor stored channels-last,
    ``(B, H, W, C)`` of interleaved (re, im) pairs, *is* a real channels-last tensor of ``2C``
    interleaved channels, so this kernel splits and merges nothing: it views the input, runs one
    channels-last real convolution (oneDNN's preferred layout) and views the output back. Its
    output is channels-last, so a stack of such layers stays copy-free.
``"native"``
    ``torch``'s own complex convolution (for reference and benchmarks). It also uses Gauss's
    form, but through autograd of generic real ops, with more copies and elementwise passes.

All three agree to float32 rounding (complex128 gradchecks pass). ``benchmarks/layers.py``
measures them: on 2 AVX2 cores ``"karatsuba"`` is the fastest in every case measured (1-d, 2-d,
transposed, a stack of four layers); ``"block"`` pays for a 4-conv FLOP count and a slow
channels-last weight gradient at ``2C`` channels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["ConvImpl", "complex_conv", "block_real_weight"]

ConvImpl = Literal["karatsuba", "block", "native"]
_conv = torch.ops.aten.convolution
_conv_bwd = torch.ops.aten.convolution_backward


def _planes(z: Tensor, channels_last: bool) -> Tensor:
    """Real planes ``(3, B, C, *S)`` of complex ``z``: ``[Re z, Im z, <uninitialised>]``.

    One strided copy de-interleaves ``z``; the third plane is left for the caller's sum. With
    ``channels_last`` (4-d only) each plane is a channels-last tensor.
    """
    zr = torch.view_as_real(z.resolve_conj())  # a lazily conjugated grad cannot be viewed
    if channels_last:
        b, c, h, w = z.shape
        buf = zr.new_empty((3, b, h, w, c))
        buf[:2].copy_(zr.permute(4, 0, 2, 3, 1))
        return buf.permute(0, 1, 4, 2, 3)
    buf = zr.new_empty((3, *z.shape))
    buf[:2].copy_(zr.movedim(-1, 0))
    return buf


def _empty_complex(shape: Sequence[int], like: Tensor, channels_last: bool) -> Tensor:
    if channels_last:
        b, c, h, w = shape
        return like.new_empty((b, h, w, c)).permute(0, 3, 1, 2)
    return like.new_empty(tuple(shape))


def _is_channels_last(x: Tensor) -> bool:
    return (
        x.dim() == 4
        and x.is_contiguous(memory_format=torch.channels_last)
        and not x.is_contiguous()
    )


class _KaratsubaConv(torch.autograd.Function):
    """Gauss's three-product complex convolution with a fused, copy-lean backward."""

    @staticmethod
    def forward(ctx, x, w, bias, geometry, channels_last):  # type: ignore[override]
        xs = _planes(x, channels_last)  # [a, b, a + b]
        torch.add(xs[0], xs[1], out=xs[2])
        wv = torch.view_as_real(w.resolve_conj())
        c, d = wv[..., 0], wv[..., 1]
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        wc, wdc, wcd = (t.contiguous(memory_format=fmt) for t in (c, d - c, c + d))
        b2 = b3 = None
        if bias is not None:  # re y gains -b3 = Re bias, im y gains b2 = Im bias
            bv = torch.view_as_real(bias.resolve_conj())
            b2, b3 = bv[..., 1].contiguous(), -bv[..., 0]
        k1 = _conv(xs[2], wc, None, *geometry)
        k2 = _conv(xs[0], wdc, b2, *geometry)
        k3 = _conv(xs[1], wcd, b3, *geometry)
        out = _empty_complex(k1.shape, x, channels_last)
        ov = torch.view_as_real(out)
        torch.sub(k1, k3, out=ov[..., 0])
        torch.add(k1, k2, out=ov[..., 1])
        ctx.save_for_backward(xs, wc, wdc, wcd)
        ctx.geometry, ctx.channels_last = geometry, channels_last
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):  # type: ignore[override]
        xs, wc, wdc, wcd = ctx.saved_tensors
        geometry, channels_last = ctx.geometry, ctx.channels_last
        gs = _planes(g, channels_last)  # [G_r, G_i, G_r + G_i]
        torch.add(gs[0], gs[1], out=gs[2])
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        mask = [need_x, need_w, False]
        transposed, groups = geometry[3], geometry[5]
        bsize = [wc.shape[1] * groups if transposed else wc.shape[0]]
        s1, w1, _ = _conv_bwd(gs[2], xs[2], wc, None, *geometry, mask)
        s2, w2, b2 = _conv_bwd(gs[1], xs[0], wdc, bsize, *geometry, [need_x, need_w, need_b])
        s3, w3, b3 = _conv_bwd(gs[0], xs[1], wcd, bsize, *geometry, [need_x, need_w, need_b])
        gx = gw = gb = None
        if need_x:
            gx = _empty_complex(s1.shape, g, channels_last)
            xv = torch.view_as_real(gx)
            torch.add(s1, s2, out=xv[..., 0])
            torch.sub(s1, s3, out=xv[..., 1])
        if need_w:
            gw = torch.complex(w1 - w2 - w3, w2 - w3)
        if need_b:
            gb = torch.complex(b3, b2)
        return gx, gw, gb, None, None


_SUBPIXEL_MAX_OUT = 4  # transposed convolutions with at most this many outputs use sub-pixel form


def _plain_operands(x: Tensor, w: Tensor, bias: Tensor | None, in_axis: int) -> bool:
    """Operands the fast routes may take: matching dtypes and channel counts, no empty axis.

    Anything else goes to torch's convolution, whose checks raise the usual clear errors.
    """
    return (
        x.dim() == w.dim()
        and x.dtype == w.dtype
        and (bias is None or bias.dtype == x.dtype)
        and x.shape[1] == w.shape[in_axis]
        and all(n > 0 for n in x.shape[2:])
    )


def _is_pointwise(w: Tensor, geometry) -> bool:
    stride, padding, dilation, transposed, _, groups = geometry
    return (
        not transposed
        and groups == 1
        and all(k == 1 for k in w.shape[2:])
        and all(v == 1 for v in (*stride, *dilation))
        and all(p == 0 for p in padding)
    )


def _pointwise(x: Tensor, w: Tensor, bias: Tensor | None) -> Tensor:
    r"""A ``1×1`` complex convolution as one batched complex GEMM: :math:`y_b = W x_b + \beta`.

    A complex GEMM (``cgemm``) reads the interleaved input in place; Gauss's form would first
    de-interleave it and run three thin real convolutions. ``benchmarks/fast_paths.py``: about
    2× faster forward and 2.4× forward + backward at the decoder's widths on 2 cores.
    """
    b, c = x.shape[:2]
    spatial = x.shape[2:]
    wm = w.reshape(w.shape[0], c).expand(b, -1, -1)
    xm = x.flatten(2)
    if bias is None:
        y = torch.bmm(wm, xm)
    else:
        y = torch.baddbmm(bias.view(1, -1, 1).expand(b, -1, xm.shape[2]), wm, xm)
    return y.view(b, w.shape[0], *spatial)


def _subpixel_plan(size: int, k: int, s: int, p: int, out: int) -> tuple[int, int, int, int]:
    """One axis of a transposed convolution as a stride-1 convolution plus a shuffle.

    ``size`` input and ``out`` output samples, kernel ``k``, stride ``s``, padding ``p``. Returns
    ``(M, left, right, offset)``: the per-phase kernel length ``M = ceil(k / s)``, the input
    padding (negative = crop) and the start of the ``out``-sample crop of the shuffled output.
    """
    m = -(-k // s)
    q_lo, q_hi = p // s, (out - 1 + p) // s
    left = m - 1 - q_lo
    right = (q_hi - q_lo + 1) + m - 1 - size - left
    return m, left, right, p - s * q_lo


def _subpixel_transposed(x: Tensor, w: Tensor, bias: Tensor | None, geometry) -> Tensor | None:
    r"""A strided transposed convolution as one stride-1 convolution and a pixel shuffle.

    Output sample ``o`` of a transposed convolution with stride ``s`` along an axis only sees
    the kernel taps ``k ≡ o + p (mod s)``: split the kernel into its ``s`` phases
    :math:`w_r[m] = w[r + s m]`, run all phases as the ``s·C_out`` output channels of one
    ordinary convolution over the (padded) input with the flipped phase kernels, and interleave
    the phases. Same arithmetic (and FLOPs when ``s`` divides the kernel), but it avoids oneDNN's
    deconvolution, which is slow for a handful of output channels: for the decoder's last
    upsampler (24 → 1 channels, kernel ``(16, 3)``, stride 8) it is about 3× faster forward and
    forward + backward on 2 cores (``benchmarks/fast_paths.py``), while at 24 output channels
    the deconvolution is as fast. So it is used for at most ``_SUBPIXEL_MAX_OUT`` output
    channels. Returns ``None`` where it does not apply (more output channels, groups, dilation,
    no stride above 1, channels-last input, mismatched operands or an invalid geometry, which
    torch then reports): the caller falls back.
    """
    stride, padding, dilation, _, output_padding, groups = geometry
    if groups != 1 or any(d != 1 for d in dilation) or all(s == 1 for s in stride):
        return None
    if w.shape[1] > _SUBPIXEL_MAX_OUT or not _plain_operands(x, w, bias, 0):
        return None
    if _is_channels_last(x):  # the deconvolution keeps a channels-last layout; this would not
        return None
    if any(p < 0 for p in padding) or any(op >= s for op, s in zip(output_padding, stride)):
        return None  # invalid geometry: let torch raise its error
    sizes = [
        (x.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + w.shape[2 + i] + output_padding[i]
        for i in range(len(stride))
    ]
    if any(n <= 0 for n in sizes):
        return None
    n = len(stride)
    ks = w.shape[2:]
    plans = [
        _subpixel_plan(x.shape[2 + i], ks[i], stride[i], padding[i], sizes[i]) for i in range(n)
    ]
    ms = [pl[0] for pl in plans]
    # weight (C_in, C_out, *K) -> zero-pad K to s*M -> (C_in, C_out, M_1, s_1, ...) -> flip M
    pad_w: list[int] = []
    for i in reversed(range(n)):
        pad_w += [0, stride[i] * ms[i] - ks[i]]
    wp = torch.view_as_complex(F.pad(torch.view_as_real(w.resolve_conj()), [0, 0, *pad_w]))
    c_in, c_out = w.shape[:2]
    shape = [c_in, c_out]
    for i in range(n):
        shape += [ms[i], stride[i]]
    wp = wp.reshape(shape).flip([2 + 2 * i for i in range(n)])
    # -> (C_out, s_1, ..., s_n, C_in, M_1, ..., M_n): phases become output channels
    order = [1, *(3 + 2 * i for i in range(n)), 0, *(2 + 2 * i for i in range(n))]
    n_phase = math.prod(stride)
    wc = wp.permute(order).reshape(c_out * n_phase, c_in, *ms)
    bc = bias.repeat_interleave(n_phase) if bias is not None else None
    pad_x: list[int] = []
    for i in reversed(range(n)):
        pad_x += [plans[i][1], plans[i][2]]
    xp = F.pad(x, pad_x)
    ones = [1] * n
    sub = (ones, [0] * n, ones, False, [0] * n, 1)
    z = _KaratsubaConv.apply(xp, wc, bc, sub, _is_channels_last(xp))
    b = z.shape[0]
    nq = z.shape[2:]
    z = z.reshape(b, c_out, *stride, *nq)
    order = [0, 1]
    for i in range(n):
        order += [2 + n + i, 2 + i]
    shuffled = z.permute(order).reshape(b, c_out, *(nq[i] * stride[i] for i in range(n)))
    index = [slice(None), slice(None)]
    for i in range(n):
        index.append(slice(plans[i][3], plans[i][3] + sizes[i]))
    return shuffled[tuple(index)].contiguous()  # the layout the deconvolution returned


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


def _block_conv(x, w, bias, stride, padding, dilation, transposed, output_padding, groups):
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
    x = x.resolve_conj().contiguous(memory_format=torch.channels_last)  # no-op if channels-last
    b, c, h, wd = x.shape
    xr = torch.view_as_real(x).permute(0, 1, 4, 2, 3).reshape(b, 2 * c, h, wd)
    wb = block_real_weight(w, transposed).contiguous(memory_format=torch.channels_last)
    br = torch.view_as_real(bias.resolve_conj()).reshape(-1) if bias is not None else None
    y = _conv(xr, wb, br, stride, padding, dilation, transposed, output_padding, groups)
    y = y.contiguous(memory_format=torch.channels_last)
    bo, c2, ho, wo = y.shape
    out = torch.view_as_complex(y.reshape(bo, c2 // 2, 2, ho, wo).permute(0, 1, 3, 4, 2))
    return out.squeeze(2) if squeeze else out


def _native_conv(x, w, bias, stride, padding, dilation, transposed, output_padding, groups):
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
        return fns[(dim, True)](x, w, bias, stride, padding, output_padding, groups, dilation)
    return fns[(dim, False)](x, w, bias, stride, padding, dilation, groups)


def complex_conv(
    x: Tensor,
    weight: Tensor,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int = 1,
    transposed: bool = False,
    output_padding: Sequence[int] | None = None,
    impl: ConvImpl = "karatsuba",
    bias: Tensor | None = None,
) -> Tensor:
    """Complex convolution of ``x`` ``(B, C, *spatial)`` with complex ``weight`` and ``bias``.

    Arguments follow :func:`torch.nn.functional.conv2d` / ``conv_transpose2d`` with explicit
    per-dimension sequences; ``impl`` selects the kernel (see the module docstring). ``bias``
    (complex, ``(C_out,)``) is fused into the kernel's real convolutions, not added afterwards.
    """
    stride, padding, dilation = list(stride), list(padding), list(dilation)
    output_padding = list(output_padding) if output_padding is not None else [0] * len(stride)
    geometry = (stride, padding, dilation, transposed, output_padding, groups)
    if impl == "karatsuba":
        channels_last = _is_channels_last(x)
        if transposed:
            y = _subpixel_transposed(x, weight, bias, geometry)
            if y is not None:
                return y
        elif (
            not channels_last
            and _is_pointwise(weight, geometry)
            and _plain_operands(x, weight, bias, 1)
        ):
            return _pointwise(x, weight, bias)
        return _KaratsubaConv.apply(x, weight, bias, geometry, channels_last)
    if impl == "block":
        return _block_conv(x, weight, bias, *geometry)
    if impl == "native":
        return _native_conv(x, weight, bias, *geometry)
    raise ValueError(f"unknown convolution kernel {impl!r}; use 'karatsuba', 'block' or 'native'")
