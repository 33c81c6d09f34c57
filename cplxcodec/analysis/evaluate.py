"""Evaluation driver: run codecs over audio at several bitrates and collect objective metrics.

Any object with ``roundtrip(wav, sample_rate, kbps) -> (decoded, actual_kbps)`` is a codec
(:class:`CodecLike`); the classical baselines of :mod:`cplxcodec.analysis.baselines` follow the
same protocol. Every (item, codec, kbps) triple gives one :class:`EvalRecord` with the metrics of
:func:`~cplxcodec.analysis.objective_metrics`; :class:`EvalResult` aggregates them, gives RD
curves and BD-rates, and round-trips through JSON.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from cplxcodec.analysis.baselines import Baseline, BaselineUnavailable, get_baseline
from cplxcodec.analysis.bdrate import bd_rate
from cplxcodec.analysis.metrics import objective_metrics
from cplxcodec.audio import AUDIO_EXTENSIONS, load_audio

__all__ = [
    "CodecLike",
    "EvalRecord",
    "EvalResult",
    "evaluate",
    "find_audio_files",
    "load_mono",
]


@runtime_checkable
class CodecLike(Protocol):
    """What the evaluation needs from a codec.

    ``roundtrip`` encodes and decodes a float32 mono ``(T,)`` waveform at ``sample_rate`` with a
    target of ``kbps`` and returns the decoded float32 ``(T,)`` waveform at the same rate and the
    actual bitrate of the compressed file in kbps. A codec may also have a ``sample_rate``
    attribute (its native rate), which the evaluation resamples files to.
    """

    def roundtrip(self, wav: np.ndarray, sample_rate: int, kbps: float) -> tuple[np.ndarray, float]:
        """Encode and decode ``wav``; return ``(decoded, actual_kbps)``."""
        ...


@dataclass
class EvalRecord:
    """Metrics of one item coded by one codec at one requested bitrate."""

    item: str
    codec: str
    kbps: float
    actual_kbps: float
    metrics: dict[str, float]


def _nan_to_none(v: Any) -> Any:
    return None if (isinstance(v, float) and not math.isfinite(v)) else v


@dataclass
class EvalResult:
    """All records of an evaluation plus its settings (JSON-serialisable with :meth:`to_json`).

    Attributes:
        records: one :class:`EvalRecord` per (item, codec, requested kbps).
        sample_rate: the rate the evaluation ran at.
        kbps: the requested bitrates.
        skipped: baselines that could not run, with the reason.
    """

    records: list[EvalRecord] = field(default_factory=list)
    sample_rate: int = 0
    kbps: list[float] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def codecs(self) -> list[str]:
        """Codec names in first-seen order."""
        return list(dict.fromkeys(r.codec for r in self.records))

    def items(self) -> list[str]:
        """Item names in first-seen order."""
        return list(dict.fromkeys(r.item for r in self.records))

    def metric_names(self) -> list[str]:
        """Metric names in first-seen order."""
        names: dict[str, None] = {}
        for r in self.records:
            names.update(dict.fromkeys(r.metrics))
        return list(names)

    def aggregate(self) -> dict[str, dict[float, dict[str, float]]]:
        """``{codec: {kbps: {metric: mean, ..., "actual_kbps": mean, "n": count}}}``; means
        ignore NaN (a metric with no finite value is NaN)."""
        out: dict[str, dict[float, dict[str, float]]] = {}
        names = self.metric_names()
        for codec in self.codecs():
            out[codec] = {}
            for k in sorted({r.kbps for r in self.records if r.codec == codec}):
                recs = [r for r in self.records if r.codec == codec and r.kbps == k]
                row: dict[str, float] = {}
                for m in names:
                    vals = np.array([r.metrics.get(m, np.nan) for r in recs], dtype=np.float64)
                    finite = vals[np.isfinite(vals)]
                    row[m] = float(finite.mean()) if finite.size else math.nan
                row["actual_kbps"] = float(np.mean([r.actual_kbps for r in recs]))
                row["n"] = float(len(recs))
                out[codec][k] = row
        return out

    def rd_curve(self, codec: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """``(mean actual kbps, mean metric)`` per requested bitrate of ``codec``, by rate.

        Requests that gave the same point (a baseline running several requests at one mode or
        clamped rate) appear once, so the curve has no repeated abscissae."""
        agg = self.aggregate().get(codec)
        if agg is None:
            raise KeyError(f"no records for codec {codec!r}; have {self.codecs()}")
        pts = sorted({(row["actual_kbps"], row.get(metric, math.nan)) for row in agg.values()})
        return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])

    def bd_rates(
        self, anchor: str, metric: str = "pesq_wb", *, method: str = "cubic"
    ) -> dict[str, float]:
        """BD-rate in percent (:func:`~cplxcodec.analysis.bd_rate`, ``method`` its
        interpolation) of every other codec against ``anchor`` on ``metric``; NaN where undefined
        (too few points, no overlap, a curve not monotone for ``"pchip"``)."""
        ra, qa = self.rd_curve(anchor, metric)
        out = {}
        for codec in self.codecs():
            if codec == anchor:
                continue
            rb, qb = self.rd_curve(codec, metric)
            try:
                out[codec] = bd_rate(ra, qa, rb, qb, method=method)
            except ValueError:
                out[codec] = math.nan
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form; NaN and infinities become ``None`` (valid JSON)."""
        agg = {
            c: {f"{k:g}": {m: _nan_to_none(v) for m, v in row.items()} for k, row in rows.items()}
            for c, rows in self.aggregate().items()
        }
        recs = []
        for r in self.records:
            d = asdict(r)
            d["metrics"] = {m: _nan_to_none(v) for m, v in r.metrics.items()}
            recs.append(d)
        return {
            "sample_rate": self.sample_rate,
            "kbps": list(self.kbps),
            "skipped": dict(self.skipped),
            "records": recs,
            "aggregate": agg,
        }

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int = 2) -> str:
        """Serialise to JSON text; also write it to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, text: str) -> EvalResult:
        """Inverse of :meth:`to_json` (``None`` metrics come back as NaN)."""
        d = json.loads(text)
        recs = [
            EvalRecord(
                item=r["item"],
                codec=r["codec"],
                kbps=float(r["kbps"]),
                actual_kbps=float(r["actual_kbps"]),
                metrics={m: math.nan if v is None else float(v) for m, v in r["metrics"].items()},
            )
            for r in d["records"]
        ]
        return cls(recs, int(d["sample_rate"]), [float(k) for k in d["kbps"]], d["skipped"])


def find_audio_files(directory: str | os.PathLike[str]) -> list[Path]:
    """Audio files (wav, flac, ogg) under ``directory``, recursively, sorted by path."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"data directory not found: {root}")
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
    )


