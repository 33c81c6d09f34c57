"""Per-stage tables of :class:`~cplxcodec.bitstream.entropy.CodeEntropyModel`: fit and store.

A stage is either *unconditional* (one table, ``M = 1``) or *conditional* (``M`` tables and a
``(V,)`` map from the previous stage's code to a bucket). Conditional bucket tables are
Dirichlet-smoothed towards the stage marginal,

    p_m(b) = (n_m(b) + beta * u(b)) / (n_m + beta),

with the pseudo-count ``beta`` picked on held-out frames among :data:`BETAS`, then quantised
with :func:`~cplxcodec.bitstream.tables.quantize_counts`. Fitting may use floats (the tables
it produces are stored as integers and are the only thing coding depends on).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cplxcodec.bitstream.errors import PayloadError
from cplxcodec.bitstream.tables import code_lengths, quantize_counts, validate_table

__all__ = [
    "BETAS",
    "MAX_CODES",
    "StageTables",
    "check_codes",
    "check_decoded_counts",
    "check_ragged",
    "fit_stage",
    "max_decodable_codes",
    "sent_mask",
    "stage_from_dict",
    "stage_to_dict",
]

BETAS = (2.0, 16.0, 128.0)
"""Candidate smoothing pseudo-counts for conditional bucket tables."""

MAX_CODES = 1 << 25
"""Hard cap on codes per decode call (256 MB of int64); callers split longer files in chunks."""

_ANS_SLACK_BITS = 0.0057  # >= -log2(1 - 2**-8): per-symbol shortfall of 24-bit ANS vs ideal
_FLOAT_COUNT_SCALE = float(1 << 40)


@dataclass
class StageTables:
    """Frequency tables of one stage.

    Attributes:
        tables: ``(M, V)`` int64, each row a valid frequency table.
        bucket_map: ``(V,)`` int64 previous code -> bucket in ``[0, M)``, or None (``M = 1``).
    """

    tables: np.ndarray
    bucket_map: np.ndarray | None = None
    _lengths: np.ndarray | None = field(default=None, repr=False, compare=False)

    def buckets(self, prev: np.ndarray | None, n_frames: int) -> np.ndarray:
        """``(N,)`` bucket index of every frame given the previous stage's ``(N,)`` codes."""
        if self.bucket_map is None or prev is None:
            return np.zeros(n_frames, dtype=np.int64)
        return self.bucket_map[prev]

    def lengths(self, precision: int) -> np.ndarray:
        """``(M, V)`` ideal code lengths in bits (cached)."""
        if self._lengths is None:
            self._lengths = code_lengths(self.tables, precision)
        return self._lengths


def check_codes(codes: object, codebook_size: int, name: str = "codes") -> np.ndarray:
    """Validate a ``(K, N)`` integer codes array with values in ``[0, V)``; return int64."""
    arr = np.asarray(codes)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (K, N), got shape {arr.shape}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name} must have at least one stage, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= codebook_size):
        raise ValueError(
            f"{name} must lie in [0, {codebook_size}), found values in [{arr.min()}, {arr.max()}]"
        )
    return arr


def sent_mask(n_stages: int, counts: np.ndarray) -> np.ndarray:
    """``(n_stages, N)`` bool: stage ``k`` of frame ``n`` is sent (``k < counts[n]``)."""
    return np.arange(n_stages)[:, None] < np.asarray(counts)[None, :]


