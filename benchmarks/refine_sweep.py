"""Quality against analysis-by-synthesis refinement iterations (:mod:`cplxcodec.models.refine`).

On the dev segments of ``benchmarks/quality.py`` (same plan, ``benchmarks/_segments.py``), each
segment is encoded at each ``--kbps`` with the default beam search, then refined for each of
``--iterations`` (the step size is annealed over each run, so every count is a run of its own;
with ``--no-anneal`` the search does not depend on the count, and refinement's callback gives,
from one run of the largest, exactly the codes every shorter run returns). Every count's codes
are decoded and scored (PESQ-WB, STOI, SI-SDR, mel distance; means over the segments) and the
time per iteration is printed. Count ``0`` is the beam search alone.

Decoding is one pass over the whole segment (not the chunked file path: on ≤ 30 s segments they
are the same codes).

Run: ``python benchmarks/refine_sweep.py --model speech16k --data data/speech/dev.csv --every 8
--iterations 0 10 20 40 80`` (``--lr`` for the step size; ``--no-anneal`` for a constant one,
whose single run of the largest count traces every shorter one; ``--vbr`` for variable stage
allocation, at the nominal stage count since there is no file here; ``--out-md FILE``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from _segments import build_segments
from quality import METRICS, quality_metrics

from cplxcodec.models import ENCODE_BEAM

__all__ = ["sweep", "sweep_table", "main"]


def sweep(
    model: Any,
    segments: Sequence[np.ndarray],
    kbps: Sequence[float],
    iterations: Sequence[int],
    lr: float | None = None,
    progress: bool = True,
    vbr: bool = False,
    stoi_weight: float | None = None,
    anneal: bool | None = None,
) -> tuple[dict[tuple[float, int], dict[str, float]], float]:
    """Mean metrics per ``(kbps, iterations)`` and the mean wall seconds per iteration per
    second of audio; ``vbr``: codes with variable stage allocation at the nominal stage count
    (what refinement then keeps), instead of constant-rate codes; ``anneal``: the step-size
    schedule (``None``: ``REFINE_ANNEAL``). Annealed runs depend on their length, so every
    count is a run of its own (slower); otherwise one run of the largest count traces all."""
    from tqdm.auto import tqdm

    from cplxcodec.models.refine import REFINE_ANNEAL, REFINE_LR, refine_codes

    annealed = REFINE_ANNEAL if anneal is None else bool(anneal)

    model = model.eval()
    sr = model.sample_rate
    counts = sorted(set(int(i) for i in iterations))
    wanted = set(counts)
    rows: dict[tuple[float, int], list[dict[str, float]]] = {
        (k, i): [] for k in kbps for i in counts
    }
    spent, audio = 0.0, 0.0
    for x in tqdm(segments, desc="segments", unit="seg", disable=not progress):
        wav = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None]
        for k in kbps:
            codes = model.encode(wav, k, vbr=True) if vbr else model.encode(wav, k)
            kept = {0: codes}

            # not annealed: one run traces every shorter one; annealed: one run per count
            for n in [i for i in (counts if annealed else counts[-1:]) if i]:

                def keep(_i: int, done: int, _loss: float, best: torch.Tensor, kept=kept, n=n):
                    if done in wanted and (not annealed or done == n):
                        kept[done] = best

                t0 = time.perf_counter()
                refine_codes(
                    model, wav, codes, n, lr=lr or REFINE_LR, callback=keep, beam=ENCODE_BEAM,
                    stoi_weight=stoi_weight, anneal=annealed,
                )  # fmt: skip
                spent += time.perf_counter() - t0
                audio += x.shape[-1] / sr * n
            with torch.no_grad():
                for i in counts:
                    y = model.decode(kept[i], wav.shape[-1])[0, 0].numpy()
                    rows[(k, i)].append(quality_metrics(x, y, sr))
    means = {
        key: {m: float(np.mean([r[m] for r in v])) for m in METRICS} for key, v in rows.items()
    }
    return means, (spent / audio if audio else 0.0)


def sweep_table(result: dict[tuple[float, int], dict[str, float]]) -> str:
    """Markdown: one row per (kbps, iterations)."""
    lines = [
        "| kbps | iterations | PESQ-WB | STOI | SI-SDR (dB) | mel dist. |",
        "|---|---|---|---|---|---|",
    ]
    for (k, i), m in sorted(result.items()):
        lines.append(
            f"| {k:g} | {i} | {m['pesq_wb']:.3f} | {m['stoi']:.4f} | {m['si_sdr']:.2f} | "
            f"{m['mel_distance']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, *, model: Any = None) -> int:
    """Run the sweep; returns 0, or 2 on bad input. ``model`` replaces ``--model`` (tests)."""
    p = argparse.ArgumentParser(prog="benchmarks/refine_sweep.py", description=__doc__)
    p.add_argument("--model", default="speech16k", help="model name or file")
    p.add_argument("--data", default="data/speech/dev.csv", help="corpus CSV (file, speaker)")
    p.add_argument("--kbps", type=float, nargs="+", default=[6.0, 12.0])
    p.add_argument("--iterations", type=int, nargs="+", default=[0, 10, 20, 40, 80])
    p.add_argument("--lr", type=float, default=None, help="step size (default: REFINE_LR)")
    p.add_argument(
        "--vbr",
        action="store_true",
        help="variable stage allocation (at the nominal stage count, one pass, no file framing)",
    )
    p.add_argument(
        "--stoi-weight",
        type=float,
        default=None,
        help="weight of the refinement loss's 1 - STOI term (default: REFINE_STOI_WEIGHT)",
    )
    p.add_argument(
        "--no-anneal",
        action="store_true",
        help="constant step size (default: REFINE_ANNEAL; annealed, every count is its own run)",
    )
    p.add_argument("--limit", type=int, default=None, help="first N segments only")
    p.add_argument("--every", type=int, default=1, help="every M-th segment")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("--out-md", default=None, help="write the table here")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    if any(i < 0 for i in a.iterations):
        print("error: --iterations must be >= 0", file=sys.stderr)
        return 2
    if a.threads:
        torch.set_num_threads(a.threads)
    if model is None:
        from cplxcodec.models import load_model

        model = load_model(a.model)
    try:
        plans, segs = build_segments(a.data, model.sample_rate, limit=a.limit, every=a.every)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    seconds = sum(s.seconds for s in plans)
    print(f"{len(plans)} segments, {seconds / 60:.1f} min of audio", file=sys.stderr)
    result, per_it = sweep(
        model,
        list(segs.values()),
        a.kbps,
        a.iterations,
        a.lr,
        not a.no_progress,
        a.vbr,
        a.stoi_weight,
        anneal=False if a.no_anneal else None,
    )
    table = sweep_table(result)
    print(table)
    print(
        f"refinement: {per_it:.3f} wall s per iteration per second of audio "
        f"({torch.get_num_threads()} threads)"
    )
    if a.out_md:
        with open(a.out_md, "w") as f:
            f.write(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
