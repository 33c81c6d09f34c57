"""Integer frequency tables: exact sums, no zero entries, integer-only determinism."""

from __future__ import annotations

import numpy as np
import pytest

from cplxcodec.bitstream import quantize_counts, validate_table
from cplxcodec.bitstream.tables import code_lengths


@pytest.mark.parametrize("precision", [10, 16, 24])
def test_quantized_table_sums_exactly_and_has_no_zero(precision: int) -> None:
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 1000, 300) * (rng.random(300) < 0.3)
    table = quantize_counts(counts, precision)
    assert table.dtype == np.int64
    assert int(table.sum()) == 1 << precision
    assert table.min() >= 1
    validate_table(table, precision, 300)


def test_quantized_table_is_within_one_unit_of_proportional_share() -> None:
    counts = np.array([0, 1, 10, 100, 1000, 12345, 7, 7], dtype=np.int64)
    precision = 16
    table = quantize_counts(counts, precision)
    share = counts * ((1 << precision) - counts.size) / counts.sum()
    assert np.all(np.abs(table - 1 - share) < 1.0)


def test_all_zero_counts_give_near_uniform_table() -> None:
    table = quantize_counts(np.zeros(5, dtype=np.int64), 8)
    assert int(table.sum()) == 256 and table.max() - table.min() <= 1


def test_huge_counts_do_not_overflow() -> None:
    counts = np.array([1 << 61, 1 << 60, 3, 0], dtype=np.int64)
    table = quantize_counts(counts, 24)
    assert int(table.sum()) == 1 << 24 and table.min() >= 1
    assert table[0] > table[1] > table[2]


def test_code_lengths_match_table() -> None:
    table = np.array([1 << 15, 1 << 14, 1 << 14], dtype=np.int64)
    np.testing.assert_allclose(code_lengths(table, 16), [1.0, 2.0, 2.0])


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ([1, 2, 3], "entries"),
        ([0, 128, 128, 0], "below 1"),
        ([1, 1, 1, 1], "sums to"),
        ([1.5, 100, 100, 54.5], "integers"),
    ],
)
def test_validate_table_names_the_problem(table: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_table(table, 8, 4)


def test_precision_too_low_for_alphabet_is_rejected() -> None:
    with pytest.raises(ValueError, match="too low"):
        quantize_counts(np.ones(2048, dtype=np.int64), 11)
