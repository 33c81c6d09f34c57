r"""Objective quality metrics of a decoded signal against its reference.

* **PESQ** wide band (ITU-T P.862.2) through the ``pesq`` package, at 16 kHz (other rates are
  resampled with soxr). Range about 1.0-4.64 (4.64 for identical signals). When PESQ finds no
  utterance (silence, too short) the score is NaN with a warning.
* **STOI** (Taal et al. 2011) and **ESTOI** (Jensen & Taal 2016) through ``pystoi``, in [0, 1]
  (pystoi resamples to 10 kHz itself).
* **SI-SDR** (Le Roux et al. 2019, "SDR - half-baked or well done?"), in dB: with zero-mean
  :math:`s` (reference) and :math:`\hat s` (estimate), :math:`\alpha = \langle \hat s, s\rangle
  / \|s\|^2` and :math:`\mathrm{SI\text{-}SDR} = 10\log_{10}(\|\alpha s\|^2 / \|\alpha s -
  \hat s\|^2)`.
* **mel distance**: mean absolute difference of :math:`\log_{10}` mel magnitudes (80 HTK mel
  bands to :math:`f_s/2`, Hann STFT of 64 ms, hop 16 ms, magnitudes clamped at
  :math:`10^{-5}`), the L1 log-mel distance used as a codec training loss.
* **log-spectral distance** (LSD), in dB: per frame the RMS over frequency of
  :math:`10\log_{10}(P_X / P_Y)` with power spectra floored at :math:`10^{-10}` (32 ms Hann,
  hop 8 ms), averaged over frames.

All functions take ``(T,)`` waveforms (numpy or torch) at the same rate; lengths are cropped to
the shorter (a length ratio below 0.9 is an error). No time alignment is done here.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from cplxcodec.analysis._signal import as_mono, crop_common, stft
from cplxcodec.analysis.mos import dnsmos
from cplxcodec.audio import resample
from cplxcodec.functional.mel import mel_filterbank

__all__ = [
    "PESQ_RATE",
    "SI_SDR_MAX_DB",
    "estoi",
    "log_spectral_distance",
    "mel_distance",
    "mel_filterbank",
    "objective_metrics",
    "pesq_wb",
    "si_sdr",
    "stoi",
]

#: PESQ wide band runs at this rate.
PESQ_RATE = 16000

#: Upper bound of :func:`si_sdr` in dB (identical signals).
SI_SDR_MAX_DB = 300.0


def _pair(reference: Any, decoded: Any) -> tuple[np.ndarray, np.ndarray]:
    return crop_common(as_mono(reference, "reference"), as_mono(decoded, "decoded"))


def si_sdr(reference: Any, decoded: Any) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (see module docstring).

    The value is capped at :data:`SI_SDR_MAX_DB` (identical signals reach it); a silent
    reference, or an estimate orthogonal to it, gives ``-inf``.
    """
    s, e = _pair(reference, decoded)
    s = s - s.mean()
    e = e - e.mean()
    ss = float(np.dot(s, s))
    if ss == 0.0:
        return -math.inf
    alpha = float(np.dot(e, s)) / ss
    target = alpha * s
    noise = target - e
    num, den = float(np.dot(target, target)), float(np.dot(noise, noise))
    if num == 0.0:
        return -math.inf
    return 10.0 * math.log10(num / max(den, num * 10.0 ** (-SI_SDR_MAX_DB / 10.0)))


def pesq_wb(reference: Any, decoded: Any, sample_rate: int) -> float:
    """Wide-band PESQ (MOS-LQO); NaN with a warning when PESQ detects no utterance."""
    from pesq import BufferTooShortError, NoUtterancesError, pesq

    s, e = _pair(reference, decoded)
    if int(sample_rate) != PESQ_RATE:
        s = resample(s, int(sample_rate), PESQ_RATE).astype(np.float64)
        e = resample(e, int(sample_rate), PESQ_RATE).astype(np.float64)
    try:
        return float(pesq(PESQ_RATE, s, e, "wb"))
    except (NoUtterancesError, BufferTooShortError) as err:
        warnings.warn(f"PESQ could not score this pair ({err!r}); returning NaN", stacklevel=2)
        return math.nan


def stoi(reference: Any, decoded: Any, sample_rate: int) -> float:
    """Short-time objective intelligibility (pystoi), in [0, 1]."""
    from pystoi import stoi as _stoi

    s, e = _pair(reference, decoded)
    return float(_stoi(s, e, int(sample_rate), extended=False))


def estoi(reference: Any, decoded: Any, sample_rate: int) -> float:
    """Extended STOI (pystoi ``extended=True``)."""
    from pystoi import stoi as _stoi

    s, e = _pair(reference, decoded)
    return float(_stoi(s, e, int(sample_rate), extended=True))


def _n_fft(sample_rate: int, seconds: float) -> int:
    return int(2 ** round(math.log2(seconds * sample_rate)))


def mel_distance(reference: Any, decoded: Any, sample_rate: int, n_mels: int = 80) -> float:
    """Mean absolute difference of log10 mel magnitudes (see module docstring)."""
    s, e = _pair(reference, decoded)
    n_fft = _n_fft(sample_rate, 0.064)
    hop = n_fft // 4
    fb = mel_filterbank(int(sample_rate), n_fft, n_mels)
    ms = fb @ stft(s, n_fft, hop).abs().numpy()
    me = fb @ stft(e, n_fft, hop).abs().numpy()
    return float(np.mean(np.abs(np.log10(np.maximum(ms, 1e-5)) - np.log10(np.maximum(me, 1e-5)))))


def log_spectral_distance(reference: Any, decoded: Any, sample_rate: int) -> float:
    """Log-spectral distance in dB (see module docstring)."""
    s, e = _pair(reference, decoded)
    n_fft = _n_fft(sample_rate, 0.032)
    ps = stft(s, n_fft, n_fft // 4).abs().numpy() ** 2
    pe = stft(e, n_fft, n_fft // 4).abs().numpy() ** 2
    d = 10.0 * np.log10(np.maximum(ps, 1e-10) / np.maximum(pe, 1e-10))
    return float(np.mean(np.sqrt(np.mean(d**2, axis=0))))


def objective_metrics(
    reference: Any, decoded: Any, sample_rate: int, *, mos: bool = False
) -> dict[str, float]:
    """All objective metrics of ``decoded`` against ``reference``.

    Returns:
        ``{"pesq_wb", "stoi", "estoi", "si_sdr", "mel_distance", "lsd"}`` as floats, plus
        ``"dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808"`` of the decoded signal when
        ``mos=True`` (requires ``speechmos``, see :mod:`cplxcodec.analysis.mos`).
    """
    s, e = _pair(reference, decoded)
    sr = int(sample_rate)
    out = {
        "pesq_wb": pesq_wb(s, e, sr),
        "stoi": stoi(s, e, sr),
        "estoi": estoi(s, e, sr),
        "si_sdr": si_sdr(s, e),
        "mel_distance": mel_distance(s, e, sr),
        "lsd": log_spectral_distance(s, e, sr),
    }
    if mos:
        out.update({f"dnsmos_{k}": v for k, v in dnsmos(e, sr).items()})
    return out
