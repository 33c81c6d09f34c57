"""How much entropy coding saves on a codec's RVQ codes, and the real bitrate of ``.cplx`` files.

For a model (registered name or model file) and audio from a folder or a CSV (column ``file``,
paths relative to the CSV's folder unless ``--root``):

1. Entropy tables: the model's own, or (``--refit``, or a model without tables) tables fitted
   with :func:`cplxcodec.models.fit_entropy_model` on ``--fit-data`` (the train split; never the
   evaluation audio), up to ``--fit-seconds`` of it.
2. Evaluation audio (``--data``, the dev split) is resampled to the model rate, made mono, and
   concatenated file after file into segments of exactly ``--segment-seconds`` (10 s; a final
   remainder shorter than half a segment is dropped), up to ``--eval-seconds``.
3. Per stage k: raw bits per code ``log2 V`` against the ideal entropy-coded length under the
   tables (``-log2 p``, conditional on stage k-1 where the tables are), and the saving in %.
4. Per nominal bitrate (``--kbps``, default 6 and 12): the actual file bitrate
   ``bytes * 8 / duration`` of constant-rate ``model.compress(..., vbr=False)`` files
   (entropy-coded) and of the same codes coded raw (fixed width), mean and worst segment, and how
   many segments exceed the nominal rate. (Files with variable stage allocation, the default,
   are measured by ``benchmarks/quality.py``: its targets check them against nominal.)

Header and framing overhead (container header, CRCs, chunk lengths, one extra code frame) are
included in the file figures and not in the per-stage ones. With an untrained model the figures
only show the script works (random codebooks leave most codes unused, which entropy coding
exploits); run it again on the trained bundled model.

Run: ``python benchmarks/entropy_saving.py --model speech16k`` (defaults: ``--data
data/speech/dev.csv --fit-data data/speech/train.csv``, the corpus of
``../shared/data/speech/build_corpus.sh data/speech``; 300 s of each; about 5-10 min for
``speech16k`` on 2 cores). ``--json FILE`` writes the figures; ``--save-model FILE`` saves the
model with the fitted tables.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from cplxcodec.audio import AUDIO_EXTENSIONS, AudioError, load_audio
from cplxcodec.bitstream import RawCodeCoder, decode_payload, encode_payload, pack, unpack
from cplxcodec.models import ModelFileError, available_models, fit_entropy_model, load_model

__all__ = ["RateFigures", "Report", "audio_files", "main", "segments", "stage_bits"]


@dataclass
class RateFigures:
    """File bitrates at one nominal rate over the evaluation segments (kbps)."""

    nominal: float
    n_stages: int
    entropy_mean: float
    entropy_max: float
    raw_mean: float
    segments_above_nominal: int
    segments: int


@dataclass
class Report:
    """Everything the script measures (``--json`` writes it)."""

    model: str
    trained: bool
    tables: str
    eval_seconds: float
    codebook_size: int
    raw_bits_per_code: float
    stage_bits_per_code: list[float] = field(default_factory=list)
    stage_codes_used: list[int] = field(default_factory=list)
    rates: list[RateFigures] = field(default_factory=list)


def audio_files(source: Path, root: Path | None = None) -> list[tuple[Path, float | None]]:
    """``(path, seconds or None)`` from a folder (recursive, sorted) or a CSV with ``file``."""
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
        return [(p, None) for p in files]
    base = root or source.parent
    with source.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "file" not in rows[0]:
        raise ValueError(f"{source}: a CSV needs a 'file' column")
    out = []
    for row in rows:
        seconds = row.get("seconds")
        out.append((base / row["file"], float(seconds) if seconds else None))
    return out


def _pick(files, seconds: float, seed: int) -> list[Path]:
    """A seeded random subset of files adding up to about ``seconds`` (all if unknown lengths)."""
    order = np.random.default_rng(seed).permutation(len(files))
    picked, total = [], 0.0
    for i in order:
        path, length = files[i]
        picked.append(path)
        total += length if length is not None else 0.0
        if length is not None and total >= seconds:
            break
    return picked


def segments(paths, sample_rate: int, seconds: float, budget: float) -> list[np.ndarray]:
    """Mono audio of ``paths`` at ``sample_rate``, concatenated and cut into ``seconds`` pieces."""
    size = int(round(seconds * sample_rate))
    out, pending, have = [], [], 0
    for path in paths:
        try:
            wav, _ = load_audio(path, sample_rate=sample_rate, mono=True)
        except AudioError as err:
            print(f"  skipped: {err}", file=sys.stderr)
            continue
        pending.append(wav[0])
        have += wav.shape[1]
        while have >= size:
            joined = np.concatenate(pending)
            out.append(joined[:size])
            pending, have = [joined[size:]], joined.shape[0] - size
            if len(out) * seconds >= budget:
                return out
    if have >= size // 2:
        out.append(np.concatenate(pending))
    return out


def stage_bits(model, codes: np.ndarray) -> np.ndarray:
    """Ideal entropy-coded bits of each stage of ``codes`` ``(K, N)`` under the model's tables."""
    em = model.entropy_model
    prefix = [0.0] + [em.bits(codes[: k + 1]) for k in range(codes.shape[0])]
    return np.diff(prefix)


