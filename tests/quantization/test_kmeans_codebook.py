"""k-means initialisation and the EMA codebook update, checked against their formulas."""

from __future__ import annotations

import pytest
import torch

from cplxcodec.quantization import EMACodebook, kmeans


def _distortion(x: torch.Tensor, centroids: torch.Tensor) -> float:
    return float(torch.cdist(x.double(), centroids.double()).min(dim=1).values.pow(2).mean())


def test_lloyd_iterations_never_increase_distortion() -> None:
    x = torch.cat([5.0 * torch.randn(8, 4)[i] + torch.randn(60, 4) for i in range(8)])
    values = []
    for n_iters in (0, 1, 2, 4, 8):
        torch.manual_seed(3)  # same initial centroids for every run
        values.append(_distortion(x, kmeans(x, 12, n_iters=n_iters).centroids))
    assert all(b <= a + 1e-9 for a, b in zip(values, values[1:])), values
    assert values[-1] < 0.7 * values[0], values


def test_kmeans_lowers_distortion_below_random_codebook() -> None:
    x = torch.randn(2000, 6)
    result = kmeans(x, 32, n_iters=8)
    distortion = torch.cdist(x, result.centroids).min(dim=1).values.pow(2).mean()
    random_cb = x[torch.randperm(2000)[:32]]
    random_distortion = torch.cdist(x, random_cb).min(dim=1).values.pow(2).mean()
    assert distortion < 0.85 * random_distortion


def test_kmeans_with_fewer_rows_than_clusters() -> None:
    x = torch.randn(5, 3)
    result = kmeans(x, 16, n_iters=3)
    assert result.centroids.shape == (16, 3)
    assert result.counts.sum() == 5


@pytest.mark.parametrize("bad", [torch.randn(0, 3), torch.randn(4)])
def test_kmeans_rejects_bad_rows(bad: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="kmeans expects"):
        kmeans(bad, 4)


def test_ema_update_follows_laplace_smoothed_formula() -> None:
    s, d, gamma, eps = 6, 2, 0.8, 1e-3
    cb = EMACodebook(dim=d, codebook_size=s, decay=gamma, eps=eps, dead_code_threshold=0.0)
    size0 = torch.rand(s) + 0.5
    sum0 = torch.randn(s, 2 * d)
    cb.cluster_size.copy_(size0)
    cb.embed_sum.copy_(sum0)
    rows = torch.randn(20, 2 * d)
    codes = torch.randint(0, s - 1, (20,))  # the last codeword receives nothing
    cb.update(rows, codes, rows)
    n = torch.zeros(s)
    m = torch.zeros(s, 2 * d)
    for r, c in zip(rows, codes):
        n[c] += 1
        m[c] += r
    size = gamma * size0 + (1 - gamma) * n
    summ = gamma * sum0 + (1 - gamma) * m
    smoothed = (size + eps) / (size.sum() + s * eps) * size.sum()
    torch.testing.assert_close(cb.cluster_size, size)
    torch.testing.assert_close(cb.embed_sum, summ)
    torch.testing.assert_close(cb.embed, summ / smoothed[:, None])


def test_restart_replaces_exactly_the_dead_codes_with_batch_rows() -> None:
    cb = EMACodebook(dim=2, codebook_size=8, decay=0.5, dead_code_threshold=0.2)
    cb.init_kmeans(torch.randn(64, 4))
    before = cb.embed.clone()
    rows = torch.randn(40, 4)
    codes = torch.randint(0, 4, (40,))  # codes 4..7 receive nothing
    cb.cluster_size[4:] = 0.0
    n_restarted = cb.update(rows, codes, rows)
    assert int(n_restarted) == 4
    fresh = cb.embed[4:]
    # each restarted codeword is one of the pool rows
    assert (torch.cdist(fresh, rows).min(dim=1).values < 1e-6).all()
    assert not torch.equal(fresh, before[4:])
    # restarted codes sit exactly at the threshold: 0.2 × mean EMA size before the restart
    ema_size = torch.cat([cb.cluster_size[:4], torch.zeros(4)])  # codes 4..7 decayed from 0
    torch.testing.assert_close(cb.cluster_size[4:], torch.full((4,), 0.2 * ema_size.mean()))
    torch.testing.assert_close(cb.embed_sum[4:], fresh * cb.cluster_size[4:, None])


def test_init_kmeans_sets_initialized_and_consistent_statistics() -> None:
    cb = EMACodebook(dim=3, codebook_size=16)
    assert not bool(cb.initialized)
    rows = torch.randn(200, 6)
    cb.init_kmeans(rows)
    assert bool(cb.initialized)
    assert cb.cluster_size.sum() == 200
    torch.testing.assert_close(cb.embed_sum, cb.embed * cb.cluster_size[:, None])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dim": 0, "codebook_size": 8}, "dim"),
        ({"dim": 2, "codebook_size": 1}, "codebook_size"),
        ({"dim": 2, "codebook_size": 8, "decay": 1.0}, "decay"),
        ({"dim": 2, "codebook_size": 8, "eps": 0.0}, "eps"),
        ({"dim": 2, "codebook_size": 8, "dead_code_threshold": 1.5}, "dead_code_threshold"),
    ],
)
def test_codebook_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EMACodebook(**kwargs)
