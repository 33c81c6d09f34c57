"""Lloyd's k-means on real rows, used to initialise each codebook stage.

Initialisation of the centroids by distinct random rows (Forgy), then ``n_iters`` Lloyd steps:
assign every row to its nearest centroid (:func:`~cplxcodec.quantization.search.nearest_code`),
replace every centroid by the mean of its rows. A centroid left without rows is re-seeded from a
random row so that the result has as few empty clusters as the data allows. With fewer rows than
clusters some centroids are necessarily duplicates (rows drawn with replacement); the
quantizer's dead-code restart replaces those later.

Reference: S. Lloyd, "Least squares quantization in PCM", IEEE Trans. Inf. Theory 28(2), 1982.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from cplxcodec.quantization.search import nearest_code

__all__ = ["KMeansResult", "kmeans"]


@dataclass
class KMeansResult:
    """Result of :func:`kmeans`.

    Attributes:
        centroids: ``(S, P)`` float32 cluster centres.
        counts: ``(S,)`` float32 number of rows assigned to each centre (final assignment).
    """

    centroids: Tensor
    counts: Tensor


def _random_rows(x: Tensor, n: int) -> Tensor:
    """``n`` random rows of ``x``, distinct when ``x`` has at least ``n`` rows."""
    m = x.shape[0]
    if m >= n:
        pick = torch.randperm(m, device=x.device)[:n]
    else:
        pick = torch.randint(m, (n,), device=x.device)
    return x[pick]


@torch.no_grad()
def kmeans(x: Tensor, n_clusters: int, n_iters: int = 10) -> KMeansResult:
    """Cluster rows ``x`` ``(M, P)`` into ``n_clusters`` centres with Lloyd's algorithm.

    Uses the global torch random generator (seed it for reproducibility).

    Raises:
        ValueError: if ``x`` is not a non-empty 2-D tensor or ``n_clusters``/``n_iters`` are
            invalid.
    """
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"kmeans expects non-empty rows (M, P), got shape {tuple(x.shape)}")
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be >= 1, got {n_clusters}")
    if n_iters < 0:
        raise ValueError(f"n_iters must be >= 0, got {n_iters}")
    x = x.float()
    centroids = _random_rows(x, n_clusters).clone()
    for _ in range(n_iters):
        idx = nearest_code(x, centroids)
        counts = torch.bincount(idx, minlength=n_clusters).to(x.dtype)
        sums = torch.zeros_like(centroids).index_add_(0, idx, x)
        means = sums / counts.clamp_min(1.0).unsqueeze(1)
        empty = counts == 0
        reseed = _random_rows(x, n_clusters)
        centroids = torch.where(empty.unsqueeze(1), reseed, means)
    idx = nearest_code(x, centroids)
    counts = torch.bincount(idx, minlength=n_clusters).to(x.dtype)
    return KMeansResult(centroids=centroids, counts=counts)