def _file_codes(model, data: bytes):
    """``(header, codes (C, K, N))`` of a ``.cplx`` file made by ``model``."""
    header, payload = unpack(data)
    coder = model.entropy_model if header.entropy != "none" else RawCodeCoder(model.codebook_size)
    codes = decode_payload(
        coder,
        payload,
        header.channels,
        header.n_stages,
        header.frame_count,
        header.chunk_frames,
    )
    return header, codes


def _raw_file_bytes(model, data: bytes) -> int:
    """Size of the same file with the codes coded raw (fixed width) instead of entropy-coded."""
    header, codes = _file_codes(model, data)
    header.entropy = "none"
    raw = encode_payload(RawCodeCoder(model.codebook_size), codes, header.chunk_frames)
    return len(pack(header, raw))


def _load(name: str):
    try:
        return load_model(name), True
    except ModelFileError:
        if name not in available_models():
            raise
    print(f"NOTE: no bundled weights for {name!r}: using an UNTRAINED model (smoke test only)")
    return load_model(name, pretrained=False), False


def run(a: argparse.Namespace) -> Report:
    """Measure (see the module docstring) and print the tables."""
    model, trained = _load(a.model)
    sr = model.sample_rate
    if a.refit or model.entropy_model is None:
        t0 = time.perf_counter()
        fit_files = _pick(audio_files(a.fit_data, a.root), a.fit_seconds, seed=1)
        fit_segs = segments(fit_files, sr, a.segment_seconds, a.fit_seconds)
        fit_entropy_model(model, fit_segs, progress=False)
        tables = f"fitted on {len(fit_segs) * a.segment_seconds:.0f} s of {a.fit_data}"
        print(f"tables  {tables} in {time.perf_counter() - t0:.0f} s ({model.entropy_model.name})")
        if a.save_model:
            from cplxcodec.models import save_model

            save_model(model, a.save_model)
    else:
        tables = "the model's own"
    eval_segs = segments(
        _pick(audio_files(a.data, a.root), a.eval_seconds, seed=2),
        sr,
        a.segment_seconds,
        a.eval_seconds,
    )
    if not eval_segs:
        raise ValueError(f"no evaluation audio in {a.data}")
    seconds = sum(s.shape[0] for s in eval_segs) / sr
    v = model.codebook_size
    rep = Report(
        model=a.model,
        trained=trained,
        tables=tables,
        eval_seconds=seconds,
        codebook_size=v,
        raw_bits_per_code=math.log2(v),
    )
    stages = {kbps: model.config.stages_for_kbps(kbps) for kbps in a.kbps}
    k_max = max(stages.values())
    bits = np.zeros(k_max)
    used: list[set[int]] = [set() for _ in range(k_max)]
    files: dict[float, list[tuple[int, int]]] = {k: [] for k in a.kbps}
    t0 = time.perf_counter()
    for seg in eval_segs:
        for kbps in a.kbps:
            data = model.compress(seg, sr, kbps, progress=False, vbr=False)
            files[kbps].append((len(data), _raw_file_bytes(model, data)))
            if stages[kbps] == k_max:  # per-stage figures from the file with the most stages
                codes = _file_codes(model, data)[1][0]
                bits += stage_bits(model, codes)
                for k in range(k_max):
                    used[k].update(np.unique(codes[k]).tolist())
    frames = sum(_frames(model, s) for s in eval_segs)
    rep.stage_bits_per_code = (bits / frames).tolist()
    rep.stage_codes_used = [len(u) for u in used]
    for kbps in a.kbps:
        k = model.config.stages_for_kbps(kbps)
        ent = np.array([b for b, _ in files[kbps]]) * 8 / a.segment_seconds / 1000
        raw = np.array([r for _, r in files[kbps]]) * 8 / a.segment_seconds / 1000
        if eval_segs[-1].shape[0] != eval_segs[0].shape[0]:  # the shorter last segment
            dur = eval_segs[-1].shape[0] / sr
            ent[-1] *= a.segment_seconds / dur
            raw[-1] *= a.segment_seconds / dur
        rep.rates.append(
            RateFigures(
                nominal=float(kbps),
                n_stages=k,
                entropy_mean=float(ent.mean()),
                entropy_max=float(ent.max()),
                raw_mean=float(raw.mean()),
                segments_above_nominal=int((ent > kbps).sum()),
                segments=len(ent),
            )
        )
    _print(rep, time.perf_counter() - t0)
    return rep


