"""Variable stage allocation: block layout, the Lagrangian allocation, and the RVQ side of it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from cplxcodec.quantization import (
    ABSENT,
    ResidualVQ,
    allocate_stages,
    block_bounds,
    stage_counts,
)


def test_block_bounds_restart_at_chunks() -> None:
    assert block_bounds(10, 4).tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    # chunks of 6 frames: blocks [0-3], [4-5], then the second chunk starts a new block
    assert block_bounds(10, 4, 6).tolist() == [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
    assert block_bounds(0, 4).tolist() == []
    with pytest.raises(ValueError, match="block must be >= 1"):
        block_bounds(10, 0)
    with pytest.raises(ValueError, match="n_frames"):
        block_bounds(-1, 4)


def _curves(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Decreasing error curves (K + 1, N) with frame-dependent scale."""
    scale = rng.uniform(0.01, 10.0, size=n)
    decay = rng.uniform(0.5, 0.9, size=n)
    return scale[None, :] * decay[None, :] ** np.arange(k + 1)[:, None]


def test_allocation_meets_budget_and_blocks() -> None:
    rng = np.random.default_rng(0)
    err = _curves(rng, 103, 12)
    blocks = block_bounds(103, 4)
    for mean in (1.0, 2.5, 6.0, 9.3, 12.0):
        k = allocate_stages(err, mean, blocks)
        assert k.dtype == np.int64 and k.shape == (103,)
        assert k.mean() <= mean + 1e-9
        assert k.min() >= 1 and k.max() <= 12
        for b in np.unique(blocks):
            assert len(set(k[blocks == b].tolist())) == 1
    # a generous budget gives every frame every stage; a tiny one the minimum
    assert (allocate_stages(err, 20.0, blocks) == 12).all()
    assert (allocate_stages(err, 0.1, blocks, min_stages=2) == 2).all()
    assert allocate_stages(err, 6.0, blocks, min_stages=3, max_stages=8).max() <= 8


def test_allocation_gives_stages_to_the_loud_frames() -> None:
    # first half: large error that every stage halves; second half: almost nothing left
    n = 40
    err = np.ones((13, n)) * 0.5 ** np.arange(13)[:, None]
    err[:, n // 2 :] *= 1e-4
    k = allocate_stages(err, 6.0, block_bounds(n, 4))
    assert k[: n // 2].mean() > 9 and k[n // 2 :].mean() < 3
    assert k.mean() <= 6.0


def test_allocation_is_optimal_for_its_total() -> None:
    """No allocation spending at most as much has a lower total error (brute force)."""
    rng = np.random.default_rng(1)
    err = _curves(rng, 5, 4)
    blocks = np.arange(5)
    for mean in (1.4, 2.0, 2.6, 3.2):
        k = allocate_stages(err, mean, blocks)
        cost = err[k, np.arange(5)].sum()
        for alt in itertools.product(range(1, 5), repeat=5):
            alt = np.array(alt)
            if alt.sum() <= k.sum():
                assert err[alt, np.arange(5)].sum() >= cost - 1e-12


def test_allocation_rejects_bad_input() -> None:
    err = np.ones((13, 8))
    with pytest.raises(ValueError, match="finite"):
        allocate_stages(np.full((13, 8), np.nan), 6.0, np.zeros(8, dtype=int))
    with pytest.raises(ValueError, match=r"\(K \+ 1, N\)"):
        allocate_stages(np.ones(8), 6.0, np.zeros(8, dtype=int))
    with pytest.raises(ValueError, match="blocks"):
        allocate_stages(err, 6.0, np.arange(8)[::-1].copy())
    with pytest.raises(ValueError, match="min_stages"):
        allocate_stages(err, 6.0, np.zeros(8, dtype=int), min_stages=0)
    with pytest.raises(ValueError, match="max_stages"):
        allocate_stages(err, 6.0, np.zeros(8, dtype=int), max_stages=13)


def _rvq(seed: int = 0) -> tuple[ResidualVQ, torch.Tensor]:
    torch.manual_seed(seed)
    rvq = ResidualVQ(dim=4, n_stages=5, codebook_size=16).eval()
    z = torch.randn(2, 4, 30, dtype=torch.complex64)
    rvq(z)  # k-means initialisation of every codebook
    return rvq, torch.randn(2, 4, 30, dtype=torch.complex64)


def test_decode_reads_absent_stages_as_nothing() -> None:
    rvq, z = _rvq()
    codes = rvq.encode(z, 5)
    counts = torch.randint(1, 6, (2, 30))
    ragged = codes.clone()
    ragged[torch.arange(5)[None, :, None] >= counts[:, None, :]] = ABSENT
    assert torch.equal(stage_counts(ragged), counts)
    out = rvq.decode(ragged)
    for b in range(2):
        for n in range(30):
            want = rvq.decode(codes[b : b + 1, : int(counts[b, n]), n : n + 1])
            torch.testing.assert_close(out[b : b + 1, :, n : n + 1], want)
    # absent in the middle, or a frame without stage 1: rejected, naming the rule
    gap = codes.clone()
    gap[0, 2, 3] = ABSENT
    with pytest.raises(ValueError, match="absent"):
        rvq.decode(gap)
    first = codes.clone()
    first[1, 0, 0] = ABSENT
    with pytest.raises(ValueError, match="stage 1"):
        rvq.decode(first)
    with pytest.raises(ValueError, match=r"in \[0, 16\)"):
        rvq.decode(codes - 2)


def test_encode_counts_matches_encode_per_count() -> None:
    rvq, z = _rvq(1)
    counts = torch.randint(1, 5, (2, 30))
    for beam in (1, 3):
        codes = rvq.encode_counts(z, counts, beam=beam)
        assert codes.shape == (2, int(counts.max()), 30)
        assert torch.equal(stage_counts(codes), counts)
        for k in range(1, 5):
            full = rvq.encode(z, k, beam=beam)
            where = counts == k
            for s in range(k):
                assert torch.equal(codes[:, s][where], full[:, s][where])
    with pytest.raises(ValueError, match=r"stage counts must lie in \[1, 5\]"):
        rvq.encode_counts(z, torch.zeros(2, 30, dtype=torch.long))
    with pytest.raises(ValueError, match="counts must be a"):
        rvq.encode_counts(z, counts[:, :5])
    with pytest.raises(TypeError, match="integer"):
        rvq.encode_counts(z, counts.float())


def test_stage_errors_are_the_prefix_errors() -> None:
    rvq, z = _rvq(2)
    errors = rvq.stage_errors(z, beam=2)
    assert errors.shape == (2, 6, 30)
    codes = rvq.encode(z, 5, beam=2)
    torch.testing.assert_close(errors[:, 0], z.abs().pow(2).sum(1))
    for k in range(1, 6):
        want = (z - rvq.decode(codes[:, :k])).abs().pow(2).sum(1)
        torch.testing.assert_close(errors[:, k], want, rtol=1e-4, atol=1e-5)
