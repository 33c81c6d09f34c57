"""Head-to-head quality benchmark on the real speech dev split (issue #9).

Builds ~10 s segments from the dev clips (consecutive clips of one speaker group joined by
100 ms of silence; see ``benchmarks/_segments.py``), codes them with

* our model (``--model``: a bundled name or a model file; ``none`` for baselines only),
* its real-valued twin (``--twin``, optional),
* the classical baselines (``--baselines``, default Opus, AMR-WB and Speex; one whose tools are
  missing here is skipped with a note),

at 6 and 12 kbps, and scores every decoded segment against its input with PESQ-WB, STOI, SI-SDR
and the log-mel L1 distance (:mod:`cplxcodec.analysis.metrics`). The actual bitrate is the size
of the compressed file (headers included) × 8 / duration.

Output: a Markdown table of per-(codec, bitrate) means with the segment count, printed and
written to ``--out-md``; every record, the aggregates, the segment plan and the target checks as
JSON in ``--out-json``; with more than one bitrate, the model's BD-rate on PESQ-WB against every
other codec (:meth:`~cplxcodec.analysis.EvalResult.bd_rates`: negative = fewer bits for the same
quality; printed and in both files) and, with ``--plot``, a PNG of PESQ-WB against actual kbps
for every codec. Then the targets of issue #9 are checked and printed:

* 6 kbps: PESQ-WB ≥ 3.2 and STOI ≥ 0.92; 12 kbps: PESQ-WB ≥ 3.9 and STOI ≥ 0.97;
* actual kbps ≤ nominal on every segment;
* beats Opus at the same requested bitrate on every metric (higher PESQ-WB, STOI, SI-SDR; lower
  mel distance), comparing means;
* the complex model beats its real-valued twin the same way (when ``--twin`` is given);
* every RVQ stage uses at least 90 % of its codes on the dev segments (all stages coded; a
  model without ``encode``/``config``, such as a test stand-in, is not checked).

Run: ``python benchmarks/quality.py --model speech16k --twin PATH`` (several minutes per codec
on 2 cores for the ~8 minutes of dev audio); ``--kbps 3 4 6 8 10 12 --baseline-kbps 6 8 10 12
--plot rd.png`` for rate-quality curves (the model at any whole number of its ~0.98 kbps
stages; the baselines at their own rates); ``--limit 3`` for a quick check (``--every M`` for
every M-th segment); ``--shard I/N --out-json part_I.json`` codes one of N interleaved parts
(one process per core: the slow refined runs) and ``--merge part_*.json`` reports the parts as
one run; ``--refine N`` encodes the model's (and the twin's) files with N iterations
of analysis-by-synthesis code refinement (:mod:`cplxcodec.models.refine`; ~N decoder passes per
file); the files use variable stage allocation (:mod:`cplxcodec.quantization.allocation`, what
``compress`` does by default), ``--cbr`` constant-rate files (every table before session 20);
``--baselines-only`` (or ``--model none``) for the reference rows of the classical codecs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _segments import build_segments

from cplxcodec.analysis import EvalResult, evaluate, get_baseline, mel_distance, pesq_wb, si_sdr
from cplxcodec.analysis import stoi as stoi_metric
from cplxcodec.analysis.baselines import BASELINES

__all__ = [
    "METRICS",
    "RefinedCodec",
    "TargetCheck",
    "bd_lines",
    "check_targets",
    "model_bd_rates",
    "main",
    "markdown_table",
    "merge_results",
    "quality_metrics",
]

#: metric key -> (column title, higher is better)
METRICS: dict[str, tuple[str, bool]] = {
    "pesq_wb": ("PESQ-WB", True),
    "stoi": ("STOI", True),
    "si_sdr": ("SI-SDR (dB)", True),
    "mel_distance": ("mel dist.", False),
}

#: requested kbps -> {metric: minimum mean} (issue #9)
ABSOLUTE_TARGETS: dict[float, dict[str, float]] = {
    6.0: {"pesq_wb": 3.2, "stoi": 0.92},
    12.0: {"pesq_wb": 3.9, "stoi": 0.97},
}

MODEL_NAME = "cplxcodec"
TWIN_NAME = "cplxcodec-twin"


def quality_metrics(reference: np.ndarray, decoded: np.ndarray, sample_rate: int) -> dict:
    """The benchmark's metrics of one decoded segment (keys of :data:`METRICS`)."""
    return {
        "pesq_wb": pesq_wb(reference, decoded, sample_rate),
        "stoi": stoi_metric(reference, decoded, sample_rate),
        "si_sdr": si_sdr(reference, decoded),
        "mel_distance": mel_distance(reference, decoded, sample_rate),
    }