def _frames(model, seg: np.ndarray) -> int:
    return max(seg.shape[0], model.min_length()) // model.config.hop_length + 1


def _print(rep: Report, elapsed: float) -> None:
    trained = "trained" if rep.trained else "UNTRAINED"
    print(
        f"model   {rep.model} ({trained}); tables: {rep.tables}; "
        f"evaluated on {rep.eval_seconds:.0f} s in {elapsed:.0f} s"
    )
    print("\nstage  codes used  raw bits/code  entropy bits/code  saving")
    for k, (b, u) in enumerate(zip(rep.stage_bits_per_code, rep.stage_codes_used)):
        saving = 100 * (1 - b / rep.raw_bits_per_code)
        print(f"{k + 1:5d}  {u:5d}/{rep.codebook_size:<5d} {rep.raw_bits_per_code:13.2f}"
              f"  {b:17.3f}  {saving:5.1f} %")  # fmt: skip
    print("\nnominal  stages  ideal saving  file kbps (entropy, mean / worst)  raw-coded file  "
          "segments above nominal")  # fmt: skip
    for r in rep.rates:
        ideal = sum(rep.stage_bits_per_code[: r.n_stages])
        saving = 100 * (1 - ideal / (r.n_stages * rep.raw_bits_per_code))
        print(
            f"{r.nominal:7g}  {r.n_stages:6d}  {saving:10.1f} %  {r.entropy_mean:14.3f} / "
            f"{r.entropy_max:.3f}  {r.raw_mean:23.3f}  {r.segments_above_nominal:3d} of {r.segments}"
        )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="speech16k", help="registered name or model file")
    p.add_argument("--data", type=Path, default=Path("data/speech/dev.csv"))
    p.add_argument("--fit-data", type=Path, default=Path("data/speech/train.csv"))
    p.add_argument("--root", type=Path, default=None, help="base folder of CSV paths")
    p.add_argument("--fit-seconds", type=float, default=300.0)
    p.add_argument("--eval-seconds", type=float, default=300.0)
    p.add_argument("--segment-seconds", type=float, default=10.0)
    p.add_argument("--kbps", type=float, nargs="+", default=[6.0, 12.0])
    p.add_argument("--refit", action="store_true", help="fit new tables even if the model has some")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, default=None, help="write the figures as JSON")
    p.add_argument("--save-model", type=Path, default=None, help="save model + fitted tables")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    rep = run(a)
    if a.json:
        a.json.write_text(json.dumps(asdict(rep), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
