"""Where the quality goes: the quantizer or the network? Quality against RVQ stages, and without it.

A codec's error has two sources: the residual VQ (too few stages/codes) and the encoder/decoder
pair itself (capacity, training). This script separates them on the dev segments of
``benchmarks/quality.py`` (same plan, ``benchmarks/_segments.py``): each segment is encoded to
its complex latent once, then decoded

* with the first ``k`` RVQ stages, for each ``--stages`` value (default 1 2 3 6 9 12, capped at
  the model's count; ``k`` stages of ``log2 V`` bits at the frame rate are the code bitrate shown),
* and with the latent **unquantized** (``none``): the autoencoder's own ceiling. No number of
  stages can do better than this row; if the largest-``k`` row is close to it, more bits buy
  little and the network (width, depth, training steps) is the bottleneck.

Scores: PESQ-WB, STOI, SI-SDR, mel distance (:func:`quality.quality_metrics`), means over the
segments. The decoding is one pass over the whole segment, not the chunked file path of
``compress`` (which matches it to float rounding, see ``cplxcodec.models.compression``).

Run: ``python benchmarks/stage_sweep.py --model speech16k --data data/speech/dev.csv``
(``--limit N`` for the first N segments; ``--every M`` for every M-th; ``--out-md FILE``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _segments import build_segments
from quality import METRICS, quality_metrics

__all__ = ["sweep", "sweep_table", "main"]


@torch.no_grad()
def sweep(
    model: Any, segments: Sequence[np.ndarray], stages: Sequence[int], progress: bool = True
) -> dict[str, dict[str, float]]:
    """Mean metrics per row (``"k"`` stages, and ``"none"`` for the unquantized latent)."""
    from tqdm.auto import tqdm

    model = model.eval()
    sr = model.sample_rate
    rows: dict[str, list[dict[str, float]]] = {str(k): [] for k in stages}
    rows["none"] = []
    for x in tqdm(segments, desc="segments", unit="seg", disable=not progress):
        wav = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None]
        z = model.encode_latent(model.analysis(wav))
        for key in rows:
            zq = z if key == "none" else model.quantizer(z, int(key)).quantized
            y = model.synthesis(model.decode_latent(zq), wav.shape[-1])[0, 0].numpy()
            rows[key].append(quality_metrics(x, y, sr))
    return {k: {m: float(np.mean([r[m] for r in v])) for m in METRICS} for k, v in rows.items()}


def sweep_table(result: dict[str, dict[str, float]], model: Any) -> str:
    """Markdown: one row per stage count (with its code kbps) and the unquantized ceiling."""
    cfg = model.config
    head = ["stages", "code kbps"] + [METRICS[m][0] for m in METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, vals in result.items():
        kbps = "–" if key == "none" else f"{cfg.kbps(int(key)):.2f}"
        name = "none (no quantizer)" if key == "none" else key
        digits = {"pesq_wb": 3, "stoi": 3, "si_sdr": 2, "mel_distance": 3}
        lines.append(
            "| " + " | ".join([name, kbps] + [f"{vals[m]:.{digits[m]}f}" for m in METRICS]) + " |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweep; 0 on success, 1 when the model cannot be loaded, 2 on bad input."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="speech16k", help="model name or file")
    p.add_argument("--data", default="data/speech/dev.csv", help="corpus CSV (file, speaker)")
    p.add_argument("--stages", type=int, nargs="+", default=[1, 2, 3, 6, 9, 12])
    p.add_argument("--limit", type=int, default=None, help="the first N segments only")
    p.add_argument("--every", type=int, default=1, help="every M-th segment")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out-md", type=Path, default=None)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.every < 1 or any(k < 1 for k in args.stages):
        print("error: --every and --stages must be positive", file=sys.stderr)
        return 2
    from cplxcodec.models import load_model

    try:
        model = load_model(args.model)
    except Exception as err:  # ModelFileError, unknown name
        print(f"error: cannot load model: {err}", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    stages = sorted({min(k, model.config.n_stages) for k in args.stages})
    try:
        plans, segs = build_segments(
            args.data, model.sample_rate, limit=args.limit, every=args.every
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    chosen = [segs[s.name] for s in plans]
    result = sweep(model, chosen, stages, progress=not args.no_progress)
    table = sweep_table(result, model)
    seconds = sum(len(x) for x in chosen) / model.sample_rate
    note = f"{len(chosen)} segments ({seconds:.0f} s) of {args.data}, model {args.model}"
    print(note + "\n\n" + table)
    if args.out_md:
        args.out_md.write_text(note + "\n\n" + table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
