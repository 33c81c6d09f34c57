r"""Phase fidelity of a decoded signal against its reference, next to a Griffin-Lim anchor.

Let :math:`X_{f,n}` and :math:`Y_{f,n}` be the STFTs (Hann, ``n_fft``, hop ``h``, ``center=True``)
of the reference and of the decoded signal, and :math:`\Delta\phi = \arg(Y \bar X)` their
wrapped phase difference. Weights are the reference magnitudes :math:`w = |X|`, set to zero
below ``floor_db`` relative to the loudest bin (phase is meaningless in silence). Measures:

* **phase error** :math:`E = \sum w (1 - \cos\Delta\phi) / \sum w` in :math:`[0, 2]`:
  0 for identical phases, 1 for independent phases, 2 for opposite phases;
* **mean absolute phase error** :math:`\sum w |\Delta\phi| / \sum w` in radians
  (:math:`\pi/2` for independent phases);
* **instantaneous-frequency deviation**: the time derivative of phase is the phase advance
  between frames, :math:`\arg(X_{f,n} \bar X_{f,n-1})`; the deviation is the wrapped difference
  of advances :math:`|\arg(Y_{f,n}\bar Y_{f,n-1} \overline{X_{f,n}\bar X_{f,n-1}})|` converted
  to Hz by :math:`f_s / (2\pi h)` (measurable up to :math:`f_s / (2h)`), weighted by
  :math:`\sqrt{|X_{f,n}||X_{f,n-1}|}`;
* **group-delay deviation**: group delay is :math:`-\partial\phi/\partial\omega`; the same
  construction along frequency (bins :math:`f, f-1`, bin spacing :math:`2\pi/n_{fft}` rad per
  sample) gives the deviation in ms, :math:`|\cdot| \, n_{fft} / (2\pi f_s) \cdot 10^3`;
* **magnitude error** :math:`\| |Y| - |X| \|_F / \|X\|_F`, to tell phase errors from magnitude
  errors.

All are also given per frequency band (octave bands by default) and the phase error per bin.

**Alignment.** A global time shift :math:`\tau` adds a linear phase :math:`\omega\tau`, which
would swamp every phase measure, so by default the decoded signal is first shifted by the
integer lag within ``±max_lag_ms`` that maximises its cross-correlation with the reference
(both are then cropped to their overlap). A residual sub-sample delay remains and shows up as
a constant group-delay deviation. Set ``align=False`` to measure the raw signals.

**Griffin-Lim anchor.** What coding the phase buys is measured against the best one can do
without it: the *decoded* magnitudes :math:`|Y|` with phase re-estimated by fast Griffin-Lim
(:func:`~cplxcodec.analysis.griffin_lim`, fixed iterations, zero-phase initialisation). A
magnitude-only estimate is defined up to a global sign and shift, so it is aligned with the
same procedure and its polarity chosen to best match the reference (generous to Griffin-Lim).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cplxcodec.analysis._signal import align, as_mono, crop_common, stft
from cplxcodec.analysis.griffin_lim import griffin_lim

__all__ = ["PhaseFidelity", "PhaseScores", "octave_band_edges", "phase_fidelity"]


def octave_band_edges(sample_rate: int, lowest_hz: float = 125.0) -> np.ndarray:
    """Octave band edges ``[0, lowest, 2·lowest, ..., fs/2]`` in Hz (first band is 0-lowest)."""
    nyquist = sample_rate / 2
    edges = [0.0]
    f = float(lowest_hz)
    while f < nyquist:
        edges.append(f)
        f *= 2
    edges.append(nyquist)
    return np.asarray(edges)


@dataclass
class PhaseScores:
    """Phase measures of one estimate (the codec's output or the Griffin-Lim anchor).

    Scalars are weighted means over all bins; ``band_*`` arrays have one value per band
    (NaN where a band has no weight); ``phase_error_per_bin`` is ``(F,)``.
    """

    phase_error: float
    phase_error_rad: float
    if_deviation_hz: float
    group_delay_deviation_ms: float
    magnitude_error: float
    band_phase_error: np.ndarray
    band_phase_error_rad: np.ndarray
    band_if_deviation_hz: np.ndarray
    band_group_delay_deviation_ms: np.ndarray
    phase_error_per_bin: np.ndarray
    lag_samples: int = 0
    polarity: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (arrays as lists, NaN as ``None``)."""
        return {k: _jsonable(v) for k, v in asdict(self).items()}


@dataclass
class PhaseFidelity:
    """Result of :func:`phase_fidelity`.

    Attributes:
        codec: scores of the decoded signal.
        griffin_lim: scores of the decoded magnitudes with Griffin-Lim phase (``None`` if not
            computed).
        band_edges_hz: ``(n_bands + 1,)`` band edges.
        freqs_hz: ``(F,)`` bin centre frequencies.
        sample_rate, n_fft, hop_length, griffin_lim_iters: the analysis settings.
    """

    codec: PhaseScores
    griffin_lim: PhaseScores | None
    band_edges_hz: np.ndarray
    freqs_hz: np.ndarray
    sample_rate: int
    n_fft: int
    hop_length: int
    griffin_lim_iters: int

    @property
    def phase_error(self) -> float:
        """The codec's weighted phase error (shortcut for ``codec.phase_error``)."""
        return self.codec.phase_error

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "codec": self.codec.to_dict(),
            "griffin_lim": None if self.griffin_lim is None else self.griffin_lim.to_dict(),
            "band_edges_hz": self.band_edges_hz.tolist(),
            "freqs_hz": self.freqs_hz.tolist(),
            "sample_rate": self.sample_rate,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "griffin_lim_iters": self.griffin_lim_iters,
        }


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return [None if not np.isfinite(x) else float(x) for x in v.ravel()]
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def _wmean(values: np.ndarray, weights: np.ndarray, axis: Any = None) -> Any:
    num = (values * weights).sum(axis=axis)
    den = weights.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return float(out) if np.ndim(out) == 0 else out


