r"""Nearest-codeword search by one matrix product per chunk of rows.

For rows :math:`x_m \in \mathbb{R}^{P}` and codewords :math:`c_s \in \mathbb{R}^{P}`,

.. math::

    \lVert x_m - c_s \rVert^2 = \lVert x_m \rVert^2 - 2\, x_m^\top c_s + \lVert c_s \rVert^2 .

The first term does not depend on :math:`s`, so

.. math::

    \arg\min_s \lVert x_m - c_s \rVert^2 = \arg\min_s (\lVert c_s \rVert^2 - 2\, x_m^\top c_s),

computed with a single ``addmm`` (a GEMM) per chunk. Rows are processed in chunks so that the
``(rows, codebook_size)`` score matrix stays below ``max_elements`` entries (16 MiB of float32 by
default), whatever the batch size.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["nearest_code"]

_DEFAULT_MAX_ELEMENTS = 1 << 22


def nearest_code(
    x: Tensor, codebook: Tensor, *, max_elements: int = _DEFAULT_MAX_ELEMENTS
) -> Tensor:
    """Index of the nearest codeword (squared Euclidean distance) for every row.

    Args:
        x: rows ``(M, P)`` float32.
        codebook: codewords ``(S, P)`` float32.
        max_elements: largest score matrix computed at once (rows per chunk =
            ``max(1, max_elements // S)``).

    Returns:
        ``(M,)`` int64 indices in ``[0, S)``; ties go to the lowest index.
    """
    if x.ndim != 2 or codebook.ndim != 2 or x.shape[1] != codebook.shape[1]:
        raise ValueError(
            f"nearest_code expects rows (M, P) and codebook (S, P), got {tuple(x.shape)} "
            f"and {tuple(codebook.shape)}"
        )
    m, s = x.shape[0], codebook.shape[0]
    out = torch.empty(m, dtype=torch.long, device=x.device)
    if m == 0:
        return out
    c_sq = codebook.pow(2).sum(dim=1)  # (S,)
    c_t = codebook.t()
    step = max(1, max_elements // max(s, 1))
    for start in range(0, m, step):
        chunk = x[start : start + step]
        scores = torch.addmm(c_sq, chunk, c_t, beta=1.0, alpha=-2.0)  # ||c||² − 2 x·c
        out[start : start + step] = scores.argmin(dim=1)
    return out
