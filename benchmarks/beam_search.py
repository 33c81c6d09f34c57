"""Beam-search residual-VQ encoding: what each beam width buys on the dev segments.

Greedy residual quantization picks each stage's codeword for the residual the stages before it
left; beam search (:func:`cplxcodec.quantization.beam_search_codes`) keeps the ``beam`` best
partial sums and returns the best full sum. The decoder and the file format are unchanged, so this
is a pure encoder-side trade of CPU time for quality. For every ``--beams`` width at every
``--kbps`` this script codes the dev segments of ``benchmarks/quality.py`` (same plan,
``benchmarks/_segments.py``) through the real file path (``compress`` / ``decompress``, entropy
coding included; constant-rate files, ``vbr=False``, so that every width codes the same stages)
and reports, as means over segments:

* the latent's relative quantization error ``‖Q(z) − z‖² / ‖z‖²`` (what the search minimises),
* PESQ-WB, STOI and SI-SDR of the decoded audio and the actual file bitrate (mean and max),
* the search's CPU time per 10 s of audio (the quantizer only; the network's encode time, the same
  for every width, is printed once).

Run: ``python benchmarks/beam_search.py --model speech16k --data data/speech/dev.csv --every 2``
(``--beams 1,4,8,16``; ``--limit N`` for the first N segments; ``--out-md`` / ``--out-json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from _segments import build_segments
from tqdm.auto import tqdm

from cplxcodec.analysis.metrics import pesq_wb, si_sdr, stoi
from cplxcodec.models import load_model

__all__ = ["BeamRow", "main", "measure", "table"]


@dataclass
class BeamRow:
    """Per-segment figures of one (kbps, beam) setting, and their means."""

    kbps: float
    beam: int
    scores: list[dict[str, float]] = field(default_factory=list)

    def mean(self, key: str) -> float:
        """Mean of ``key`` over segments."""
        return float(np.mean([s[key] for s in self.scores]))

    def max(self, key: str) -> float:
        """Largest ``key`` over segments."""
        return float(np.max([s[key] for s in self.scores]))


def _cpu_seconds(fn):
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


@torch.inference_mode()
def measure(
    model,
    segments: list[np.ndarray],
    kbps: list[float],
    beams: list[int],
    progress: bool = True,
) -> tuple[list[BeamRow], float]:
    """Code every segment at every (kbps, beam); returns the rows and the network's encode CPU
    seconds per 10 s of audio."""
    sr = model.sample_rate
    rows = {(k, b): BeamRow(k, b) for k in kbps for b in beams}
    net_s, audio_s = 0.0, 0.0
    for x in tqdm(segments, desc="segments", unit="seg", disable=not progress):
        wav = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None]
        z, t_net = _cpu_seconds(lambda w=wav: model.encode_latent(model.analysis(w)))
        net_s, audio_s = net_s + t_net, audio_s + x.size / sr
        for k in kbps:
            stages = model.config.stages_for_kbps(k)
            for b in beams:
                codes, t_search = _cpu_seconds(
                    lambda z=z, b=b, s=stages: model.quantizer.encode(z, s, beam=b)
                )
                zq = model.quantizer.decode(codes)
                err = float((zq - z).abs().pow(2).sum() / z.abs().pow(2).sum().clamp_min(1e-12))
                data = model.compress(x, sr, k, beam=b, progress=False, vbr=False)
                y = model.decompress(data, progress=False)[0][0].numpy()
                rows[(k, b)].scores.append(
                    {
                        "latent_error": err,
                        "pesq_wb": pesq_wb(x, y, sr),
                        "stoi": stoi(x, y, sr),
                        "si_sdr": si_sdr(x, y),
                        "kbps": len(data) * 8 / (x.size / sr) / 1000,
                        "search_s_per_10s": t_search * 10 * sr / x.size,
                    }
                )
    return list(rows.values()), net_s * 10 / max(audio_s, 1e-9)


def table(rows: list[BeamRow]) -> str:
    """Markdown table of the means (and the max bitrate), with the change against beam 1."""
    lines = [
        "| kbps | beam | latent err. | PESQ-WB | STOI | SI-SDR (dB) | actual kbps (mean / max) "
        "| search CPU-s per 10 s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = {r.kbps: r for r in rows if r.beam == 1}
    for r in rows:
        delta = ""
        if r.beam != 1 and r.kbps in base:
            delta = f" ({r.mean('pesq_wb') - base[r.kbps].mean('pesq_wb'):+.3f})"
        lines.append(
            f"| {r.kbps:g} | {r.beam} | {r.mean('latent_error'):.4f} | "
            f"{r.mean('pesq_wb'):.3f}{delta} | {r.mean('stoi'):.3f} | {r.mean('si_sdr'):.2f} | "
            f"{r.mean('kbps'):.2f} / {r.max('kbps'):.2f} | {r.mean('search_s_per_10s'):.3f} |"
        )
    return "\n".join(lines)


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"beam widths must be positive integers, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print (and optionally write) the table. Exit 2 on bad input."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="speech16k", help="bundled model name or model file")
    p.add_argument("--data", default="data/speech/dev.csv", help="corpus CSV (file, speaker)")
    p.add_argument("--kbps", type=float, nargs="+", default=[6.0, 12.0])
    p.add_argument("--beams", type=_int_list, default=[1, 2, 4, 8, 16])
    p.add_argument("--every", type=int, default=2, help="use every M-th dev segment")
    p.add_argument("--limit", type=int, default=None, help="plan only the first N segments")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--out-md", type=Path, default=None)
    p.add_argument("--out-json", type=Path, default=None)
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    try:
        model = load_model(a.model).eval()
        for k in a.kbps:
            model.config.stages_for_kbps(k)
        _, audio = build_segments(a.data, model.sample_rate, limit=a.limit, every=a.every)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not audio:
        print(f"error: no segments in {a.data}", file=sys.stderr)
        return 2
    print(f"{len(audio)} segments, model {a.model}, beams {a.beams}, threads {a.threads}")
    rows, net = measure(model, list(audio.values()), a.kbps, a.beams, not a.no_progress)
    md = table(rows)
    print(md)
    print(f"network encode (every width): {net:.3f} CPU-s per 10 s of audio")
    if a.out_md:
        a.out_md.write_text(md + "\n")
    if a.out_json:
        payload = {
            "segments": len(audio),
            "network_encode_s_per_10s": net,
            "rows": [{"kbps": r.kbps, "beam": r.beam, "scores": r.scores} for r in rows],
        }
        a.out_json.write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