def check_ragged(codes: object, counts: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate ragged codes: ``(K, N)`` codes and ``(N,)`` per-frame stage counts in
    ``[1, K]``; return both as arrays, the counts int64 (``ValueError`` otherwise)."""
    arr, cnt = np.asarray(codes), np.asarray(counts)
    if arr.ndim != 2 or cnt.shape != (arr.shape[1],):
        raise ValueError(
            f"ragged codes need codes (K, N) and counts (N,), got {arr.shape} and {cnt.shape}"
        )
    if cnt.size and (cnt.min() < 1 or cnt.max() > arr.shape[0]):
        raise ValueError(f"stage counts must lie in [1, {arr.shape[0]}]")
    return arr, cnt.astype(np.int64)


def check_decoded_counts(counts: object, n_stages: int) -> np.ndarray:
    """``(N,)`` int64 stage counts of a ragged decode, each in ``[1, n_stages]``
    (:class:`~cplxcodec.bitstream.errors.PayloadError` otherwise: they come from the file)."""
    cnt = np.asarray(counts, dtype=np.int64)
    if cnt.ndim != 1 or (cnt.size and (cnt.min() < 1 or cnt.max() > n_stages)):
        raise PayloadError(f"stage counts must be (N,) values in [1, {n_stages}]")
    return cnt


def _counts(symbols: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(symbols, minlength=size).astype(np.int64)


def _bucket_tables(
    prev: np.ndarray,
    cur: np.ndarray,
    bucket_map: np.ndarray,
    beta: float,
    size: int,
    precision: int,
) -> np.ndarray:
    n_buckets = int(bucket_map.max()) + 1
    pooled = np.bincount(bucket_map[prev] * size + cur, minlength=n_buckets * size)
    pooled = pooled.reshape(n_buckets, size).astype(np.float64)
    marginal = (np.bincount(cur, minlength=size) + 0.5) / (cur.shape[0] + 0.5 * size)
    probs = (pooled + beta * marginal) / (pooled.sum(axis=1, keepdims=True) + beta)
    scaled = np.floor(probs * _FLOAT_COUNT_SCALE).astype(np.int64)
    return np.stack([quantize_counts(row, precision) for row in scaled])


def fit_stage(
    arrays: list[np.ndarray],
    k: int,
    size: int,
    precision: int,
    *,
    n_buckets: int,
    conditional: Literal["auto"] | bool,
    holdout: float,
    min_gain: float,
    cluster: Callable[..., np.ndarray],
) -> StageTables:
    """Fit stage ``k`` from the arrays that have it (see ``CodeEntropyModel.fit``)."""
    have = [a for a in arrays if a.shape[0] > k]
    if not have:
        return StageTables(quantize_counts(np.zeros(size, np.int64), precision)[None])
    cur_all = np.concatenate([a[k] for a in have])
    uncond = quantize_counts(_counts(cur_all, size), precision)[None]
    if conditional is False or k == 0 or n_buckets < 2 or cur_all.size == 0:
        return StageTables(uncond)
    prev_all = np.concatenate([a[k - 1] for a in have])
    if conditional is True:
        bucket_map = cluster(prev_all, cur_all, size, n_buckets)
        tables = _bucket_tables(prev_all, cur_all, bucket_map, BETAS[1], size, precision)
        return StageTables(tables, bucket_map)

    cuts = [a.shape[1] - int(round(holdout * a.shape[1])) for a in have]
    fit_cur = np.concatenate([a[k, :c] for a, c in zip(have, cuts)])
    fit_prev = np.concatenate([a[k - 1, :c] for a, c in zip(have, cuts)])
    ho_cur = np.concatenate([a[k, c:] for a, c in zip(have, cuts)])
    ho_prev = np.concatenate([a[k - 1, c:] for a, c in zip(have, cuts)])
    if fit_cur.size == 0 or ho_cur.size == 0:
        return StageTables(uncond)
    base = quantize_counts(_counts(fit_cur, size), precision)
    bits_uncond = float(code_lengths(base, precision)[ho_cur].sum())
    bucket_map = cluster(fit_prev, fit_cur, size, n_buckets)
    if int(bucket_map.max()) == 0:
        return StageTables(uncond)
    best_bits, best_beta = math.inf, BETAS[0]
    for beta in BETAS:
        tables = _bucket_tables(fit_prev, fit_cur, bucket_map, beta, size, precision)
        bits = float(code_lengths(tables, precision)[bucket_map[ho_prev], ho_cur].sum())
        if bits < best_bits:
            best_bits, best_beta = bits, beta
    if best_bits >= (1.0 - min_gain) * bits_uncond:
        return StageTables(uncond)
    tables = _bucket_tables(prev_all, cur_all, bucket_map, best_beta, size, precision)
    return StageTables(tables, bucket_map)


def max_decodable_codes(stages: list[StageTables], precision: int, n_bytes: int) -> int:
    """Upper bound on how many codes an ANS payload of ``n_bytes`` can hold.

    The ANS state starts at ``2**32`` and stays ``>= 2**8 f`` before coding a symbol of weight
    ``f``, so each symbol adds at least ``-log2 p - 0.0057`` bits; the payload holds at most
    ``32 (words - 1)`` bits of symbols. Capped at :data:`MAX_CODES`.
    """
    min_bits = min(float(s.lengths(precision).min()) for s in stages)
    per_code = min_bits - _ANS_SLACK_BITS
    if per_code <= 0.0:
        return MAX_CODES
    budget = 8.0 * n_bytes
    return int(min(MAX_CODES, math.floor(budget / per_code) + 1))


def stage_to_dict(stage: StageTables) -> dict[str, Any]:
    """JSON-ready dict of plain integers."""
    return {
        "bucket_map": [] if stage.bucket_map is None else [int(x) for x in stage.bucket_map],
        "tables": [[int(x) for x in row] for row in stage.tables],
    }


def stage_from_dict(data: object, size: int, precision: int, k: int) -> StageTables:
    """Parse and validate one stage of a ``CodeEntropyModel`` dict."""
    where = f"stage {k}"
    if not isinstance(data, dict) or set(data) != {"bucket_map", "tables"}:
        raise ValueError(f"{where} must be a dict with keys 'bucket_map' and 'tables'")
    raw_tables, raw_map = data["tables"], data["bucket_map"]
    if not isinstance(raw_tables, list) or not raw_tables:
        raise ValueError(f"{where}: 'tables' must be a non-empty list of tables")
    tables = np.stack(
        [validate_table(t, precision, size, f"{where} table {m}") for m, t in enumerate(raw_tables)]
    )
    if not isinstance(raw_map, list):
        raise ValueError(f"{where}: 'bucket_map' must be a list")
    if not raw_map:
        if tables.shape[0] != 1:
            raise ValueError(f"{where}: {tables.shape[0]} tables need a bucket_map")
        return StageTables(tables)
    if len(raw_map) != size or not all(
        isinstance(x, int) and not isinstance(x, bool) and 0 <= x < tables.shape[0] for x in raw_map
    ):
        raise ValueError(
            f"{where}: 'bucket_map' must list {size} integers in [0, {tables.shape[0]})"
        )
    return StageTables(tables, np.asarray(raw_map, dtype=np.int64))