def _scores(
    X: np.ndarray,
    Y: np.ndarray,
    sr: int,
    n_fft: int,
    hop: int,
    floor_db: float,
    edges: np.ndarray,
    freqs: np.ndarray,
) -> PhaseScores:
    ax = np.abs(X)
    peak = ax.max() if ax.size else 0.0
    w = np.where(ax >= peak * 10.0 ** (floor_db / 20.0), ax, 0.0) if peak > 0 else ax * 0.0
    dphi = np.angle(Y * np.conj(X))
    err = 1.0 - np.cos(dphi)
    aerr = np.abs(dphi)
    # time derivative (instantaneous frequency), (F, N-1)
    dt = np.abs(np.angle(Y[:, 1:] * np.conj(Y[:, :-1]) * np.conj(X[:, 1:] * np.conj(X[:, :-1]))))
    dt_hz = dt * sr / (2 * np.pi * hop)
    wt = np.sqrt(w[:, 1:] * w[:, :-1])
    # frequency derivative (group delay), (F-1, N)
    df = np.abs(np.angle(Y[1:] * np.conj(Y[:-1]) * np.conj(X[1:] * np.conj(X[:-1]))))
    df_ms = df * n_fft / (2 * np.pi * sr) * 1e3
    wf = np.sqrt(w[1:] * w[:-1])
    mid = 0.5 * (freqs[1:] + freqs[:-1])

    def band_means(values: np.ndarray, weights: np.ndarray, f: np.ndarray) -> np.ndarray:
        out = np.full(len(edges) - 1, np.nan)
        for b in range(len(edges) - 1):
            last = b == len(edges) - 2
            sel = (f >= edges[b]) & ((f <= edges[b + 1]) if last else (f < edges[b + 1]))
            if sel.any():
                out[b] = _wmean(values[sel], weights[sel])
        return out

    mag_den = np.linalg.norm(ax)
    return PhaseScores(
        phase_error=_wmean(err, w),
        phase_error_rad=_wmean(aerr, w),
        if_deviation_hz=_wmean(dt_hz, wt),
        group_delay_deviation_ms=_wmean(df_ms, wf),
        magnitude_error=float(np.linalg.norm(np.abs(Y) - ax) / mag_den) if mag_den > 0 else 0.0,
        band_phase_error=band_means(err, w, freqs),
        band_phase_error_rad=band_means(aerr, w, freqs),
        band_if_deviation_hz=band_means(dt_hz, wt, freqs),
        band_group_delay_deviation_ms=band_means(df_ms, wf, mid),
        phase_error_per_bin=np.asarray(_wmean(err, w, axis=1)),
    )