def merge_results(results: Sequence[EvalResult]) -> EvalResult:
    """Concatenate the records (and skipped baselines) of several evaluations of one item set."""
    out = EvalResult()
    for r in results:
        if out.sample_rate and r.sample_rate and r.sample_rate != out.sample_rate:
            raise ValueError(f"cannot merge results at {out.sample_rate} and {r.sample_rate} Hz")
        out.sample_rate = out.sample_rate or r.sample_rate
        out.records.extend(r.records)
        out.kbps = list(dict.fromkeys([*out.kbps, *r.kbps]))
        out.skipped.update(r.skipped)
    return out


def model_bd_rates(result: EvalResult, model: str = MODEL_NAME) -> dict[str, float]:
    """BD-rate in % on PESQ-WB of ``model`` against every other codec (NaN: too few rates or no
    overlap); empty when ``model`` is absent or was run at one bitrate only."""
    if model not in result.codecs() or len(result.aggregate()[model]) < 2:
        return {}
    return {a: result.bd_rates(a)[model] for a in result.codecs() if a != model}


def bd_lines(rates: Mapping[str, float], model: str = MODEL_NAME) -> str:
    """:func:`model_bd_rates` as text, one line per anchor ("" for none)."""
    lines = [f"BD-rate of {model} on PESQ-WB (negative: fewer bits for the same quality):"]
    for anchor, v in rates.items():
        shown = f"{v:+.1f} %" if math.isfinite(v) else "n/a (too few rates or no overlap)"
        lines.append(f"  vs {anchor}: {shown}")
    return "\n".join(lines) if rates else ""


