r"""Bjøntegaard delta rate and delta quality between two rate-distortion curves.

Bjøntegaard (2001), "Calculation of average PSNR differences between RD-curves", VCEG-M33.

**BD-rate** (average rate difference at equal quality): each curve's :math:`\log_{10}` rate is
interpolated as a function of quality :math:`q`; both are integrated over the overlapping
quality interval :math:`[q_\text{lo}, q_\text{hi}]`, and

.. math::

    \Delta = \frac{1}{q_\text{hi} - q_\text{lo}} \int_{q_\text{lo}}^{q_\text{hi}}
        \big(\log_{10} r_B(q) - \log_{10} r_A(q)\big)\,dq, \qquad
    \text{BD-rate} = 100\,(10^{\Delta} - 1)\ \%.

Negative BD-rate means curve B needs less rate than curve A (the anchor) for the same quality;
if B's rates are A's scaled by a constant :math:`c` at the same qualities, BD-rate is exactly
:math:`100 (c - 1)` % with either interpolation.

**BD-quality** (e.g. BD-PESQ): quality as a function of :math:`\log_{10}` rate, integrated over
the overlapping log-rate interval; the mean difference :math:`q_B - q_A` in the metric's units.

**Interpolation.** ``method="cubic"`` is the classic least-squares polynomial of degree 3
(degree ``n - 1`` when a curve has fewer than 4 points, i.e. exact interpolation), integrated in
closed form. ``method="pchip"`` uses a piecewise cubic Hermite interpolant (monotone, no
overshoot; the variant adopted in later JCT-VC tools), which needs the abscissae to be strictly
monotone along each curve; it is integrated exactly with SciPy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator

__all__ = ["bd_quality", "bd_rate"]


def _check(rates: Sequence[float], quality: Sequence[float], name: str) -> tuple:
    r = np.asarray(rates, dtype=np.float64).ravel()
    q = np.asarray(quality, dtype=np.float64).ravel()
    if r.size != q.size:
        raise ValueError(f"curve {name}: {r.size} rates but {q.size} quality values")
    if r.size < 2:
        raise ValueError(f"curve {name}: need at least 2 points, got {r.size}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q))):
        raise ValueError(f"curve {name}: rates and quality must be finite (got NaN/inf)")
    if np.any(r <= 0):
        raise ValueError(f"curve {name}: rates must be positive, got {r.tolist()}")
    return np.log10(r), q


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str, name: str) -> float:
    """Integral over ``[lo, hi]`` of the interpolant of ``y(x)``."""
    if method == "cubic":
        deg = min(3, x.size - 1)
        poly = np.polynomial.Polynomial.fit(x, y, deg).convert()
        antider = poly.integ()
        return float(antider(hi) - antider(lo))
    if method == "pchip":
        order = np.argsort(x)
        xs, ys = x[order], y[order]
        if np.any(np.diff(xs) <= 0):
            raise ValueError(
                f"curve {name}: pchip needs distinct abscissae along the curve, got {xs.tolist()}"
            )
        return float(PchipInterpolator(xs, ys).integrate(lo, hi))
    raise ValueError(f"method must be 'cubic' or 'pchip', got {method!r}")


def _overlap(a: np.ndarray, b: np.ndarray, what: str) -> tuple[float, float]:
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    if not hi > lo:
        raise ValueError(
            f"the two curves do not overlap in {what} ([{a.min()}, {a.max()}] vs "
            f"[{b.min()}, {b.max()}]); Bjøntegaard deltas are undefined"
        )
    return float(lo), float(hi)


def bd_rate(
    rates_a: Sequence[float],
    quality_a: Sequence[float],
    rates_b: Sequence[float],
    quality_b: Sequence[float],
    *,
    method: str = "cubic",
) -> float:
    """Bjøntegaard delta rate of curve B against anchor A, in percent.

    Args:
        rates_a, quality_a: anchor curve (rates in any positive unit, e.g. kbps; quality with
            higher = better, e.g. PESQ).
        rates_b, quality_b: tested curve, same units.
        method: ``"cubic"`` (classic) or ``"pchip"``.

    Returns:
        Average rate difference in percent (negative: B saves rate).
    """
    lra, qa = _check(rates_a, quality_a, "A")
    lrb, qb = _check(rates_b, quality_b, "B")
    lo, hi = _overlap(qa, qb, "quality")
    ia = _integral(qa, lra, lo, hi, method, "A")
    ib = _integral(qb, lrb, lo, hi, method, "B")
    return float((10.0 ** ((ib - ia) / (hi - lo)) - 1.0) * 100.0)


def bd_quality(
    rates_a: Sequence[float],
    quality_a: Sequence[float],
    rates_b: Sequence[float],
    quality_b: Sequence[float],
    *,
    method: str = "cubic",
) -> float:
    """Bjøntegaard delta quality of curve B against anchor A (e.g. BD-PESQ), in the quality
    metric's units (positive: B is better at equal rate)."""
    lra, qa = _check(rates_a, quality_a, "A")
    lrb, qb = _check(rates_b, quality_b, "B")
    lo, hi = _overlap(lra, lrb, "log-rate")
    ia = _integral(lra, qa, lo, hi, method, "A")
    ib = _integral(lrb, qb, lo, hi, method, "B")
    return float((ib - ia) / (hi - lo))
