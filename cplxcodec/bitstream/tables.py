"""Integer frequency tables for entropy coding: quantisation, validation, code lengths.

A *frequency table* at precision ``P`` is an int64 vector ``f`` of length ``V`` (the alphabet
size) with ``f[s] >= 1`` for every symbol and ``sum(f) == 2**P`` exactly, so that
``p(s) = f[s] / 2**P`` is an exactly representable distribution in which every symbol is
encodable. The tables, not any float, are the source of truth for coding: encoder and
decoder derive their cumulative distribution from these integers alone.

Quantisation (:func:`quantize_counts`) uses only integer arithmetic, so the same counts give
the same table on every machine: each symbol first gets the floor weight 1; the remaining
``2**P - V`` units are split in proportion to the counts by the largest-remainder
(Hamilton) method, ties going to the lower symbol index. With counts ``c`` and total ``T``,
symbol ``s`` gets ``1 + floor(c_s (2**P - V) / T)`` plus at most one extra unit, which is
within one unit of the proportional share and close to the KL-optimal table for any symbol
with ``c_s (2**P - V) / T >> 1``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "MAX_PRECISION",
    "code_lengths",
    "quantize_counts",
    "validate_table",
]

MAX_PRECISION = 24
"""Largest supported precision: constriction's default coders use 24-bit probabilities."""


def quantize_counts(counts: np.ndarray, precision: int) -> np.ndarray:
    """Turn non-negative integer counts into a frequency table summing to ``2**precision``.

    Args:
        counts: ``(V,)`` non-negative integers (any integer dtype); all-zero gives a
            near-uniform table.
        precision: ``P`` with ``2 <= V <= 2**(P-1)`` and ``P <= 24``.

    Returns:
        ``(V,)`` int64 table, every entry ``>= 1``, summing to exactly ``2**P``.
    """
    counts = np.asarray(counts)
    if counts.ndim != 1 or not np.issubdtype(counts.dtype, np.integer):
        raise ValueError(f"counts must be a 1-D integer array, got {counts.dtype} {counts.shape}")
    size = counts.shape[0]
    _check_precision(precision, size)
    if np.any(counts < 0):
        raise ValueError("counts must be non-negative")
    counts = counts.astype(np.int64)
    free = (1 << precision) - size
    total = int(counts.sum())
    if total == 0:
        counts = np.ones(size, dtype=np.int64)
        total = size
    # Keep c * free below 2**62 so the products are exact in int64.
    while total > (1 << 62) // free:
        counts = counts >> 1
        total = int(counts.sum())
        if total == 0:
            counts = np.ones(size, dtype=np.int64)
            total = size
    scaled = counts * free
    share = scaled // total
    remainder = scaled - share * total
    leftover = free - int(share.sum())
    # Largest remainder first; stable sort on -remainder breaks ties by lower index.
    order = np.argsort(-remainder, kind="stable")
    share[order[:leftover]] += 1
    table = share + 1
    return table


def validate_table(table: object, precision: int, size: int, name: str = "table") -> np.ndarray:
    """Check that ``table`` is a valid frequency table and return it as int64.

    Raises:
        ValueError: naming ``name`` and the violated rule (length, integer type, an entry
            below 1, or a sum other than ``2**precision``).
    """
    _check_precision(precision, size)
    if isinstance(table, np.ndarray):
        if not np.issubdtype(table.dtype, np.integer):
            raise ValueError(f"{name} must hold integers, got dtype {table.dtype}")
        arr = table.astype(np.int64)
    else:
        if not isinstance(table, (list, tuple)) or not all(
            isinstance(x, int) and not isinstance(x, bool) for x in table
        ):
            raise ValueError(f"{name} must be a list of integers")
        if any(abs(x) > (1 << 62) for x in table):
            raise ValueError(f"{name} has an entry of absurd magnitude")
        arr = np.asarray(table, dtype=np.int64)
    if arr.shape != (size,):
        raise ValueError(f"{name} must have {size} entries, got shape {arr.shape}")
    if np.any(arr < 1):
        raise ValueError(f"{name} has an entry below 1 (a symbol that could not be encoded)")
    if int(arr.sum()) != 1 << precision:
        raise ValueError(f"{name} sums to {int(arr.sum())}, not 2**{precision} = {1 << precision}")
    return arr


def code_lengths(table: np.ndarray, precision: int) -> np.ndarray:
    """Ideal code length in bits of every symbol under ``table``: ``P - log2 f[s]``."""
    return precision - np.log2(np.asarray(table, dtype=np.float64))


def _check_precision(precision: int, size: int) -> None:
    if isinstance(precision, bool) or not isinstance(precision, int):
        raise ValueError(f"precision must be an integer, got {type(precision).__name__}")
    if not 1 <= precision <= MAX_PRECISION:
        raise ValueError(f"precision must be in [1, {MAX_PRECISION}], got {precision}")
    if size < 2:
        raise ValueError(f"the alphabet needs at least 2 symbols, got {size}")
    if size > 1 << (precision - 1):
        raise ValueError(
            f"precision {precision} is too low for {size} symbols: need 2**(P-1) >= {size}"
        )
