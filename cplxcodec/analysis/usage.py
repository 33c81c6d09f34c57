r"""Codebook usage statistics of residual-VQ codes.

For each quantizer stage :math:`k` the codes :math:`c_{b,k,n}` over the batch and the frames are
pooled into a histogram :math:`h_k(i)`, :math:`p_k(i) = h_k(i) / M` with :math:`M = B N` samples.
Reported per stage:

* usage fraction :math:`|\{i : h_k(i) > 0\}| / S` for a codebook of size :math:`S`;
* entropy :math:`H_k = -\sum_i p_k(i) \log_2 p_k(i)` bits, its normalised form
  :math:`H_k / \log_2 S` (1 = uniform use) and the perplexity :math:`2^{H_k}` (effective
  number of codes);
* the dead codes (indices never used) and the histogram itself.

Co-usage between consecutive stages is the plug-in mutual information
:math:`I(c_k; c_{k+1}) = H_k + H_{k+1} - H_{k,k+1}` of the codes at the same (item, frame).
The plug-in estimator is biased upwards when :math:`M` is small against :math:`S^2` (with few
samples, every pair looks unique and independent codes appear dependent), so the same estimate
is also computed after fixed, seeded random permutations of stage :math:`k+1` over the samples
(averaged over ``n_permutations``): the *chance level*, what independent codes with the same
marginals would give. The normalised co-usage is
:math:`\max(0, I - I_\text{chance}) / \min(H_k, H_{k+1})` in :math:`[0, 1]`
(0: stage :math:`k+1` is used independently of stage :math:`k`; 1: it is a function of it,
i.e. a wasted stage).

A stage is flagged *collapsed* when it uses fewer than ``min_usage`` of the codes it could have
used, or its perplexity is below ``min_perplexity_fraction`` of that number; "could have used"
is :math:`\min(S, M)`, so a short input is not mistaken for collapse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CodebookUsage", "codebook_usage"]


def _entropy_bits(counts: np.ndarray) -> float:
    total = counts.sum()
    if total == 0:
        return 0.0
    p = counts[counts > 0].astype(np.float64) / total
    return float(-(p * np.log2(p)).sum())


def _mutual_information_bits(a: np.ndarray, b: np.ndarray, size: int) -> float:
    """Plug-in mutual information of two equally long integer sequences, in bits."""
    joint = np.unique(a.astype(np.int64) * size + b.astype(np.int64), return_counts=True)[1]
    ha = _entropy_bits(np.bincount(a, minlength=size))
    hb = _entropy_bits(np.bincount(b, minlength=size))
    return max(0.0, ha + hb - _entropy_bits(joint))


@dataclass
class CodebookUsage:
    """Per-stage codebook statistics (``K`` stages, codebook size ``S``).

    Attributes:
        codebook_size: ``S``.
        n_samples: ``M``, codes per stage that were pooled (batch × frames).
        histograms: ``(K, S)`` int64 counts.
        usage_fraction: ``(K,)`` fraction of the ``S`` codes used at least once.
        entropy_bits: ``(K,)`` entropy of the code distribution in bits.
        normalized_entropy: ``(K,)`` ``entropy_bits / log2(S)``.
        perplexity: ``(K,)`` ``2 ** entropy_bits``.
        dead_codes: ``K`` int64 arrays of never-used indices.
        mutual_information_bits: ``(K-1,)`` plug-in ``I(c_k; c_{k+1})``.
        mutual_information_chance_bits: ``(K-1,)`` the same after seeded permutations.
        normalized_mutual_information: ``(K-1,)`` bias-corrected, normalised co-usage in [0, 1].
        collapsed: ``(K,)`` bool flags (see module docstring).
        min_usage, min_perplexity_fraction: the thresholds used for ``collapsed``.
    """

    codebook_size: int
    n_samples: int
    histograms: np.ndarray
    usage_fraction: np.ndarray
    entropy_bits: np.ndarray
    normalized_entropy: np.ndarray
    perplexity: np.ndarray
    dead_codes: list[np.ndarray]
    mutual_information_bits: np.ndarray
    mutual_information_chance_bits: np.ndarray
    normalized_mutual_information: np.ndarray
    collapsed: np.ndarray
    min_usage: float = 0.1
    min_perplexity_fraction: float = 0.05

    @property
    def n_stages(self) -> int:
        """Number of quantizer stages ``K``."""
        return int(self.histograms.shape[0])

    def collapsed_stages(self) -> list[int]:
        """Indices of the stages flagged as collapsed."""
        return [int(k) for k in np.flatnonzero(self.collapsed)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (histograms included, dead codes as counts and lists)."""
        return {
            "codebook_size": self.codebook_size,
            "n_stages": self.n_stages,
            "n_samples": self.n_samples,
            "usage_fraction": self.usage_fraction.tolist(),
            "entropy_bits": self.entropy_bits.tolist(),
            "normalized_entropy": self.normalized_entropy.tolist(),
            "perplexity": self.perplexity.tolist(),
            "n_dead_codes": [int(d.size) for d in self.dead_codes],
            "dead_codes": [d.tolist() for d in self.dead_codes],
            "mutual_information_bits": self.mutual_information_bits.tolist(),
            "mutual_information_chance_bits": self.mutual_information_chance_bits.tolist(),
            "normalized_mutual_information": self.normalized_mutual_information.tolist(),
            "collapsed": self.collapsed.tolist(),
            "collapsed_stages": self.collapsed_stages(),
            "min_usage": self.min_usage,
            "min_perplexity_fraction": self.min_perplexity_fraction,
            "histograms": self.histograms.tolist(),
        }