def _fmt(v: float, digits: int) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def markdown_table(result: EvalResult) -> str:
    """Markdown table: one row per (codec, requested kbps) with the metric means, the mean and
    maximum actual kbps and the number of segments."""
    agg = result.aggregate()
    head = ["codec", "kbps", "actual kbps (mean / max)", *(t for t, _ in METRICS.values()), "n"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    digits = {"pesq_wb": 3, "stoi": 4, "si_sdr": 2, "mel_distance": 3}
    for codec, rows in agg.items():
        for k, row in rows.items():
            peak = max(r.actual_kbps for r in result.records if r.codec == codec and r.kbps == k)
            cells = [
                codec,
                f"{k:g}",
                f"{row['actual_kbps']:.2f} / {peak:.2f}",
                *(_fmt(row.get(m, math.nan), digits[m]) for m in METRICS),
                f"{int(row['n'])}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass
class TargetCheck:
    """One target of issue #9: what was checked, whether it holds (None: not checked), why."""

    target: str
    passed: bool | None
    detail: str


def _beats(
    agg: Mapping[str, Mapping[float, Mapping[str, float]]], a: str, b: str, k: float
) -> tuple[bool, str]:
    parts, ok = [], True
    for m, (title, higher) in METRICS.items():
        va, vb = agg[a][k].get(m, math.nan), agg[b][k].get(m, math.nan)
        won = math.isfinite(va) and math.isfinite(vb) and (va > vb if higher else va < vb)
        ok &= won
        parts.append(f"{title} {_fmt(va, 3)} vs {_fmt(vb, 3)}{'' if won else ' (no)'}")
    return ok, "; ".join(parts)


def check_targets(
    result: EvalResult,
    model: str = MODEL_NAME,
    twin: str = TWIN_NAME,
    anchor: str = "opus",
) -> list[TargetCheck]:
    """Check the targets of issue #9 (module docstring) for ``model`` in ``result``."""
    agg = result.aggregate()
    if model not in agg:
        return [TargetCheck("all targets", None, f"no records of {model!r}")]
    checks = []
    for k, rows in agg[model].items():
        for m, lo in ABSOLUTE_TARGETS.get(k, {}).items():
            v = rows.get(m, math.nan)
            checks.append(
                TargetCheck(f"{k:g} kbps {METRICS[m][0]} >= {lo:g}", bool(v >= lo), _fmt(v, 3))
            )
        peak = max(r.actual_kbps for r in result.records if r.codec == model and r.kbps == k)
        checks.append(
            TargetCheck(
                f"{k:g} kbps actual <= nominal",
                bool(peak <= k + 1e-9),
                f"max {peak:.3f}, mean {rows['actual_kbps']:.3f} kbps",
            )
        )
        for other, label in ((anchor, anchor), (twin, "twin")):
            name = f"{k:g} kbps beats {label} on every metric"
            if other not in agg or k not in agg[other]:
                checks.append(TargetCheck(name, None, f"no {label} records at {k:g} kbps"))
            else:
                checks.append(TargetCheck(name, *_beats(agg, model, other, k)))
    return checks


def usage_check(codec: Any, segments: Sequence[np.ndarray], minimum: float = 0.9) -> TargetCheck:
    """Issue #9's usage target: every stage of ``codec`` uses ``>= minimum`` of its codes when
    all of ``segments`` are coded with every stage (codes pooled over the segments)."""
    import torch

    from cplxcodec.analysis import codebook_usage

    cfg = getattr(codec, "config", None)
    if cfg is None or not hasattr(codec, "encode"):
        return TargetCheck(f"every stage uses >= {minimum:.0%} of its codes", None, "not a model")
    kbps = cfg.supported_kbps[-1]
    with torch.inference_mode():
        codes = [
            codec.encode(torch.from_numpy(np.asarray(seg, np.float32))[None, None], kbps)[0]
            for seg in segments
        ]
    usage = codebook_usage(torch.cat(codes, dim=-1)[None], cfg.codebook_size)
    frac = usage.usage_fraction
    detail = (
        f"min {frac.min():.1%} (stage {int(frac.argmin()) + 1}) over {usage.n_samples} frames; "
        "per stage " + " ".join(f"{100 * f:.0f}" for f in frac)
    )
    return TargetCheck(
        f"every stage uses >= {minimum:.0%} of its codes", bool(frac.min() >= minimum), detail
    )


def _format_checks(checks: Sequence[TargetCheck]) -> str:
    mark = {True: "PASS", False: "FAIL", None: "----"}
    return "\n".join(f"  [{mark[c.passed]}] {c.target}: {c.detail}" for c in checks)


def _shard(text: str) -> tuple[int, int]:
    """argparse type: ``I/N`` with ``0 <= I < N``."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N (e.g. 0/2), got {text!r}") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"need 0 <= I < N in I/N, got {text!r}")
    return i, n


def merge_shards(paths: Sequence[str | Path]) -> tuple[EvalResult, list[str], dict[str, Any]]:
    """The records of ``--shard`` runs' ``--out-json`` files as one result, the segment names
    and the run's settings. ``ValueError`` when a file is not such a file, a segment appears
    twice or the shards' settings differ."""
    parts, names, settings = [], [], None
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
            data = json.loads(text)
            result = EvalResult.from_json(text)
            these = [s["name"] for s in data["segments"]]
            mine = {k: v for k, v in data["settings"].items() if k not in _PER_SHARD}
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a quality.py --out-json file ({err})") from None
        if settings is not None and mine != settings:
            raise ValueError(f"{path}: settings differ from the first file's: {mine} vs {settings}")
        settings = mine
        twice = set(these) & set(names)
        if twice:
            raise ValueError(f"{path}: segments already in an earlier file: {sorted(twice)[:3]}")
        names += these
        parts.append(result)
    return merge_results(parts), names, settings or {}


def _pooled_usage(settings: Mapping[str, Any], names: Sequence[str]) -> TargetCheck:
    """The usage check over every merged segment (a shard's own check sees only its part, and
    fewer frames use fewer codes): the model and segments named by the run's settings."""
    try:
        model = _load(settings.get("model"))
        if model is None:
            raise ValueError("the run names no model")
        plans, segments = build_segments(
            settings["data"],
            model.sample_rate,
            target_seconds=settings["segment_seconds"],
            gap_seconds=settings["gap"],
            limit=settings["limit"],
            every=settings.get("every", 1),
        )
        wanted = set(names)
        return usage_check(model, [segments[p.name] for p in plans if p.name in wanted])
    except Exception as err:  # a moved corpus or model file: say so, keep the rest
        return TargetCheck("every stage uses >= 90% of its codes", None, f"not checked: {err}")


#: ``--out-json`` settings that differ between the shards of one run.
_PER_SHARD = ("shard", "seconds", "elapsed_s")


def _report(
    result: EvalResult,
    checks: list[TargetCheck],
    bd_rates: Mapping[str, float],
    out_md: str | None = None,
    note: str = "",
) -> None:
    """Print the table, the BD-rates and the targets; also as Markdown, after ``note``, to
    ``out_md`` when given."""
    table = markdown_table(result)
    print(table)
    bd = bd_lines(bd_rates)
    if bd:
        print("\n" + bd)
    if checks:
        print("\nTargets (issue #9):\n" + _format_checks(checks))
    if out_md:
        extra = f"\n\n```\n{bd}\n```" if bd else ""
        extra += f"\n\nTargets (issue #9):\n\n```\n{_format_checks(checks)}\n```" if checks else ""
        Path(out_md).write_text(note + table + extra + "\n", encoding="utf-8")


def _write_json(path: str, data: Mapping[str, Any]) -> None:
    Path(path).write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _merge_main(args: argparse.Namespace) -> int:
    try:
        result, names, settings = merge_shards(args.merge)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    has_model = MODEL_NAME in result.codecs()
    checks = (check_targets(result) + [_pooled_usage(settings, names)]) if has_model else []
    note = f"{len(names)} segments from {', '.join(map(str, args.merge))}.\n\n"
    _report(result, checks, model_bd_rates(result), args.out_md, note)
    print(f"\n{len(names)} segments from {len(args.merge)} files", file=sys.stderr)
    if args.out_json:
        data = result.to_dict()
        data["segments"] = [{"name": n} for n in names]
        data["targets"] = [asdict(c) for c in checks]
        data["settings"] = dict(settings)
        data["merged_from"] = [str(p) for p in args.merge]
        _write_json(args.out_json, data)
    return 0


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="benchmarks/quality.py",
        description="Quality of the codec, its real twin and classical baselines on ~10 s dev "
        "speech segments (PESQ-WB, STOI, SI-SDR, mel distance, actual kbps).",
    )
    p.add_argument("--data", default="data/speech/dev.csv", help="corpus CSV (file, speaker)")
    p.add_argument("--model", default="speech16k", help="model name or file; 'none' to skip")
    p.add_argument("--twin", default=None, help="real-valued twin (model name or file)")
    p.add_argument("--baselines-only", action="store_true", help="same as --model none")
    p.add_argument(
        "--baselines",
        default="opus,amrwb,speex",
        help=f"comma-separated, from {', '.join(BASELINES)}; 'none' for no baselines",
    )
    p.add_argument("--kbps", type=float, nargs="+", default=[6.0, 12.0], help="bitrates")
    p.add_argument(
        "--baseline-kbps",
        type=float,
        nargs="+",
        default=None,
        help="bitrates of the baselines (default: --kbps)",
    )
    p.add_argument("--sample-rate", type=int, default=None, help="default: the model's, or 16000")
    p.add_argument("--segment-seconds", type=float, default=10.0, help="target segment length")
    p.add_argument("--gap", type=float, default=0.1, help="silence between clips, seconds")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N segments only")
    p.add_argument("--every", type=int, default=1, help="evaluate every M-th segment only")
    p.add_argument(
        "--shard",
        type=_shard,
        default=None,
        metavar="I/N",
        help="evaluate the I-th of N interleaved parts of the segments (0 <= I < N; after "
        "--limit and --every), e.g. one process per core; --merge joins their --out-json files",
    )
    p.add_argument(
        "--merge",
        nargs="+",
        default=None,
        metavar="JSON",
        help="join the --out-json files of --shard runs (disjoint segments, same settings) and "
        "report them as one run; nothing is coded but the usage check, over all segments",
    )
    p.add_argument("--out-md", default=None, help="write the Markdown table here")
    p.add_argument("--out-json", default=None, help="write all results here")
    p.add_argument("--plot", default=None, help="write PESQ-WB against actual kbps here (PNG)")
    p.add_argument(
        "--refine",
        type=int,
        default=0,
        metavar="N",
        help="analysis-by-synthesis refinement iterations for the model and the twin (0 = off)",
    )
    p.add_argument(
        "--refine-stoi-weight",
        type=float,
        default=None,
        metavar="W",
        help="weight of the refinement loss's 1 - STOI term, passed to the model's roundtrip "
        "(default: cplxcodec.models.refine.REFINE_STOI_WEIGHT)",
    )
    p.add_argument(
        "--cbr",
        action="store_true",
        help="constant-rate files for the model and the twin (default: variable stage "
        "allocation, as `compress` writes them since session 20)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads for the model")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def _baselines(spec: str) -> tuple[list[str], dict[str, str]]:
    names = [n.strip().lower() for n in spec.split(",") if n.strip()]
    if names == ["none"]:
        return [], {}
    usable, skipped = [], {}
    for n in names:
        base = get_baseline(n)  # ValueError for unknown names
        miss = base.missing()
        if miss:
            skipped[n] = f"missing {', '.join(miss)}"
        else:
            usable.append(n)
    return usable, skipped


class RefinedCodec:
    """A model whose files are encoded with ``refine`` iterations of analysis-by-synthesis code
    refinement (``--refine``; :mod:`cplxcodec.models.refine`), with variable stage allocation or
    (``vbr=False``, ``--cbr``) at constant rate, and refinement's intelligibility term weighted
    ``stoi_weight`` (``None``: the model's default, and not passed on). Everything else
    (``encode``, ``config``, ``sample_rate``) is the model's own, so the usage check sees
    constant-rate, unrefined codes."""

    def __init__(
        self, model: Any, iterations: int, vbr: bool = True, stoi_weight: float | None = None
    ) -> None:
        self.model, self.iterations, self.vbr = model, iterations, vbr
        self.stoi_weight = stoi_weight

    def roundtrip(self, wav: np.ndarray, sample_rate: int, kbps: float) -> tuple[np.ndarray, float]:
        """The model's roundtrip with these settings."""
        extra = {} if self.stoi_weight is None else {"stoi_weight": self.stoi_weight}
        return self.model.roundtrip(
            wav, sample_rate, kbps, refine=self.iterations, vbr=self.vbr, **extra
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def _load(spec: str | None) -> Any:
    if spec is None or spec.strip().lower() in ("", "none"):
        return None
    from cplxcodec.models import load_model

    return load_model(spec)


def main(argv: Sequence[str] | None = None, *, codec: Any = None, twin: Any = None) -> int:
    """Run the benchmark; returns 0 on success, 1 when a model cannot be loaded or a run fails,
    2 on bad input. ``codec`` / ``twin`` objects replace ``--model`` / ``--twin`` (tests)."""
    args = _parse(argv)
    if args.merge:
        return _merge_main(args)
    try:
        baselines, skipped = _baselines(args.baselines)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.limit is not None and args.limit < 1:
        print(f"error: --limit must be positive, got {args.limit}", file=sys.stderr)
        return 2
    for name, why in skipped.items():
        print(f"note: skipping baseline {name}: {why}", file=sys.stderr)
    try:
        if codec is None and not args.baselines_only:
            codec = _load(args.model)
        if twin is None:
            twin = _load(args.twin)
    except Exception as err:  # ModelFileError, KeyError, corrupt files
        print(f"error: cannot load model: {err}", file=sys.stderr)
        return 1
    if args.baselines_only:
        codec = None
    if args.refine < 0:
        print(f"error: --refine must be >= 0, got {args.refine}", file=sys.stderr)
        return 2
    from cplxcodec.models.refine import check_refine

    try:
        check_refine(args.refine, stoi_weight=args.refine_stoi_weight)
    except ValueError as err:
        print(f"error: --refine-stoi-weight: {err}", file=sys.stderr)
        return 2
    if args.refine or args.cbr:
        wrap = dict(vbr=not args.cbr, stoi_weight=args.refine_stoi_weight)
        codec = RefinedCodec(codec, args.refine, **wrap) if codec is not None else None
        twin = RefinedCodec(twin, args.refine, **wrap) if twin is not None else None
    if codec is None and twin is None and not baselines:
        print("error: nothing to evaluate (no model, no twin, no baseline)", file=sys.stderr)
        return 2
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    sr = args.sample_rate or int(getattr(codec, "sample_rate", 0) or 16000)
    try:
        plans, segments = build_segments(
            args.data,
            sr,
            target_seconds=args.segment_seconds,
            gap_seconds=args.gap,
            limit=args.limit,
            every=args.every,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.shard is not None:
        index, count = args.shard
        plans = plans[index::count]
        segments = {s.name: segments[s.name] for s in plans}
        if not plans:
            print(f"error: shard {index}/{count} holds no segment", file=sys.stderr)
            return 2
    seconds = sum(s.seconds for s in plans)
    print(
        f"{len(plans)} segments, {seconds / 60:.1f} min of audio at {sr} Hz "
        f"({len({s.speaker for s in plans})} speaker groups)",
        file=sys.stderr,
    )

    t0 = time.perf_counter()
    common = dict(sample_rate=sr, progress=not args.no_progress, metrics_fn=quality_metrics)
    try:
        parts = []
        base_kbps = args.baseline_kbps or args.kbps
        together = codec is not None and list(base_kbps) == list(args.kbps)
        if codec is not None:
            parts.append(
                evaluate(
                    codec,
                    segments,
                    args.kbps,
                    baselines=baselines if together else [],
                    codec_name=MODEL_NAME,
                    **common,
                )
            )
        if baselines and not together:  # at their own rates (also with no model)
            parts.append(evaluate(None, segments, base_kbps, baselines=baselines, **common))
        if twin is not None:
            parts.append(evaluate(twin, segments, args.kbps, codec_name=TWIN_NAME, **common))
    except Exception as err:
        print(f"error: evaluation failed: {err}", file=sys.stderr)
        return 1
    result = merge_results(parts)
    result.skipped.update(skipped)
    elapsed = time.perf_counter() - t0

    checks = check_targets(result) if codec is not None else []
    if codec is not None:
        checks.append(usage_check(codec, list(segments.values())))
    bd_rates = model_bd_rates(result)
    note = (
        f"{len(plans)} segments of ~{args.segment_seconds:g} s ({seconds / 60:.1f} min) "
        f"from {args.data}; means per codec and requested bitrate.\n\n"
    )
    if result.skipped:
        note += "Skipped: " + "; ".join(f"{k} ({v})" for k, v in result.skipped.items())
        note += ".\n\n"
    _report(result, checks, bd_rates, args.out_md, note)
    print(f"\n{elapsed:.0f} s for {len(result.records)} coded segments", file=sys.stderr)
    if args.out_json:
        data = result.to_dict()
        data["settings"] = {
            "data": str(args.data),
            "model": None if codec is None else args.model,
            "twin": args.twin,
            "segment_seconds": args.segment_seconds,
            "gap": args.gap,
            "limit": args.limit,
            "every": args.every,
            "kbps": list(args.kbps),
            "refine": args.refine,
            "refine_stoi_weight": args.refine_stoi_weight,
            "cbr": args.cbr,
            "shard": None if args.shard is None else f"{args.shard[0]}/{args.shard[1]}",
            "seconds": seconds,
            "elapsed_s": elapsed,
        }
        data["segments"] = [s.describe() for s in plans]
        data["targets"] = [asdict(c) for c in checks]
        data["bd_rate_pesq_wb"] = {a: v if math.isfinite(v) else None for a, v in bd_rates.items()}
        _write_json(args.out_json, data)
    if args.plot:  # last: the figures above are written even if plotting fails
        from cplxcodec.analysis.plots import rd_figure

        Path(args.plot).write_bytes(rd_figure(result, "pesq_wb"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
