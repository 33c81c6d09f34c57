"""Self-contained HTML report: metrics table, RD curves, codebook usage, phase fidelity and
spectrogram examples, with every figure embedded as a base64 PNG.

Every section is always present, with a stable ``id`` (:data:`REPORT_SECTIONS`), and says
"not provided" when its input is missing, so pages from different runs line up. Images carry
``class="plot"`` and an ``id`` starting with the section id.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cplxcodec.analysis.bdrate import bd_quality, bd_rate
from cplxcodec.analysis.evaluate import EvalResult
from cplxcodec.analysis.phase import PhaseFidelity
from cplxcodec.analysis.plots import (
    codebook_usage_figure,
    phase_figure,
    rd_figure,
    spectrogram_figure,
)
from cplxcodec.analysis.usage import CodebookUsage

__all__ = ["REPORT_SECTIONS", "ReportExample", "build_report"]

#: Section ids, in page order.
REPORT_SECTIONS: tuple[str, ...] = (
    "summary",
    "metrics",
    "rd-curves",
    "codebook-usage",
    "phase-fidelity",
    "spectrograms",
)

_TITLES = {
    "summary": "Summary",
    "metrics": "Objective metrics",
    "rd-curves": "Rate-distortion curves",
    "codebook-usage": "Codebook usage",
    "phase-fidelity": "Phase fidelity",
    "spectrograms": "Spectrograms",
}

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #bbb;margin-top:2em}
table{border-collapse:collapse;margin:0.5em 0;font-size:0.85em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}
td.l,th.l{text-align:left}img.plot{max-width:100%;display:block;margin:0.5em 0}
.grid{display:flex;flex-wrap:wrap;gap:1em}.grid img.plot{max-width:48%}
.bad{color:#b00;font-weight:bold}.note{color:#666;font-style:italic}
"""


@dataclass
class ReportExample:
    """A reference/decoded pair shown as spectrograms."""

    name: str
    reference: np.ndarray
    decoded: np.ndarray
    sample_rate: int


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _slug(x: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in x.lower()).strip("-") or "x"


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, (float, np.floating)):
        return "–" if not math.isfinite(float(v)) else f"{float(v):.{digits}f}"
    return _esc(v)


def _img(png: bytes, img_id: str, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<img class="plot" id="{_esc(img_id)}" alt="{_esc(alt)}" '
        f'src="data:image/png;base64,{data}">'
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], table_id: str) -> str:
    head = "".join(
        f'<th class="l">{_esc(h)}</th>' if i == 0 else f"<th>{_esc(h)}</th>"
        for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="l">{_fmt(c)}</td>' if i == 0 else f"<td>{_fmt(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f'<table id="{_esc(table_id)}"><tr>{head}</tr>{body}</table>'


def _named(obj: Any, cls: type, default_name: str) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, cls):
        return {default_name: obj}
    if isinstance(obj, Mapping):
        return {str(k): v for k, v in obj.items()}
    raise TypeError(f"expected a {cls.__name__} or a mapping name -> {cls.__name__}, got {obj!r}")


def _missing(what: str) -> str:
    return f'<p class="note">No {_esc(what)} provided.</p>'


def _safe(fn: Any, *args: Any) -> float:
    try:
        return float(fn(*args))
    except ValueError:
        return math.nan


def _summary(result: EvalResult | None) -> str:
    if result is None:
        return _missing("evaluation result")
    parts = [
        f"<p>{len(result.items())} item(s), codecs: {_esc(', '.join(result.codecs()))}; "
        f"requested bitrates: {_esc(', '.join(f'{k:g}' for k in result.kbps))} kbps; "
        f"sample rate {result.sample_rate} Hz.</p>"
    ]
    for name, why in result.skipped.items():
        parts.append(f'<p class="note">Skipped baseline {_esc(name)}: {_esc(why)}</p>')
    codecs = result.codecs()
    if "pesq_wb" in result.metric_names() and len(codecs) > 1:
        tested = codecs[0]
        rows = []
        for anchor in codecs[1:]:
            ra, qa = result.rd_curve(anchor, "pesq_wb")
            rb, qb = result.rd_curve(tested, "pesq_wb")
            rows.append([anchor, _safe(bd_rate, ra, qa, rb, qb), _safe(bd_quality, ra, qa, rb, qb)])
        parts.append(
            f"<p>Bjøntegaard deltas of {_esc(tested)} against each anchor on PESQ-WB "
            "(cubic fit over the overlapping range; BD-rate negative = fewer bits than "
            "the anchor for the same quality; – where the curves do not overlap or have "
            "fewer than 2 rates):</p>"
        )
        parts.append(_table(["anchor", "BD-rate %", "BD-PESQ"], rows, "bd-rate-table"))
    return "\n".join(parts)


def _metrics(result: EvalResult | None) -> str:
    if result is None:
        return _missing("evaluation result")
    names = result.metric_names()
    rows = []
    for codec, by_rate in result.aggregate().items():
        for k, row in by_rate.items():
            rows.append([codec, f"{k:g}", row["actual_kbps"], *[row.get(m) for m in names]])
    return _table(["codec", "kbps", "actual kbps", *names], rows, "metrics-table")


