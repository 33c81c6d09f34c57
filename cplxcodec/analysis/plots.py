"""Figures for the analysis report, rendered to PNG bytes.

Figures are built as :class:`matplotlib.figure.Figure` objects drawn by an explicit
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`: no ``pyplot`` state, no global
backend switch, so importing or calling this module never changes the caller's matplotlib set-up.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from cplxcodec.analysis._signal import as_mono, stft
from cplxcodec.analysis.evaluate import EvalResult
from cplxcodec.analysis.phase import PhaseFidelity
from cplxcodec.analysis.usage import CodebookUsage

__all__ = [
    "codebook_usage_figure",
    "phase_figure",
    "rd_figure",
    "render_png",
    "spectrogram_figure",
]


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def render_png(fig: Any) -> bytes:
    """Draw ``fig`` with the Agg canvas and return the PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    buf = io.BytesIO()
    canvas.print_png(buf)
    return buf.getvalue()


def codebook_usage_figure(usage: CodebookUsage, title: str = "") -> bytes:
    """One panel per stage: counts per code index; collapsed stages titled in red."""
    k = usage.n_stages
    cols = min(4, k)
    rows = int(np.ceil(k / cols))
    fig = _figure(3.2 * cols, 2.2 * rows + 0.4)
    idx = np.arange(usage.codebook_size)
    for s in range(k):
        ax = fig.add_subplot(rows, cols, s + 1)
        ax.fill_between(idx, usage.histograms[s], step="mid", color="tab:blue", linewidth=0)
        bad = bool(usage.collapsed[s])
        ax.set_title(
            f"stage {s}: {100 * usage.usage_fraction[s]:.0f}% used, "
            f"ppl {usage.perplexity[s]:.0f}" + (" COLLAPSED" if bad else ""),
            fontsize=8,
            color="tab:red" if bad else "black",
        )
        ax.set_xlim(0, usage.codebook_size - 1)
        ax.tick_params(labelsize=7)
        if s % cols == 0:
            ax.set_ylabel("count", fontsize=8)
        if s >= (rows - 1) * cols:
            ax.set_xlabel("code index", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return render_png(fig)


def rd_figure(result: EvalResult, metric: str) -> bytes:
    """Quality ``metric`` against actual kbps, one line per codec."""
    fig = _figure(5.0, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    for codec in result.codecs():
        r, q = result.rd_curve(codec, metric)
        ax.plot(r, q, marker="o", label=codec)
    ax.set_xlabel("actual bitrate (kbps)")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} vs bitrate", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return render_png(fig)


def phase_figure(phase: PhaseFidelity, title: str = "") -> bytes:
    """Left: weighted phase error per frequency bin; right: per-band phase error. Codec and
    Griffin-Lim anchor side by side."""
    fig = _figure(9.0, 3.2)
    ax1 = fig.add_subplot(1, 2, 1)
    ax2 = fig.add_subplot(1, 2, 2)
    f = phase.freqs_hz
    ax1.plot(f[1:], phase.codec.phase_error_per_bin[1:], label="codec", color="tab:blue")
    edges = phase.band_edges_hz
    n_bands = len(edges) - 1
    x = np.arange(n_bands)
    width = 0.4
    ax2.bar(x - width / 2, np.nan_to_num(phase.codec.band_phase_error), width, label="codec")
    if phase.griffin_lim is not None:
        ax1.plot(
            f[1:],
            phase.griffin_lim.phase_error_per_bin[1:],
            label="Griffin-Lim",
            color="tab:orange",
        )
        ax2.bar(
            x + width / 2,
            np.nan_to_num(phase.griffin_lim.band_phase_error),
            width,
            label="Griffin-Lim",
        )
    ax1.set_xscale("log")
    ax1.set_xlabel("frequency (Hz)")
    ax1.set_ylabel("weighted 1 - cos Δφ")
    ax1.set_ylim(0, 2)
    ax1.grid(True, alpha=0.3)
    ax1.legend(fontsize=8)
    ax2.set_xticks(
        x, [f"{edges[i]:.0f}-{edges[i + 1]:.0f}" for i in range(n_bands)], rotation=45, fontsize=7
    )
    ax2.set_ylabel("weighted 1 - cos Δφ")
    ax2.set_ylim(0, 2)
    ax2.set_xlabel("band (Hz)")
    ax2.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return render_png(fig)


def spectrogram_figure(reference: Any, decoded: Any, sample_rate: int, title: str = "") -> bytes:
    """Log-magnitude spectrograms (dB) of the reference, the decoded signal and their
    difference ``decoded - reference``, on one colour scale."""
    ref = as_mono(reference, "reference")
    dec = as_mono(decoded, "decoded")
    n = min(ref.size, dec.size)
    ref, dec = ref[:n], dec[:n]
    n_fft = int(2 ** round(np.log2(0.032 * sample_rate)))
    hop = n_fft // 4
    specs = [stft(s, n_fft, hop).abs().numpy() for s in (ref, dec, dec - ref)]
    db = [20 * np.log10(np.maximum(s, 1e-6)) for s in specs]
    vmax = float(max(d.max() for d in db))
    fig = _figure(10.0, 2.8)
    extent = (0.0, n / sample_rate, 0.0, sample_rate / 2000.0)
    for i, (d, name) in enumerate(zip(db, ("reference", "decoded", "error (decoded - ref)"))):
        ax = fig.add_subplot(1, 3, i + 1)
        im = ax.imshow(
            d, origin="lower", aspect="auto", extent=extent, vmin=vmax - 80, vmax=vmax, cmap="magma"
        )
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("time (s)", fontsize=8)
        if i == 0:
            ax.set_ylabel("frequency (kHz)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.colorbar(im, ax=fig.axes, label="dB", shrink=0.9)
    if title:
        fig.suptitle(title, fontsize=10)
    return render_png(fig)
