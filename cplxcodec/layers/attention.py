r"""Complex multi-head self-attention along one axis of a ``(B, C, F, N)`` tensor.

For complex queries and keys the score is the real part of the Hermitian inner product,

.. math::
    s_{tu} = \frac{\Re(q_t k_u^H)}{\sqrt d} = \frac{\Re q_t\cdot\Re k_u + \Im q_t\cdot\Im k_u}{\sqrt d},

i.e. an ordinary real dot product between the real and imaginary parts of :math:`q` and
:math:`k` laid out side by side (``view_as_real``'s interleaved order, so that the heads are
views of the projection), with ``d`` the complex head dimension. Weights are a real softmax over
:math:`u`; values stay complex, :math:`o_t = \sum_u a_{tu} v_u`, computed on the same real
layout of :math:`v`. So the whole attention is **one** call of
:func:`torch.nn.functional.scaled_dot_product_attention` on real tensors of width ``2d`` with
``scale = 1/sqrt(d)`` (and ``is_causal`` for causal attention), which uses the fused kernels.

Properties (tested): with bias-free projections (the default) the layer is equivariant to a
global phase rotation :math:`e^{i\theta}` of its input (scores are invariant because
:math:`\Re(e^{i\theta}q\,\overline{e^{i\theta}k}) = \Re(q\bar k)`, values rotate); it has no
positional encoding, so it is permutation-equivariant along its axis (position comes from the
surrounding convolutions); with ``causal=True`` output ``t`` depends on inputs ``≤ t`` only.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cplxcodec.functional.attention import banded_attention, small_attention
from cplxcodec.layers._checks import check_complex
from cplxcodec.layers.linear import ComplexLinear

__all__ = ["ComplexAxialAttention"]

_SMALL = 64  # sequences up to this length use explicit matmuls at inference (scores are tiny)


class ComplexAxialAttention(nn.Module):
    """Multi-head self-attention along the frequency or time axis of ``(B, C, F, N)`` input.

    Args:
        channels: ``C``, the embedding width (complex).
        heads: number of heads; ``channels`` must be divisible by it.
        axis: ``"freq"`` attends across the ``F`` bins of each frame, ``"time"`` across the ``N``
            frames of each bin.
        causal: mask future positions (meaningful for ``axis="time"``).
        window: if given, position ``t`` attends only to ``|t - u| <= window`` (local attention,
            computed blockwise in O(L·window); a finite receptive field).
        bias: add complex biases to the projections (breaks phase equivariance; off by default).
        dropout: attention dropout probability in training.
    """

    def __init__(
        self,
        channels: int,
        heads: int = 4,
        axis: Literal["freq", "time"] = "time",
        causal: bool = False,
        window: int | None = None,
        bias: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if axis not in ("freq", "time"):
            raise ValueError(f"axis must be 'freq' or 'time', got {axis!r}")
        if heads <= 0 or channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.channels, self.heads, self.axis, self.causal = channels, heads, axis, causal
        if window is not None and window <= 0:
            raise ValueError(f"window must be a positive number of positions, got {window}")
        self.window = window
        self.head_dim = channels // heads
        self.dropout = dropout
        self.qkv = ComplexLinear(channels, 3 * channels, bias=bias)
        self.out = ComplexLinear(channels, channels, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """Attend along ``axis``; returns a tensor of the input's shape."""
        check_complex(x, "ComplexAxialAttention", 4, "(B, C, F, N)")
        b, c, f, n = x.shape
        if c != self.channels:
            raise ValueError(f"ComplexAxialAttention expects {self.channels} channels, got {c}")
        if self.axis == "time":
            seq = x.permute(0, 2, 3, 1).reshape(b * f, n, c)  # (B·F, N, C)
        else:
            seq = x.permute(0, 3, 2, 1).reshape(b * n, f, c)  # (B·N, F, C)
        s, length = seq.shape[0], seq.shape[1]
        qkv = self.qkv(seq).view(s, length, 3, self.heads, self.head_dim)
        # real layout per head: view_as_real's [Re q_0, Im q_0, Re q_1, ...] (any order of the
        # 2d components serves, the same for q, k and v), so q, k, v are strided views of the
        # projection, (S, H, L, 2d) each, with no copy
        qkv = torch.view_as_real(qkv).view(s, length, 3, self.heads, 2 * self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        needs_grad = torch.is_grad_enabled() and q.requires_grad
        if self.window is not None:
            o = banded_attention(q, k, v, self.window, self.causal, scale=self.head_dim**-0.5)
        elif length <= _SMALL and not (self.causal or needs_grad or self._dropping()):
            # short axis at inference: two matmuls beat the fused kernel's per-row overhead (its
            # backward is the faster one, so training keeps it)
            o = small_attention(q, k, v, self.head_dim**-0.5)
        else:
            o = F.scaled_dot_product_attention(
                q,
                k,
                v,
                dropout_p=self.dropout if self.training else 0.0,
                is_causal=self.causal,
                scale=self.head_dim**-0.5,
            )  # (S, H, L, 2d)
        o = o.transpose(1, 2).reshape(s, length, self.heads, self.head_dim, 2)  # (S, L, H, d, 2)
        o = torch.view_as_complex(o).reshape(s, length, c)
        o = self.out(o)
        if self.axis == "time":
            return o.view(b, f, n, c).permute(0, 3, 1, 2)
        return o.view(b, n, f, c).permute(0, 3, 2, 1)

    def _dropping(self) -> bool:
        return self.training and self.dropout > 0

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, heads={self.heads}, axis={self.axis!r}, "
            f"causal={self.causal}, window={self.window}"
        )