def load_mono(path: str | os.PathLike[str], sample_rate: int | None = None) -> tuple:
    """Read an audio file as float32 mono ``(T,)`` (channels averaged), resampled with soxr to
    ``sample_rate`` when given; returns ``(wav, rate)``."""
    wav, rate = load_audio(path, sample_rate=sample_rate, mono=True)
    return wav[0], rate


def _items(
    files_or_arrays: Sequence[Any] | Mapping[str, Any], sample_rate: int | None
) -> Iterable[tuple[str, np.ndarray, int]]:
    if isinstance(files_or_arrays, Mapping):
        pairs = [(str(k), v) for k, v in files_or_arrays.items()]
    else:
        pairs = [(None, x) for x in files_or_arrays]
    for i, (name, x) in enumerate(pairs):
        if isinstance(x, (str, os.PathLike)):
            wav, rate = load_mono(x, sample_rate)
            yield (name or str(x)), wav, rate
        else:
            if sample_rate is None:
                raise ValueError("arrays need sample_rate (or a codec with a sample_rate)")
            if hasattr(x, "detach"):
                x = x.detach().cpu().numpy()
            arr = np.asarray(x, dtype=np.float32)
            if arr.ndim != 1:
                raise ValueError(f"item {name or i}: expected a (T,) array, got {arr.shape}")
            yield (name or f"item{i}"), arr, int(sample_rate)


