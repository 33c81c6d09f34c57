"""The ``cplxcodec eval`` and ``cplxcodec report`` commands.

``eval_main(argv)`` and ``report_main(argv)`` parse their arguments, load the model lazily with
``cplxcodec.models.load_model`` (or use a ``codec`` object passed in, for tests and notebooks),
and return an exit status: 0 on success, 1 when the model cannot be loaded or a run fails, 2 on
bad input (missing data folder, no audio files, unknown baseline, existing output without
``--force``). Errors go to stderr.

Audio files (wav, flac, ogg, recursively under ``--data``, sorted) are read with soundfile,
downmixed to mono and resampled with soxr to the model's ``sample_rate``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cplxcodec.analysis.baselines import BASELINES, available_baselines
from cplxcodec.analysis.evaluate import EvalResult, evaluate, find_audio_files, load_mono
from cplxcodec.analysis.phase import PhaseFidelity, phase_fidelity
from cplxcodec.analysis.report import ReportExample, build_report
from cplxcodec.analysis.usage import CodebookUsage, codebook_usage

__all__ = ["eval_main", "report_main", "run_eval", "run_report"]


class _UsageError(Exception):
    """Bad command-line input (exit status 2)."""


def _common(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--model", help="model name or checkpoint path (see cplxcodec.models)")
    p.add_argument("--data", required=True, help="folder of wav/flac/ogg files (recursive)")
    p.add_argument("--kbps", type=float, nargs="+", default=[6.0, 12.0], help="bitrates")
    p.add_argument(
        "--baselines",
        default="",
        help=f"comma-separated baselines ({', '.join(BASELINES)}) or 'all' (every installed one)",
    )
    p.add_argument("--limit", type=int, default=None, help="use at most N files")
    p.add_argument("--mos", action="store_true", help="also compute DNSMOS (slow)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    return p


def _baseline_names(spec: str) -> list[str]:
    names = [n.strip().lower() for n in spec.split(",") if n.strip()]
    if names == ["all"]:
        return available_baselines()
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise _UsageError(f"unknown baseline(s) {unknown}; known: {', '.join(BASELINES)}, all")
    return names


def _files(data: str, limit: int | None) -> list[Path]:
    root = Path(data)
    if not root.is_dir():
        raise _UsageError(f"data folder not found: {root}")
    files = find_audio_files(root)
    if not files:
        raise _UsageError(f"no audio files (.wav, .flac, .ogg) under {root}")
    if limit is not None:
        if limit < 1:
            raise _UsageError(f"--limit must be positive, got {limit}")
        files = files[:limit]
    return files


def _check_out(path: str, force: bool) -> None:
    if Path(path).exists() and not force:
        raise _UsageError(f"{path} already exists; pass --force to overwrite it")


def _load_codec(model: str | None) -> Any:
    if not model:
        raise _UsageError("--model is required")
    from cplxcodec.models import load_model

    return load_model(model)


def run_eval(
    codec: Any,
    files: Sequence[Path | str],
    kbps: Sequence[float],
    *,
    baselines: Sequence[str] = (),
    progress: bool = True,
    mos: bool = False,
) -> EvalResult:
    """Evaluate ``codec`` (and baselines) on ``files``, resampled to ``codec.sample_rate``."""
    return evaluate(
        codec,
        [str(f) for f in files],
        list(kbps),
        baselines=baselines,
        sample_rate=getattr(codec, "sample_rate", None),
        progress=progress,
        mos=mos,
    )


def _usage(codec: Any, wavs: list[np.ndarray], kbps: Sequence[float]) -> dict[str, CodebookUsage]:
    if not (hasattr(codec, "encode") and hasattr(codec, "codebook_size")):
        return {}
    import torch

    out = {}
    with torch.no_grad():
        for k in kbps:
            codes = [codec.encode(torch.from_numpy(w).reshape(1, 1, -1), k) for w in wavs]
            cat = torch.cat([torch.as_tensor(c) for c in codes], dim=-1)
            out[f"{k:g} kbps"] = codebook_usage(cat, int(codec.codebook_size))
    return out


def run_report(
    codec: Any,
    files: Sequence[Path | str],
    kbps: Sequence[float],
    out: str | Path,
    *,
    baselines: Sequence[str] = (),
    progress: bool = True,
    mos: bool = False,
    n_examples: int = 1,
    griffin_lim_iters: int = 100,
    result: EvalResult | None = None,
) -> Path:
    """Evaluate (unless ``result`` is given), then add codebook usage (if the codec has
    ``encode`` and ``codebook_size``), phase fidelity and spectrograms of the first
    ``n_examples`` files at every bitrate, and write the HTML report to ``out``."""
    if result is None:
        result = run_eval(codec, files, kbps, baselines=baselines, progress=progress, mos=mos)
    sr = result.sample_rate
    wavs = [load_mono(f, sr)[0] for f in files]
    usage = _usage(codec, wavs, kbps)
    phases: dict[str, PhaseFidelity] = {}
    examples: list[ReportExample] = []
    for f, wav in list(zip(files, wavs))[: max(0, n_examples)]:
        for k in kbps:
            dec, _ = codec.roundtrip(wav, sr, float(k))
            label = f"{Path(f).name} @ {k:g} kbps"
            phases[label] = phase_fidelity(wav, dec, sr, griffin_lim_iters=griffin_lim_iters)
            examples.append(ReportExample(label, wav, np.asarray(dec, np.float32), sr))
    return build_report(result, usage=usage, phase=phases, examples=examples, out_path=out)


def _fail(prog: str, msg: str, code: int) -> int:
    print(f"{prog}: error: {msg}", file=sys.stderr)
    return code


def _print_summary(result: EvalResult) -> None:
    for codec, rows in result.aggregate().items():
        for k, row in rows.items():
            vals = "  ".join(f"{m}={row[m]:.3f}" for m in result.metric_names())
            print(f"{codec:>10s} {k:6g} kbps (actual {row['actual_kbps']:.2f})  {vals}")


@dataclass(frozen=True)
class _Job:
    """What ``eval`` and ``report`` share: parsed arguments, audio files, baselines and model."""

    args: argparse.Namespace
    files: list[Path]
    baselines: list[str]
    model: Any

    def evaluate(self) -> EvalResult:
        """:func:`run_eval` with the command's bitrates, baselines, ``--no-progress``, ``--mos``."""
        a = self.args
        return run_eval(
            self.model,
            self.files,
            a.kbps,
            baselines=self.baselines,
            progress=not a.no_progress,
            mos=a.mos,
        )


