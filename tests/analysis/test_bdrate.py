"""Bjøntegaard deltas on curves with hand-computable answers."""

from __future__ import annotations

import numpy as np
import pytest

from cplxcodec.analysis import bd_quality, bd_rate

RATES = np.array([3.0, 6.0, 12.0, 24.0])
PESQ = np.array([1.8, 2.6, 3.4, 3.9])


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_curve_against_itself_is_zero(method: str) -> None:
    assert bd_rate(RATES, PESQ, RATES, PESQ, method=method) == pytest.approx(0.0, abs=1e-10)
    assert bd_quality(RATES, PESQ, RATES, PESQ, method=method) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
@pytest.mark.parametrize("factor", [0.8, 0.5, 1.25])
def test_scaled_rates_give_factor_minus_one(method: str, factor: float) -> None:
    got = bd_rate(RATES, PESQ, factor * RATES, PESQ, method=method)
    assert got == pytest.approx(100.0 * (factor - 1.0), abs=1e-9)


def test_linear_curves_closed_form() -> None:
    # A: log10 r = q; B: log10 r = q - 0.5 (quality 0.5 higher at every rate)
    q = np.array([1.0, 2.0, 3.0, 4.0])
    ra, rb = 10.0**q, 10.0 ** (q - 0.5)
    assert bd_rate(ra, q, rb, q) == pytest.approx(100 * (10**-0.5 - 1), abs=1e-9)
    assert bd_quality(ra, q, rb, q) == pytest.approx(0.5, abs=1e-9)


def test_only_the_overlapping_interval_counts() -> None:
    # A: log10 r = q on q in [1, 4]; B: log10 r = 2q on q in [2, 5]. Overlap [2, 4]: the mean
    # of (2q - q) = q over [2, 4] is 3, so BD-rate = 10^3 - 1.
    qa, qb = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 3.0, 4.0, 5.0])
    got = bd_rate(10.0**qa, qa, 10.0 ** (2 * qb), qb)
    assert got == pytest.approx(100 * (10**3 - 1), rel=1e-9)


def test_three_points_use_an_exact_quadratic() -> None:
    r = np.array([6.0, 12.0, 24.0])
    q = np.array([2.0, 3.0, 3.5])
    assert bd_rate(r, q, 0.9 * r, q) == pytest.approx(-10.0, abs=1e-9)


@pytest.mark.parametrize(
    "args, match",
    [
        (([1, 2], [1, 2], [10, 20], [3, 4]), "overlap"),
        (([1, 2, 3], [1, 2], [1, 2], [1, 2]), "rates but"),
        (([0, 2], [1, 2], [1, 2], [1, 2]), "positive"),
        (([1], [1], [1], [1]), "at least 2"),
        (([1, 2], [1, np.nan], [1, 2], [1, 2]), "finite"),
    ],
)
def test_bad_curves_are_rejected(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bd_rate(*args)


def test_pchip_needs_distinct_qualities_and_method_is_checked() -> None:
    with pytest.raises(ValueError, match="distinct"):
        bd_rate([1, 2, 4], [1, 1, 2], [1, 2, 4], [1, 1.5, 2], method="pchip")
    with pytest.raises(ValueError, match="method"):
        bd_rate(RATES, PESQ, RATES, PESQ, method="akima")
