"""Rate control of variable stage allocation: the stage budget of a file, side information paid.

A file coded at the nominal rate of ``K`` stages may spend ``K · log2(V)`` bits per frame on
average. With variable allocation some of that pays for the block counts
(:mod:`cplxcodec.bitstream.vbr`), so :func:`allocate_file` allocates a few times, moving the
target mean by what the last allocation overspent or left unspent (counts plus side information,
in stages), and keeps the fullest allocation that fits. The file stays at or under the nominal
rate before entropy coding of the codes (which only lowers it further).
"""

from __future__ import annotations

import math

import numpy as np
from torch import Tensor

from cplxcodec.bitstream.vbr import MAX_DELTA, count_bits
from cplxcodec.quantization.allocation import allocate_stages, block_bounds

__all__ = [
    "ALLOCATION_BEAM",
    "SIDE_OVERHEAD_BITS",
    "allocate_file",
    "allocation_beam",
    "side_bits",
    "stage_budget",
]

#: Search width of the full-depth search whose errors drive the allocation, when the encoder
#: does not refine. The codes at each frame's count are still searched with the file's beam;
#: only the error curves come from a greedy search. With the bundled 16-stage model on 17 dev
#: segments: PESQ-WB −0.015 at 6 kbps and ±0 at 12 against beam-8 curves, for encoding at 61×
#: instead of 29× real time at 6 kbps (2 threads; model card, "Four more stages").
ALLOCATION_BEAM = 1

_RATE_STEPS = 40
_RATE_TOLERANCE = 0.01  # stages per frame left unspent at most, when reachable

#: Fixed cost of the counts stream per payload chunk: its u32 length and the two ANS state words.
SIDE_OVERHEAD_BITS = 96


def allocation_beam(beam: int, refine: int = 0) -> int:
    """Search width of the allocation's error curves for an encoder searching codes with
    ``beam`` and refining them ``refine`` times: ``min(beam, ALLOCATION_BEAM)``, or ``beam``
    when refining (refinement costs far more than the full-width search)."""
    return beam if refine > 0 else min(beam, ALLOCATION_BEAM)


def side_bits(counts: np.ndarray, block: int, chunk_frames: int = 0) -> float:
    """Bits the per-frame ``counts`` ``(N,)`` cost as side information in a file whose payload
    chunks hold ``chunk_frames`` frames (``0`` = one chunk)."""
    counts = np.asarray(counts, dtype=np.int64)
    n = counts.shape[0]
    chunk = chunk_frames if chunk_frames > 0 else max(n, 1)
    total = 0.0
    for a in range(0, n, chunk):
        piece = counts[a : a + chunk]
        total += SIDE_OVERHEAD_BITS + count_bits(piece[::block])
    return total


def stage_budget(
    kbps: float,
    seconds: float,
    n_frames: int,
    vbr_framing_bytes: float,
    codebook_size: int,
    constant_rate_bytes: float,
) -> float:
    """Mean stages per frame (side information included) for one channel of a file at ``kbps``.

    The file may be as large as the larger of ``kbps · seconds`` and ``constant_rate_bytes``
    (the same file at constant rate with raw codes: on a file too short to carry its framing in
    the headroom between the nominal stage rate and ``kbps``, variable allocation keeps the
    constant-rate size, which then exceeds ``kbps`` by its framing as a constant-rate file
    does). Its own framing, ``vbr_framing_bytes`` (this channel's share), comes off first:
    ``(max(kbps · seconds, 8 · constant_rate_bytes) − 8 · vbr_framing_bytes) / (n_frames ·
    log2 V)``.
    """
    if n_frames <= 0:
        return 1.0
    bits = max(kbps * 1000.0 * seconds, 8.0 * constant_rate_bytes) - 8.0 * vbr_framing_bytes
    return bits / (n_frames * math.log2(codebook_size))


def allocate_file(
    errors: Tensor | np.ndarray,
    n_stages: float,
    block: int,
    chunk_frames: int,
    codebook_size: int,
    min_stages: int = 1,
) -> np.ndarray:
    """Per-frame stage counts ``(N,)`` for a file whose codes may spend ``n_stages`` stages per
    frame on average (the nominal count of its bitrate, or a budget in stages from a bitrate,
    :func:`stage_budget`).

    ``errors`` ``(K + 1, N)`` as :meth:`~cplxcodec.models.ComplexCodec.stage_errors` gives
    them for one item; ``block`` frames per count, blocks restarting at every ``chunk_frames``
    (the payload's chunks). The counts' mean plus the side information (in stages of
    ``log2(codebook_size)`` bits) is at most ``n_stages``.
    """
    n = int(errors.shape[-1])
    blocks = block_bounds(n, block, chunk_frames)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    bits_per_stage = math.log2(codebook_size)
    top = min(int(errors.shape[0]) - 1, MAX_DELTA + 1)  # the most a block count can code

    def total(counts: np.ndarray) -> float:  # mean stages per frame, side information included
        return float(counts.mean()) + side_bits(counts, block, chunk_frames) / (n * bits_per_stage)

    # The side information depends on the counts, and the counts move in steps: search the
    # target mean (a secant guess, then bisection between a fitting and an overspending target),
    # keeping the fullest allocation that fits (the budget is never exceeded).
    best, best_total = None, -1.0
    lo, hi = float(min_stages), float(n_stages)
    target = hi
    for step in range(_RATE_STEPS):
        counts = allocate_stages(errors, target, blocks, min_stages, top)
        spent = total(counts)
        if spent <= n_stages:
            if spent > best_total:
                best, best_total = counts, spent
            if n_stages - spent < _RATE_TOLERANCE or target >= hi:
                break
            lo = target
        else:
            hi = target
        if step == 0:  # secant guess with a margin: usually fits at once
            guess = target - (spent - n_stages) - _RATE_TOLERANCE / 2
            target = guess if lo < guess < hi else 0.5 * (lo + hi)
        else:
            target = 0.5 * (lo + hi)
        if hi - lo < 1e-6:
            break
    if best is None:  # even the side information of the leanest allocation does not fit
        best = np.full(n, min_stages, dtype=np.int64)
    return best