def _prepare(prog: str, args: argparse.Namespace, codec: Any, outputs: Sequence[str]) -> _Job | int:
    """Check the input files, baselines and ``outputs`` (``--force``), then load the model
    (unless ``codec`` is given); or print the error and return the exit status (2 bad input,
    1 the model cannot be loaded)."""
    try:
        files = _files(args.data, args.limit)
        names = _baseline_names(args.baselines)
        for out in outputs:
            _check_out(out, args.force)
        model = codec if codec is not None else _load_codec(args.model)
    except _UsageError as err:
        return _fail(prog, str(err), 2)
    except Exception as err:  # any failure to load the model is reported
        return _fail(prog, f"cannot load model {args.model!r}: {err}", 1)
    return _Job(args, files, names, model)


def eval_main(argv: Sequence[str] | None = None, *, codec: Any = None) -> int:
    """``cplxcodec eval --model M --data DIR --kbps 6 12 [--baselines ...] [--limit N]
    --json OUT``: write the evaluation as JSON and print the aggregated means."""
    prog = "cplxcodec eval"
    p = _common(prog, "Objective metrics of the codec and baselines over a folder of audio.")
    p.add_argument("--json", required=True, help="output JSON file")
    args = p.parse_args(list(argv) if argv is not None else None)
    job = _prepare(prog, args, codec, [args.json])
    if isinstance(job, int):
        return job
    try:
        result = job.evaluate()
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        result.to_json(args.json)
    except (ValueError, RuntimeError, OSError) as err:
        return _fail(prog, str(err), 1)
    _print_summary(result)
    return 0


def report_main(argv: Sequence[str] | None = None, *, codec: Any = None) -> int:
    """``cplxcodec report --model M --data DIR --kbps 6 12 [--baselines ...] --out
    report.html``: evaluate and write the HTML report."""
    prog = "cplxcodec report"
    p = _common(prog, "HTML report: metrics, RD curves, codebook usage, phase, spectrograms.")
    p.add_argument("--out", required=True, help="output HTML file")
    p.add_argument("--json", default=None, help="also write the evaluation as JSON")
    p.add_argument("--examples", type=int, default=1, help="files shown in detail")
    p.add_argument("--gl-iters", type=int, default=100, help="Griffin-Lim iterations")
    args = p.parse_args(list(argv) if argv is not None else None)
    job = _prepare(prog, args, codec, [args.out, args.json] if args.json else [args.out])
    if isinstance(job, int):
        return job
    try:
        result = job.evaluate()
        if args.json:
            result.to_json(args.json)
        path = run_report(
            job.model,
            job.files,
            args.kbps,
            args.out,
            n_examples=args.examples,
            griffin_lim_iters=args.gl_iters,
            result=result,
        )
    except (ValueError, RuntimeError, OSError) as err:
        return _fail(prog, str(err), 1)
    print(f"wrote {path}")
    return 0