def evaluate(
    codec: CodecLike | None,
    files_or_arrays: Sequence[Any] | Mapping[str, Any],
    kbps_list: Sequence[float],
    *,
    baselines: Iterable[str | Baseline] = (),
    sample_rate: int | None = None,
    codec_name: str = "cplxcodec",
    progress: bool = True,
    mos: bool = False,
    metrics_fn: Callable[[np.ndarray, np.ndarray, int], dict[str, float]] | None = None,
) -> EvalResult:
    """Run ``codec`` and ``baselines`` over every item at every bitrate.

    Args:
        codec: the codec under test (``None`` to run baselines only).
        files_or_arrays: paths (read mono, resampled to the evaluation rate) and/or float32
            ``(T,)`` arrays at ``sample_rate``; or a mapping ``name -> path or array``.
        kbps_list: requested bitrates.
        baselines: names (``"opus"``...) or :class:`Baseline` objects. One whose tools are
            missing is skipped with a warning and listed in ``EvalResult.skipped``.
        sample_rate: evaluation rate; default the codec's ``sample_rate`` attribute, else each
            file's own rate (all items must then share one rate).
        codec_name: name of ``codec`` in the results.
        progress: show a tqdm progress bar (on stderr).
        mos: also compute DNSMOS (slow; needs ``speechmos``).
        metrics_fn: replaces :func:`objective_metrics` (e.g. a cheaper set).

    Returns:
        An :class:`EvalResult`.
    """
    from tqdm.auto import tqdm

    if len(kbps_list) == 0:
        raise ValueError("kbps_list is empty")
    if any(k <= 0 for k in kbps_list):
        raise ValueError(f"bitrates must be positive, got {list(kbps_list)}")
    if codec is not None and not isinstance(codec, CodecLike):
        raise TypeError(f"codec {type(codec).__name__} has no roundtrip(wav, sample_rate, kbps)")
    sr = sample_rate if sample_rate is not None else getattr(codec, "sample_rate", None)
    coders: list[tuple[str, Any]] = [] if codec is None else [(codec_name, codec)]
    result = EvalResult(kbps=[float(k) for k in kbps_list])
    for b in baselines:
        base = get_baseline(b) if isinstance(b, str) else b
        try:
            base.check()
        except BaselineUnavailable as err:
            result.skipped[base.name] = str(err)
            warnings.warn(f"skipping baseline: {err}", stacklevel=2)
            continue
        coders.append((base.name, base))
    if not coders:
        raise ValueError("nothing to evaluate: no codec and no available baseline")

    def score(ref: np.ndarray, dec: np.ndarray, rate: int) -> dict[str, float]:
        if metrics_fn is not None:
            return metrics_fn(ref, dec, rate)
        return objective_metrics(ref, dec, rate, mos=mos)

    n_total = len(files_or_arrays) * len(coders) * len(kbps_list)
    with tqdm(total=n_total, disable=not progress, desc="evaluate", unit="run") as bar:
        for name, wav, rate in _items(files_or_arrays, sr):
            if result.sample_rate and result.sample_rate != rate:
                raise ValueError(
                    f"{name}: rate {rate} Hz differs from earlier items' {result.sample_rate} Hz;"
                    " pass sample_rate to resample everything to one rate"
                )
            result.sample_rate = rate
            for cname, coder in coders:
                for k in kbps_list:
                    bar.set_postfix_str(f"{Path(name).name} {cname}@{k:g}")
                    dec, actual = coder.roundtrip(wav, rate, float(k))
                    dec = np.asarray(dec, dtype=np.float32).reshape(-1)
                    rec = EvalRecord(name, cname, float(k), float(actual), score(wav, dec, rate))
                    result.records.append(rec)
                    bar.update(1)
    return result