def _rd(result: EvalResult | None) -> str:
    if result is None or not result.records:
        return _missing("evaluation result")
    imgs = "\n".join(
        _img(rd_figure(result, m), f"rd-curves-{_slug(m)}", f"{m} against bitrate")
        for m in result.metric_names()
    )
    return f'<div class="grid">{imgs}</div>'


def _usage(usages: dict[str, CodebookUsage]) -> str:
    if not usages:
        return _missing("codebook usage")
    parts = []
    for label, u in usages.items():
        parts.append(f"<h3>{_esc(label)}</h3>")
        flagged = u.collapsed_stages()
        parts.append(
            f'<p class="bad">Collapsed stages: {_esc(flagged)}</p>'
            if flagged
            else "<p>No collapsed stage.</p>"
        )
        rows = [
            [
                s,
                100 * u.usage_fraction[s],
                u.perplexity[s],
                u.normalized_entropy[s],
                int(u.dead_codes[s].size),
                u.normalized_mutual_information[s] if s < u.n_stages - 1 else None,
                "yes" if u.collapsed[s] else "no",
            ]
            for s in range(u.n_stages)
        ]
        parts.append(
            _table(
                ["stage", "used %", "perplexity", "H/log2 S", "dead", "NMI with next", "collapsed"],
                rows,
                f"codebook-usage-table-{_slug(label)}",
            )
        )
        parts.append(
            _img(
                codebook_usage_figure(u, label),
                f"codebook-usage-{_slug(label)}",
                f"code histograms, {label}",
            )
        )
    return "\n".join(parts)


def _phase(phases: dict[str, PhaseFidelity]) -> str:
    if not phases:
        return _missing("phase analysis")
    parts = [
        "<p>Magnitude-weighted phase error 1 − cos Δφ (0 identical, 1 random), its mean "
        "absolute angle, instantaneous-frequency and group-delay deviations, for the codec "
        "and for its own magnitudes with Griffin-Lim phase.</p>"
    ]
    for label, p in phases.items():
        rows = []
        for name, s in (("codec", p.codec), ("Griffin-Lim", p.griffin_lim)):
            if s is not None:
                rows.append(
                    [
                        name,
                        s.phase_error,
                        s.phase_error_rad,
                        s.if_deviation_hz,
                        s.group_delay_deviation_ms,
                        s.magnitude_error,
                    ]
                )
        parts.append(f"<h3>{_esc(label)}</h3>")
        parts.append(
            _table(
                ["", "1 − cos Δφ", "|Δφ| (rad)", "IF dev. (Hz)", "GD dev. (ms)", "mag. error"],
                rows,
                f"phase-fidelity-table-{_slug(label)}",
            )
        )
        parts.append(
            _img(
                phase_figure(p, label),
                f"phase-fidelity-{_slug(label)}",
                f"phase error against frequency, {label}",
            )
        )
    return "\n".join(parts)


def _examples(examples: Sequence[ReportExample]) -> str:
    if not examples:
        return _missing("examples")
    return "\n".join(
        f"<h3>{_esc(e.name)}</h3>"
        + _img(
            spectrogram_figure(e.reference, e.decoded, e.sample_rate, e.name),
            f"spectrograms-{_slug(e.name)}",
            f"spectrograms of {e.name}",
        )
        for e in examples
    )


def build_report(
    eval_result: EvalResult | None = None,
    *,
    usage: CodebookUsage | Mapping[str, CodebookUsage] | None = None,
    phase: PhaseFidelity | Mapping[str, PhaseFidelity] | None = None,
    examples: Sequence[ReportExample] | Mapping[str, tuple] | None = None,
    out_path: str | os.PathLike[str],
    title: str = "cplxcodec analysis report",
) -> Path:
    """Write the HTML report and return its path.

    Args:
        eval_result: from :func:`~cplxcodec.analysis.evaluate` (metrics table, RD curves,
            BD-rates against the first codec).
        usage: one :class:`CodebookUsage` or ``{label: CodebookUsage}`` (e.g. per bitrate).
        phase: one :class:`PhaseFidelity` or ``{label: PhaseFidelity}``.
        examples: :class:`ReportExample` objects, or ``{name: (reference, decoded, rate)}``.
        out_path: the HTML file to write (parent folders are created; overwritten).
        title: page title.
    """
    if isinstance(examples, Mapping):
        examples = [ReportExample(str(k), *v) for k, v in examples.items()]
    bodies = {
        "summary": _summary(eval_result),
        "metrics": _metrics(eval_result),
        "rd-curves": _rd(eval_result),
        "codebook-usage": _usage(_named(usage, CodebookUsage, "codec")),
        "phase-fidelity": _phase(_named(phase, PhaseFidelity, "codec")),
        "spectrograms": _examples(list(examples or [])),
    }
    nav = " · ".join(f'<a href="#{s}">{_esc(_TITLES[s])}</a>' for s in REPORT_SECTIONS)
    sections = "\n".join(
        f'<section id="{s}"><h2>{_esc(_TITLES[s])}</h2>\n{bodies[s]}\n</section>'
        for s in REPORT_SECTIONS
    )
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head>\n<body>"
        f"<h1>{_esc(title)}</h1><nav>{nav}</nav>\n{sections}\n</body></html>\n"
    )
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
