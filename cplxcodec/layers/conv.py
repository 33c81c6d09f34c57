r"""Complex (transposed) convolutions in 1-d and 2-d, built once from a shared base.

Each layer holds a complex ``weight`` (and optional complex ``bias``) initialised with the
Trabelsi Rayleigh/uniform-phase scheme (:mod:`cplxcodec.layers.init`) and computes
:math:`y = w \star x + b` on native ``complex64`` tensors. Argument names follow
:class:`torch.nn.Conv2d` / :class:`torch.nn.ConvTranspose2d`; in addition:

``causal=True``
    The last axis is time: the convolution sees only present and past frames. For a convolution
    the time axis is padded on the left by ``dilation·(k−1)`` (``padding`` then applies to the
    other axes only); for a transposed convolution the extra ``dilation·(k−1)+1−stride`` output
    frames are trimmed on the right, so output frame ``t`` depends on input frames ``≤ t/stride``.
``impl``
    The kernel (:mod:`cplxcodec.functional.conv`): ``"karatsuba"`` (default: Gauss's three real
    convolutions, the fastest measured by ``benchmarks/layers.py`` for 1-d, 2-d and transposed
    layers; its output keeps the input's layout), ``"block"`` (one block-real convolution;
    channels-last complex outputs) or ``"native"`` (torch's complex convolution). The complex
    ``bias`` is fused into the kernel's real convolutions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cplxcodec.functional.conv import ConvImpl, complex_conv
from cplxcodec.layers._checks import check_complex
from cplxcodec.layers.init import Criterion, complex_init_

__all__ = [
    "ComplexConv1d",
    "ComplexConv2d",
    "ComplexConvTranspose1d",
    "ComplexConvTranspose2d",
]


def _tuple(v: int | tuple[int, ...], n: int, name: str) -> tuple[int, ...]:
    t = (v,) * n if isinstance(v, int) else tuple(v)
    if len(t) != n or not all(isinstance(i, int) for i in t):
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {v!r}")
    return t


class _ComplexConvNd(nn.Module):
    """Shared implementation of the complex (transposed) N-d convolutions."""

    _ndim: int = 0
    _transposed: bool = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | str = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        output_padding: int | tuple[int, ...] = 0,
        causal: bool = False,
        init: Criterion = "glorot",
        impl: ConvImpl = "karatsuba",
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.complex64,
    ) -> None:
        super().__init__()
        n = self._ndim
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError("in_channels and out_channels must be positive")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                f"divisible by groups ({groups})"
            )
        if not dtype.is_complex:
            raise TypeError(f"dtype must be complex, got {dtype}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _tuple(kernel_size, n, "kernel_size")
        self.stride = _tuple(stride, n, "stride")
        self.dilation = _tuple(dilation, n, "dilation")
        self.output_padding = _tuple(output_padding, n, "output_padding")
        self.causal, self.impl = causal, impl
        if isinstance(padding, str):
            if padding != "same" or self._transposed:
                raise ValueError(f"padding={padding!r} is not supported here; use ints or 'same'")
            if any(s != 1 for s in self.stride):
                raise ValueError("padding='same' needs stride 1")
            self._same = True
            self.padding = tuple(d * (k - 1) // 2 for d, k in zip(self.dilation, self.kernel_size))
        else:
            self._same = False
            self.padding = _tuple(padding, n, "padding")
        if causal and self.padding[-1] != 0 and not self._same:
            raise ValueError("causal=True pads the time axis itself: give padding 0 on time")
        if self._transposed:
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = nn.Parameter(torch.empty(shape, dtype=dtype, device=device))
        self.bias = (
            nn.Parameter(torch.zeros(out_channels, dtype=dtype, device=device)) if bias else None
        )
        self.init = init
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Trabelsi initialisation of the weight; zero bias."""
        complex_init_(self.weight, self.init, transposed=self._transposed)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def _time_extent(self) -> int:
        return self.dilation[-1] * (self.kernel_size[-1] - 1)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the layer to ``(B, C_in, *spatial)`` complex input."""
        n = self._ndim
        hint = "(B, C, L)" if n == 1 else "(B, C, H, W)"
        check_complex(x, type(self).__name__, n + 2, hint)
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects {self.in_channels} input channels, "
                f"got {x.shape[1]} (input shape {tuple(x.shape)})"
            )
        padding = list(self.padding)
        if self.causal and not self._transposed:
            padding[-1] = 0
            pad = [0] * (2 * n)
            pad[0] = self._time_extent()  # F.pad lists the last axis first: (left, right, ...)
            x = F.pad(x, pad)
        elif self._same and self.causal is False:
            total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            if any(t % 2 for t in total):  # even kernels: pad asymmetrically like torch
                pad = []
                for t in reversed(total):
                    pad += [t // 2, t - t // 2]
                x = F.pad(x, pad)
                padding = [0] * n
        y = complex_conv(
            x,
            self.weight,
            self.stride,
            padding,
            self.dilation,
            self.groups,
            self._transposed,
            self.output_padding if self._transposed else None,
            impl=self.impl,
            bias=self.bias,
        )
        if self.causal and self._transposed:
            trim = self._time_extent() + 1 - self.stride[-1]
            if trim > 0:
                y = y[..., : y.shape[-1] - trim]
        return y

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}"
        )
        if any(d != 1 for d in self.dilation):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.causal:
            s += ", causal=True"
        if self.bias is None:
            s += ", bias=False"
        return s + f", impl={self.impl!r}"


class ComplexConv1d(_ComplexConvNd):
    """Complex 1-d convolution: ``(B, C_in, L)`` → ``(B, C_out, L_out)`` (see module docstring)."""

    _ndim = 1


class ComplexConv2d(_ComplexConvNd):
    """Complex 2-d convolution: ``(B, C_in, H, W)`` → ``(B, C_out, H', W')``.

    For spectrograms ``(B, C, F, N)`` the last axis is time (``causal`` acts on it).
    """

    _ndim = 2


class ComplexConvTranspose1d(_ComplexConvNd):
    """Complex 1-d transposed convolution (weight ``(C_in, C_out/groups, k)``)."""

    _ndim = 1
    _transposed = True


class ComplexConvTranspose2d(_ComplexConvNd):
    """Complex 2-d transposed convolution (weight ``(C_in, C_out/groups, kH, kW)``)."""

    _ndim = 2
    _transposed = True
