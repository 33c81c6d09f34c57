r"""The real-row layout in which the quantizer measures distances between complex vectors.

A complex latent frame :math:`z \in \mathbb{C}^D` is stored as the real vector

.. math::

    \rho(z) = (\operatorname{Re} z_1, \operatorname{Im} z_1, \ldots,
               \operatorname{Re} z_D, \operatorname{Im} z_D) \in \mathbb{R}^{2D},

which is exactly the memory layout of :func:`torch.view_as_real` (real and imaginary parts
interleaved per channel). The map :math:`\rho` is a linear isometry:

.. math::

    \lVert z - c \rVert^2 = \sum_{d=1}^{D} |z_d - c_d|^2
    = \sum_{d=1}^{D} (\operatorname{Re}(z_d - c_d))^2 + (\operatorname{Im}(z_d - c_d))^2
    = \lVert \rho(z) - \rho(c) \rVert_2^2 ,

so nearest-neighbour search, k-means and EMA means over complex codewords are the same
computations as their real counterparts on :math:`\rho`-rows. Codebooks are therefore kept as
real ``float32`` buffers of shape ``(codebook_size, 2D)``; this is the named real boundary of the
quantizer (see DESIGN.md, "Conventions").

Shapes: a latent ``(B, D, N)`` complex64 becomes rows ``(B * N, 2D)`` float32, row ``b * N + n``
holding frame ``n`` of example ``b``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["latent_to_rows", "rows_to_latent", "rows_to_complex"]


def latent_to_rows(z: Tensor) -> Tensor:
    """Complex latent ``(B, D, N)`` complex64 → real rows ``(B * N, 2D)`` float32.

    Differentiable (``torch.view_as_real`` is), so it may be applied to a tensor that requires
    grad.
    """
    b, d, n = z.shape
    return torch.view_as_real(z.transpose(1, 2).contiguous()).reshape(b * n, 2 * d)


def rows_to_complex(rows: Tensor) -> Tensor:
    """Real rows ``(M, 2D)`` float32 → complex vectors ``(M, D)`` complex64."""
    m, two_d = rows.shape
    return torch.view_as_complex(rows.reshape(m, two_d // 2, 2).contiguous())


def rows_to_latent(rows: Tensor, batch: int, frames: int) -> Tensor:
    """Real rows ``(B * N, 2D)`` float32 → complex latent ``(B, D, N)`` complex64."""
    vectors = rows_to_complex(rows)  # (B*N, D)
    return vectors.reshape(batch, frames, -1).transpose(1, 2).contiguous()