def codebook_usage(
    codes: Any,
    codebook_size: int,
    *,
    min_usage: float = 0.1,
    min_perplexity_fraction: float = 0.05,
    seed: int = 0,
    n_permutations: int = 4,
) -> CodebookUsage:
    """Usage statistics of residual-VQ codes.

    Args:
        codes: ``(B, K, N)`` integer codes (torch tensor or numpy array); ``(K, N)`` is taken as
            ``B = 1``. Values must lie in ``[0, codebook_size)``.
        codebook_size: ``S``, entries per codebook (all stages share it).
        min_usage: a stage using fewer than this fraction of ``min(S, M)`` codes is collapsed.
        min_perplexity_fraction: a stage whose perplexity is below this fraction of
            ``min(S, M)`` is collapsed.
        seed: seed of the permutations that give the chance level of the co-usage.
        n_permutations: permutations averaged for the chance level.

    Returns:
        A :class:`CodebookUsage`.
    """
    if hasattr(codes, "detach") and hasattr(codes, "cpu"):
        codes = codes.detach().cpu().numpy()
    c = np.asarray(codes)
    if c.dtype.kind not in "iu":
        raise ValueError(f"codes must be integers, got dtype {c.dtype}")
    if c.ndim == 2:
        c = c[None]
    if c.ndim != 3:
        raise ValueError(f"codes must have shape (B, K, N) or (K, N), got {c.shape}")
    if int(codebook_size) < 1:
        raise ValueError(f"codebook_size must be positive, got {codebook_size}")
    size = int(codebook_size)
    if c.size == 0:
        raise ValueError(f"codes are empty (shape {c.shape})")
    if c.min() < 0 or c.max() >= size:
        raise ValueError(f"codes must lie in [0, {size}), found values in [{c.min()}, {c.max()}]")
    k_stages = c.shape[1]
    flat = np.ascontiguousarray(c.transpose(1, 0, 2).reshape(k_stages, -1)).astype(np.int64)
    m = flat.shape[1]
    hist = np.stack([np.bincount(flat[k], minlength=size) for k in range(k_stages)])
    ent = np.array([_entropy_bits(h) for h in hist])
    usage = (hist > 0).sum(axis=1) / size
    log_s = np.log2(size) if size > 1 else 1.0
    perplexity = 2.0**ent
    reachable = min(size, m)
    collapsed = ((hist > 0).sum(axis=1) < min_usage * reachable) | (
        perplexity < min_perplexity_fraction * reachable
    )

    rng = np.random.default_rng(seed)
    mi, mi_chance, nmi = [], [], []
    for k in range(k_stages - 1):
        a, b = flat[k], flat[k + 1]
        i_ab = _mutual_information_bits(a, b, size)
        i_chance = float(
            np.mean(
                [
                    _mutual_information_bits(a, b[rng.permutation(m)], size)
                    for _ in range(n_permutations)
                ]
            )
        )
        h_min = min(ent[k], ent[k + 1])
        mi.append(i_ab)
        mi_chance.append(i_chance)
        nmi.append(0.0 if h_min <= 0 else min(1.0, max(0.0, i_ab - i_chance) / h_min))

    return CodebookUsage(
        codebook_size=size,
        n_samples=int(m),
        histograms=hist.astype(np.int64),
        usage_fraction=usage.astype(np.float64),
        entropy_bits=ent,
        normalized_entropy=ent / log_s,
        perplexity=perplexity,
        dead_codes=[np.flatnonzero(h == 0).astype(np.int64) for h in hist],
        mutual_information_bits=np.asarray(mi, dtype=np.float64),
        mutual_information_chance_bits=np.asarray(mi_chance, dtype=np.float64),
        normalized_mutual_information=np.asarray(nmi, dtype=np.float64),
        collapsed=np.asarray(collapsed, dtype=bool),
        min_usage=float(min_usage),
        min_perplexity_fraction=float(min_perplexity_fraction),
    )
