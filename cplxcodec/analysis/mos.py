"""Learned, non-intrusive MOS prediction: DNSMOS through the ``speechmos`` package.

DNSMOS P.835 (Reddy et al. 2022, "DNSMOS P.835: a non-intrusive perceptual objective speech
quality metric to evaluate noise suppressors") predicts the signal (SIG), background (BAK) and
overall (OVRL) ratings of ITU-T P.835, plus a P.808 overall MOS, from the decoded audio alone.
``speechmos`` ships the ONNX weights inside its wheel and runs them with ``onnxruntime`` (its
mel features use ``librosa``), so it works offline. It is an optional dependency (pinned in
``requirements/lock.txt``); without it :func:`dnsmos` raises :class:`MetricUnavailable`.

DNSMOS scores 9.01 s windows at 16 kHz (shorter clips are tiled to that length by
``speechmos``), hopping 1 s, and averages the windows. Scores are on a 1-5 scale.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from cplxcodec.analysis._signal import as_mono
from cplxcodec.audio import resample

__all__ = ["DNSMOS_RATE", "MetricUnavailable", "dnsmos", "dnsmos_available"]

#: DNSMOS runs at this rate.
DNSMOS_RATE = 16000


class MetricUnavailable(ImportError):
    """An optional metric's package is not installed."""


def dnsmos_available() -> bool:
    """Whether ``speechmos`` and ``onnxruntime`` can be imported (checked without importing)."""
    return all(importlib.util.find_spec(m) is not None for m in ("speechmos", "onnxruntime"))


def dnsmos(wav: Any, sample_rate: int) -> dict[str, float]:
    """DNSMOS scores of one ``(T,)`` waveform.

    Returns:
        ``{"ovrl", "sig", "bak", "p808"}`` floats on a 1-5 scale.

    Raises:
        MetricUnavailable: ``speechmos`` (or ``onnxruntime``/``librosa``) is missing.
    """
    try:
        from speechmos import dnsmos as _dnsmos
    except ImportError as err:
        raise MetricUnavailable(
            "DNSMOS needs the optional packages speechmos, onnxruntime and librosa "
            f"(pip install the versions pinned in requirements/lock.txt): {err}"
        ) from err
    x = as_mono(wav, "wav")
    if int(sample_rate) != DNSMOS_RATE:
        x = resample(x, int(sample_rate), DNSMOS_RATE)
    x = np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0)
    out = _dnsmos.run(x, DNSMOS_RATE)
    return {
        "ovrl": float(out["ovrl_mos"]),
        "sig": float(out["sig_mos"]),
        "bak": float(out["bak_mos"]),
        "p808": float(out["p808_mos"]),
    }
