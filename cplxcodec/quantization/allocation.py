r"""Variable stage allocation: spend a file's residual-VQ stages where they buy the most.

A constant-rate file sends ``K`` stages in every frame, silence and vowels alike. With variable
allocation every block of frames ``b`` (a few frames, :data:`~cplxcodec.bitstream.vbr.VBR_BLOCK`)
sends its own count :math:`k_b \in [k_{min}, k_{max}]`, chosen to minimise the latent's squared
quantization error at a fixed mean count :math:`\bar k`,

.. math::

    \min_{k} \sum_b E_b(k_b) \quad \text{s.t.} \quad \sum_b n_b k_b \le \bar k \sum_b n_b ,

where :math:`E_b(k)` is the error of the block's frames after :math:`k` stages of one
:math:`K`-stage search (:meth:`~cplxcodec.quantization.ResidualVQ.stage_errors`) and
:math:`n_b` its frame count. This is the classic Lagrangian bit allocation (Shoham & Gersho,
"Efficient bit allocation for an arbitrary set of quantizers", IEEE Trans. ASSP 1988): for a
multiplier :math:`\lambda` every block independently picks
:math:`\arg\min_k E_b(k) + \lambda n_b k`; the mean count falls as :math:`\lambda` grows, and a
bisection on :math:`\lambda` finds the smallest one whose allocation fits the budget. The
result is optimal among allocations of its own total (on the lower convex hull of each block's
error curve) and never exceeds the budget.

Quiet frames have a small latent error after one or two stages, so their stages go to speech:
on the dev split at 6 kbps this raises PESQ-WB by about +0.25 at the same mean rate (model card,
"Variable stage allocation").
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

__all__ = ["allocate_stages", "block_bounds"]

_BISECTION_STEPS = 64


def block_bounds(n_frames: int, block: int, chunk_frames: int = 0) -> np.ndarray:
    """Block index of every frame ``(N,)`` int64: blocks of ``block`` frames that restart at
    every ``chunk_frames`` (the file's payload chunks; ``0`` = one chunk), so that a chunk's
    first frame always starts a block."""
    for name, value in (("n_frames", n_frames), ("block", block), ("chunk_frames", chunk_frames)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    frames = np.arange(n_frames, dtype=np.int64)
    if chunk_frames <= 0:
        return frames // block
    chunk, offset = frames // chunk_frames, frames % chunk_frames
    per_chunk = -(-chunk_frames // block)
    return chunk * per_chunk + offset // block


def allocate_stages(
    errors: Tensor | np.ndarray,
    mean_stages: float,
    blocks: np.ndarray,
    min_stages: int = 1,
    max_stages: int | None = None,
) -> np.ndarray:
    """Per-frame stage counts ``(N,)`` int64, one count per block, mean at most ``mean_stages``.

    Args:
        errors: ``(K + 1, N)`` squared latent error of every frame after ``0..K`` stages
            (row ``k`` = after ``k`` stages).
        mean_stages: the budget, as a mean count per frame (e.g. ``6`` for the stages of
            6 kbps, less the side information's share).
        blocks: ``(N,)`` block index of every frame, non-decreasing (:func:`block_bounds`).
        min_stages: fewest stages a block may send (``>= 1``).
        max_stages: most stages a block may send (default ``K``).

    Returns:
        Counts in ``[min_stages, max_stages]``, equal within each block. If even
        ``min_stages`` everywhere exceeds ``mean_stages``, every block gets ``min_stages``.
    """
    err = errors.detach().cpu().double().numpy() if isinstance(errors, Tensor) else errors
    err = np.asarray(err, dtype=np.float64)
    if err.ndim != 2 or err.shape[0] < 2:
        raise ValueError(f"errors must be (K + 1, N) with K >= 1, got shape {err.shape}")
    if not np.isfinite(err).all():
        raise ValueError("stage errors must be finite")
    k_all, n = err.shape[0] - 1, err.shape[1]
    max_stages = k_all if max_stages is None else max_stages
    if not 1 <= min_stages <= max_stages <= k_all:
        raise ValueError(
            f"need 1 <= min_stages <= max_stages <= {k_all}, got {min_stages}, {max_stages}"
        )
    blocks = np.asarray(blocks, dtype=np.int64)
    if blocks.shape != (n,) or (n and (blocks[0] != 0 or np.any(np.diff(blocks) < 0))):
        raise ValueError("blocks must be (N,) non-decreasing block indices starting at 0")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # (K + 1, B) block errors and (B,) block sizes
    _, first, sizes = np.unique(blocks, return_index=True, return_counts=True)
    block_err = np.add.reduceat(err, first, axis=1)
    ks = np.arange(min_stages, max_stages + 1, dtype=np.float64)
    cand = block_err[min_stages : max_stages + 1]  # (C, B)
    budget = float(mean_stages) * n

    def pick(lam: float) -> np.ndarray:
        cost = cand + lam * ks[:, None] * sizes[None, :]
        return min_stages + cost.argmin(axis=0)

    def spent(k: np.ndarray) -> float:
        return float((k * sizes).sum())

    if spent(pick(0.0)) <= budget:
        best = pick(0.0)
    else:
        # lam_hi large enough that every block takes min_stages
        lo, hi = 0.0, float(block_err.max() / max(sizes.min(), 1)) + 1.0
        while spent(pick(hi)) > budget and hi < 1e300:
            hi *= 2.0
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            if spent(pick(mid)) > budget:
                lo = mid
            else:
                hi = mid
        best = pick(hi)
    return np.repeat(best, sizes).astype(np.int64)
