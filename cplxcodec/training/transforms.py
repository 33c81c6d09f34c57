"""Waveform transforms for the data pipeline: loudness normalisation and light augmentation.

All functions take numpy float arrays ``(T,)`` or ``(C, T)`` and return new float32 arrays of the
same shape; none modifies its input.

Loudness is a *gated mean-square level* in the spirit of ITU-R BS.1770-4 (integrated loudness),
without its K-weighting pre-filter: the signal is cut into 400 ms blocks with 75 % overlap, the
block levels ``l_j = 10 log10(mean_{c,t} x^2)`` (dB re full scale, so a full-scale sine reads
-3 dB) are gated absolutely at -70 dB and then relatively at 10 dB below the mean power of the
surviving blocks, and the level is ``10 log10`` of the mean power of the blocks left. Gating
makes the level of speech with pauses a property of the speech, not of the pauses. For speech
this is within about 1-2 dB of LUFS; it is called "dB" here, not LUFS, because it is not
K-weighted.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "ABSOLUTE_GATE_DB",
    "augment_gain_polarity",
    "gated_level_db",
    "loudness_gain",
    "normalize_loudness",
]

#: Blocks quieter than this (dB re full scale) never count towards the level.
ABSOLUTE_GATE_DB = -70.0
_RELATIVE_GATE_DB = -10.0
_BLOCK_SECONDS = 0.4
_OVERLAP = 0.75


def gated_level_db(x: np.ndarray, sample_rate: int) -> float:
    """Gated mean-square level of ``x`` in dB re full scale (see the module docstring).

    Signals shorter than one block are measured as one block. Returns ``-inf`` when no block
    passes the absolute gate (silence, or anything below -70 dB).
    """
    x = np.asarray(x, dtype=np.float64)
    sq = (x * x).reshape(-1, x.shape[-1]).mean(axis=0)  # mean over channels, (T,)
    n = sq.size
    if n == 0:
        return -math.inf
    block = max(1, min(n, int(round(_BLOCK_SECONDS * sample_rate))))
    hop = max(1, int(round(block * (1.0 - _OVERLAP))))
    csum = np.concatenate([[0.0], np.cumsum(sq)])
    starts = np.arange(0, n - block + 1, hop)
    power = (csum[starts + block] - csum[starts]) / block
    with np.errstate(divide="ignore"):
        levels = 10.0 * np.log10(power)
    kept = power[levels > ABSOLUTE_GATE_DB]
    if kept.size == 0:
        return -math.inf
    relative = 10.0 * math.log10(kept.mean()) + _RELATIVE_GATE_DB
    kept = kept[10.0 * np.log10(kept) > relative]
    return float(10.0 * math.log10(kept.mean()))


def loudness_gain(
    x: np.ndarray,
    sample_rate: int,
    target_db: float = -23.0,
    max_gain_db: float = 20.0,
    peak: float = 0.99,
) -> float:
    """Linear gain that brings ``x`` to ``target_db`` (gated level), within two caps.

    ``g = 10^(min(target_db - level, max_gain_db) / 20)``, then lowered to ``peak / max|x|`` if
    the result would exceed ``peak``. The first cap keeps near-silence (a noise floor just above
    the -70 dB gate) from being boosted into audible noise; the second keeps peaks from clipping,
    so a very peaky signal may end below the target. Silence (level ``-inf``) gets gain 1.
    """
    level = gated_level_db(x, sample_rate)
    if not math.isfinite(level):
        return 1.0
    g = 10.0 ** (min(target_db - level, max_gain_db) / 20.0)
    pk = float(np.max(np.abs(x)))
    if pk * g > peak:
        g = peak / pk
    return g


def normalize_loudness(
    x: np.ndarray,
    sample_rate: int,
    target_db: float = -23.0,
    max_gain_db: float = 20.0,
    peak: float = 0.99,
) -> np.ndarray:
    """``x`` times :func:`loudness_gain` (same arguments), as float32."""
    g = loudness_gain(x, sample_rate, target_db, max_gain_db, peak)
    return (np.asarray(x, dtype=np.float32) * np.float32(g)).astype(np.float32)


def augment_gain_polarity(
    x: np.ndarray,
    rng: np.random.Generator,
    gain_db: tuple[float, float] = (-6.0, 3.0),
    flip_probability: float = 0.5,
    peak: float = 0.99,
) -> np.ndarray:
    """Random gain (uniform in dB over ``gain_db``) and random polarity inversion.

    The gain is lowered if it would push the peak above ``peak`` (no clipping). Polarity
    inversion (``x -> -x`` with probability ``flip_probability``) changes every STFT phase by pi
    and nothing audible; it teaches a phase-aware codec that absolute phase is arbitrary.
    Consumes exactly two draws from ``rng`` (deterministic given its state).
    """
    g = 10.0 ** (rng.uniform(gain_db[0], gain_db[1]) / 20.0)
    flip = rng.random() < flip_probability
    x = np.asarray(x, dtype=np.float32)
    pk = float(np.max(np.abs(x))) if x.size else 0.0
    if pk * g > peak:
        g = peak / pk
    return (x * np.float32(-g if flip else g)).astype(np.float32)