def phase_fidelity(
    reference: Any,
    decoded: Any,
    sample_rate: int,
    *,
    n_fft: int | None = None,
    hop_length: int | None = None,
    band_edges_hz: Any = None,
    align_signals: bool = True,
    max_lag_ms: float = 20.0,
    floor_db: float = -60.0,
    griffin_lim_iters: int = 100,
    griffin_lim_momentum: float = 0.99,
) -> PhaseFidelity:
    """Magnitude-weighted phase, instantaneous-frequency and group-delay errors.

    Args:
        reference, decoded: ``(T,)`` waveforms at ``sample_rate`` (numpy or torch; ``(1, T)``
            and ``(1, 1, T)`` are accepted). Lengths may differ by a few samples.
        sample_rate: in Hz.
        n_fft: STFT size; default the power of two closest to 32 ms.
        hop_length: default ``n_fft // 4``.
        band_edges_hz: increasing band edges in Hz (default :func:`octave_band_edges`).
        align_signals: align ``decoded`` to ``reference`` first (see module docstring).
        max_lag_ms: largest shift searched by the alignment.
        floor_db: bins quieter than this relative to the loudest reference bin get no weight.
        griffin_lim_iters: iterations of the Griffin-Lim anchor; 0 skips it.
        griffin_lim_momentum: fast Griffin-Lim momentum.

    Returns:
        A :class:`PhaseFidelity`.
    """
    sr = int(sample_rate)
    if sr <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    ref = as_mono(reference, "reference")
    dec = as_mono(decoded, "decoded")
    if n_fft is None:
        n_fft = int(2 ** round(np.log2(0.032 * sr)))
    hop = int(hop_length) if hop_length is not None else n_fft // 4
    if n_fft < 4 or hop < 1:
        raise ValueError(f"invalid STFT settings n_fft={n_fft}, hop_length={hop}")
    max_lag = int(round(max_lag_ms * 1e-3 * sr)) if align_signals else 0
    ref, dec = crop_common(ref, dec)
    if ref.size <= n_fft // 2:
        raise ValueError(f"signals of {ref.size} samples are too short for n_fft={n_fft}")
    al = align(ref, dec, max_lag)
    ref, dec = al.reference, al.estimate
    edges = octave_band_edges(sr) if band_edges_hz is None else np.asarray(band_edges_hz, float)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"band_edges_hz must be increasing with >= 2 entries, got {edges}")
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft

    X = stft(ref, n_fft, hop).numpy()
    Y = stft(dec, n_fft, hop)
    codec = _scores(X, Y.numpy(), sr, n_fft, hop, floor_db, edges, freqs)
    codec.lag_samples = al.lag

    gl_scores = None
    if griffin_lim_iters > 0:
        g = griffin_lim(
            Y.abs(),
            n_fft=n_fft,
            hop_length=hop,
            n_iter=int(griffin_lim_iters),
            momentum=griffin_lim_momentum,
            length=dec.size,
        ).numpy()
        gal = align(ref, g, max_lag, allow_polarity=True)
        G = stft(gal.estimate, n_fft, hop).numpy()
        Xg = stft(gal.reference, n_fft, hop).numpy()
        gl_scores = _scores(Xg, G, sr, n_fft, hop, floor_db, edges, freqs)
        gl_scores.lag_samples = gal.lag
        gl_scores.polarity = gal.sign

    return PhaseFidelity(
        codec=codec,
        griffin_lim=gl_scores,
        band_edges_hz=edges,
        freqs_hz=freqs,
        sample_rate=sr,
        n_fft=int(n_fft),
        hop_length=hop,
        griffin_lim_iters=int(griffin_lim_iters),
    )
