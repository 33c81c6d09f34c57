"""Phase fidelity on the dev segments: how well each codec keeps the phase of real speech.

The EuleroDec claim is that coding magnitude and phase together, as complex numbers, keeps the
phase that magnitude-first designs lose. This script measures it on the dev segments of
``benchmarks/quality.py`` (same plan, ``benchmarks/_segments.py``): every codec (``--model``,
optionally its real-valued twin ``--twin``, and the classical ``--baselines``) codes each segment
through its real file path at each ``--kbps``, and the decoded signal is scored against the input
with :func:`cplxcodec.analysis.phase_fidelity` (32 ms STFT, magnitude-weighted, after aligning
lag and polarity):

* phase error ``1 − cos Δφ`` (0 identical, 1 random phase) and the mean ``|Δφ|`` in degrees,
* instantaneous-frequency deviation (Hz) and group-delay deviation (ms),
* magnitude error (relative, for context: a codec can keep the phase and lose the magnitude),
* the **Griffin-Lim anchor** (``--gl-iters``, 0 to skip): the same decoded magnitudes with phase
  re-estimated by fast Griffin-Lim, i.e. what a magnitude-only decoder would get from them. A
  codec whose phase error is well under its anchor's carries real phase information; one near
  its anchor keeps little more than a magnitude codec would.

Output: a Markdown table of means per (codec, kbps), a table of the phase error per octave band,
optionally a PNG of the per-band curves (``--plot``) and every per-segment score as JSON
(``--out-json``).

Run: ``python benchmarks/phase_fidelity.py --model speech16k --baselines opus --every 2``
(``--twin FILE`` for the real twin; ``--limit N`` for the first N segments).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from _segments import build_segments

__all__ = ["PhaseRow", "band_table", "main", "measure", "plot_bands", "summary_table"]

#: scalar fields of :class:`cplxcodec.analysis.phase.PhaseScores` shown, with their headers
SCALARS = {
    "phase_error": ("phase err. 1−cos", 3),
    "phase_error_deg": ("mean abs Δφ (°)", 1),
    "if_deviation_hz": ("IF dev. (Hz)", 1),
    "group_delay_deviation_ms": ("GD dev. (ms)", 2),
    "magnitude_error": ("magnitude err.", 3),
}

Roundtrip = Callable[[np.ndarray, int, float], tuple[np.ndarray, float]]


@dataclass
class PhaseRow:
    """Per-segment phase scores of one codec at one bitrate, and their means."""

    codec: str
    kbps: float
    scores: list[dict[str, float]] = field(default_factory=list)
    gl_phase_error: list[float] = field(default_factory=list)
    bands: list[np.ndarray] = field(default_factory=list)

    def mean(self, key: str) -> float:
        """Mean of a scalar over the segments (NaN when there are none)."""
        vals = [s[key] for s in self.scores]
        return float(np.mean(vals)) if vals else math.nan

    @property
    def gl_mean(self) -> float:
        """Mean phase error of the Griffin-Lim anchor (NaN when it was skipped)."""
        return float(np.mean(self.gl_phase_error)) if self.gl_phase_error else math.nan

    @property
    def band_mean(self) -> np.ndarray:
        """Per-band phase error, averaged over the segments where a band has weight."""
        with np.errstate(all="ignore"):
            return np.nanmean(np.stack(self.bands), axis=0)


def measure(
    name: str,
    roundtrip: Roundtrip,
    segments: Sequence[np.ndarray],
    sample_rate: int,
    kbps: Sequence[float],
    gl_iters: int = 100,
    progress: bool = True,
) -> tuple[list[PhaseRow], np.ndarray]:
    """Code every segment at every rate with ``roundtrip`` and score its phase.

    Returns one :class:`PhaseRow` per rate and the octave band edges (Hz) of the band scores.
    """
    from tqdm.auto import tqdm

    from cplxcodec.analysis import phase_fidelity

    rows = [PhaseRow(name, float(k)) for k in kbps]
    edges = np.zeros(0)
    total = len(segments) * len(rows)
    with tqdm(total=total, desc=name, unit="seg", disable=not progress) as bar:
        for x in segments:
            for row in rows:
                y, _ = roundtrip(x, sample_rate, row.kbps)
                pf = phase_fidelity(x, y, sample_rate, griffin_lim_iters=gl_iters)
                c = pf.codec
                row.scores.append(
                    {
                        "phase_error": c.phase_error,
                        "phase_error_deg": math.degrees(c.phase_error_rad),
                        "if_deviation_hz": c.if_deviation_hz,
                        "group_delay_deviation_ms": c.group_delay_deviation_ms,
                        "magnitude_error": c.magnitude_error,
                    }
                )
                row.bands.append(np.asarray(c.band_phase_error, dtype=float))
                if pf.griffin_lim is not None:
                    row.gl_phase_error.append(pf.griffin_lim.phase_error)
                edges = pf.band_edges_hz
                bar.update()
    return rows, edges


def summary_table(rows: Sequence[PhaseRow]) -> str:
    """Markdown: means per (codec, kbps), with the Griffin-Lim anchor's phase error."""
    head = ["codec", "kbps"] + [h for h, _ in SCALARS.values()] + ["GL anchor phase err.", "n"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.codec, f"{r.kbps:g}"]
        cells += [f"{r.mean(k):.{d}f}" for k, (_, d) in SCALARS.items()]
        cells += ["–" if math.isnan(r.gl_mean) else f"{r.gl_mean:.3f}", str(len(r.scores))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _band_names(edges: np.ndarray) -> list[str]:
    def hz(v: float) -> str:
        return f"{v / 1000:g}k" if v >= 1000 else f"{v:g}"

    return [f"{hz(a)}–{hz(b)}" for a, b in zip(edges[:-1], edges[1:])]


def band_table(rows: Sequence[PhaseRow], edges: np.ndarray) -> str:
    """Markdown: phase error ``1 − cos Δφ`` per octave band (Hz) for each (codec, kbps)."""
    head = ["codec", "kbps"] + _band_names(edges)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        vals = ["–" if math.isnan(v) else f"{v:.3f}" for v in r.band_mean]
        lines.append("| " + " | ".join([r.codec, f"{r.kbps:g}", *vals]) + " |")
    return "\n".join(lines)


def plot_bands(rows: Sequence[PhaseRow], edges: np.ndarray, path: str | Path) -> Path:
    """PNG: per-band phase error of every (codec, kbps), one panel per bitrate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = sorted({r.kbps for r in rows})
    pos, names = np.arange(len(edges) - 1), _band_names(edges)
    fig, axes = plt.subplots(1, len(rates), figsize=(5.5 * len(rates), 4), squeeze=False)
    for ax, kbps in zip(axes[0], rates):
        for r in (r for r in rows if r.kbps == kbps):
            ax.plot(pos, r.band_mean, marker="o", label=r.codec)
        ax.set_title(f"{kbps:g} kbps")
        ax.set_xticks(pos, names, rotation=30)
        ax.set_xlabel("octave band (Hz)")
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("phase error 1 − cos Δφ")
    axes[0][0].legend()
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


class _Unusable(Exception):
    """A codec that cannot be set up: the message, and the exit code ``main`` returns."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _codecs(args: argparse.Namespace) -> list[tuple[str, Roundtrip]]:
    """``(name, roundtrip)`` for every codec asked for; :class:`_Unusable` when one fails."""
    from cplxcodec.analysis import get_baseline
    from cplxcodec.models import load_model

    out: list[tuple[str, Roundtrip]] = []
    for label, spec in (("cplxcodec", args.model), ("cplxcodec-twin", args.twin)):
        if spec in (None, "none"):
            continue
        try:
            out.append((label, load_model(spec).eval().roundtrip))
        except Exception as err:  # ModelFileError, unknown name
            raise _Unusable(f"cannot load model {spec!r}: {err}", 1) from err
    for name in filter(None, (b.strip() for b in args.baselines.split(","))):
        try:
            base = get_baseline(name)
        except ValueError as err:
            raise _Unusable(str(err), 2) from err
        if not base.available():
            print(f"note: {name} skipped (missing {', '.join(base.missing())})", file=sys.stderr)
            continue
        out.append((name, base.roundtrip))
    if not out:
        raise _Unusable("nothing to measure: give --model and/or --baselines", 2)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 1 when a codec cannot be loaded, 2 on bad input."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="speech16k", help="model name or file ('none': skip)")
    p.add_argument("--twin", default=None, help="real-valued twin model file (optional)")
    p.add_argument("--baselines", default="opus", help="comma-separated baselines ('' for none)")
    p.add_argument("--kbps", type=float, nargs="+", default=[6.0, 12.0])
    p.add_argument("--data", default="data/speech/dev.csv", help="corpus CSV (file, speaker)")
    p.add_argument("--sample-rate", type=int, default=16000, help="rate of the segments (Hz)")
    p.add_argument("--limit", type=int, default=None, help="the first N segments only")
    p.add_argument("--every", type=int, default=1, help="every M-th segment")
    p.add_argument("--gl-iters", type=int, default=100, help="Griffin-Lim anchor (0: skip)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out-md", type=Path, default=None)
    p.add_argument("--out-json", type=Path, default=None)
    p.add_argument("--plot", type=Path, default=None, help="PNG of the per-band phase error")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.every < 1 or args.gl_iters < 0 or any(k <= 0 for k in args.kbps):
        print("error: --every and --kbps must be positive, --gl-iters >= 0", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    try:
        codecs = _codecs(args)
    except _Unusable as err:
        print(f"error: {err}", file=sys.stderr)
        return err.code
    try:
        plans, segs = build_segments(args.data, args.sample_rate, limit=args.limit, every=args.every)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    chosen = [segs[s.name] for s in plans]
    rows: list[PhaseRow] = []
    edges = np.zeros(0)
    for name, roundtrip in codecs:
        got, edges = measure(
            name, roundtrip, chosen, args.sample_rate, args.kbps, args.gl_iters,
            progress=not args.no_progress,
        )  # fmt: skip
        rows += got
    order = {name: i for i, (name, _) in enumerate(codecs)}
    rows.sort(key=lambda r: (r.kbps, order[r.codec]))
    seconds = sum(len(x) for x in chosen) / args.sample_rate
    note = f"{len(chosen)} segments ({seconds:.0f} s) of {args.data}"
    text = (
        f"{note}\n\n{summary_table(rows)}\n\nPhase error 1 − cos Δφ per octave band:\n\n"
        f"{band_table(rows, edges)}"
    )
    print(text)
    if args.out_md:
        args.out_md.write_text(text + "\n", encoding="utf-8")
    if args.out_json:
        payload = {
            "segments": len(chosen),
            "seconds": seconds,
            "band_edges_hz": edges.tolist(),
            "rows": [
                {
                    "codec": r.codec,
                    "kbps": r.kbps,
                    "scores": r.scores,
                    "gl_phase_error": r.gl_phase_error,
                    "band_phase_error": [[None if math.isnan(v) else v for v in b] for b in r.bands],
                }
                for r in rows
            ],
        }
        args.out_json.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    if args.plot:
        print(f"plot: {plot_bands(rows, edges, args.plot)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
