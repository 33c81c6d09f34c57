"""CPU cost of one training step: the complex codec against its real-valued twin.

The "equal training budget" comparison of issue #9 converts steps into CPU time with the cost of
a step of each model. This script measures both in one run: for every ``--configs`` name it builds
a :class:`~cplxcodec.training.CodecModule` with the bundled recipe's settings (the ``model``
section of ``configs/speech16k.yaml``, read at run time: loss weights, CAdam, lr, schedule) and times whole optimisation steps
as its ``training_step`` runs them — the finiteness checks, the quantizer snapshot, forward,
loss, backward, gradient clipping, optimizer and scheduler step; not Lightning's loop, logging or
DDP collectives — on the training batch shape (``--batch`` × 1 s of speech-like audio at
16 kHz), with glibc's allocator tuned as the training configs tune it. Steps of the models are
interleaved round-robin with the same batch and seed, so load from other jobs hits them alike;
CPU seconds (``time.process_time``) and wall seconds are reported as medians, with the median of
per-round ratios against the first config.

Run: ``python benchmarks/training_step.py`` (about two minutes with 1 thread; ``--threads``,
``--rounds``, ``--batch``, ``--configs``, ``--no-malloc-tuning``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import yaml

from cplxcodec.signals import speech_like
from cplxcodec.training import CodecModule
from cplxcodec.training.callbacks import tune_malloc

__all__ = ["RECIPE_CONFIG", "StepTimer", "main", "recipe"]

#: the training config whose ``model`` section (the bundled recipe) every timed model uses
RECIPE_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "speech16k.yaml"


def recipe(path: Path = RECIPE_CONFIG) -> dict:
    """CodecModule arguments of the recipe in ``path`` (its ``model`` section, without the
    model name), so the benchmark cannot drift from the config it stands for."""
    section = dict(yaml.safe_load(path.read_text(encoding="utf-8"))["model"])
    section.pop("model", None)
    return section


class StepTimer:
    """One model's training step on a fixed batch (module docstring)."""

    def __init__(self, config: str, batch: int, seconds: float = 1.0) -> None:
        module = CodecModule(model=config, **recipe())
        self.name = config
        self.codec, self.loss = module.codec.train(), module.loss
        self.grad_clip = module.hparams.grad_clip
        opt = module.configure_optimizers()
        self.opt, self.sched = opt["optimizer"], opt["lr_scheduler"]["scheduler"]
        n = round(seconds * module.codec.config.sample_rate)
        wav = [
            speech_like(seconds, module.codec.config.sample_rate, seed=i)[:n] for i in range(batch)
        ]
        self.wav = torch.stack([torch.from_numpy(w) for w in wav])[:, None].float()
        self.params = sum(p.numel() * (2 if p.is_complex() else 1) for p in self.codec.parameters())

    def step(self, seed: int) -> tuple[float, float]:
        """One optimisation step as ``CodecModule.training_step`` takes it (without Lightning);
        returns ``(cpu_seconds, wall_seconds)``."""
        torch.manual_seed(seed)  # the same quantizer dropout for every model in a round
        c0, w0 = time.process_time(), time.perf_counter()
        ok = bool(torch.isfinite(self.wav).all())
        snapshot = {k: v.clone() for k, v in self.codec.quantizer.state_dict().items()}
        out = self.codec(self.wav)
        loss = self.loss(self.wav, out.wav, out.spec, out.spec_hat, out.commit_loss)
        ok &= bool(torch.isfinite(loss.total))
        self.opt.zero_grad(set_to_none=True)
        loss.total.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.codec.parameters(), self.grad_clip)
        ok &= bool(torch.isfinite(norm))
        self.opt.step()
        self.sched.step()
        elapsed = time.process_time() - c0, time.perf_counter() - w0
        if not ok:
            self.codec.quantizer.load_state_dict(snapshot)
            raise FloatingPointError(f"{self.name}: non-finite loss or gradient in the step")
        return elapsed


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/training_step.py", description=__doc__)
    p.add_argument("--configs", nargs="+", default=["speech16k", "speech16k-real"])
    p.add_argument("--batch", type=int, default=16, help="clips of 1 s per step (default 16)")
    p.add_argument("--rounds", type=int, default=12, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per model first")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument(
        "--no-malloc-tuning", action="store_true", help="keep glibc's default allocator settings"
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Time the steps and print the table; 0 on success, 2 on bad arguments."""
    args = _parse(argv)
    if min(args.batch, args.rounds, args.threads) < 1 or args.warmup < 0:
        print("error: --batch, --rounds and --threads must be >= 1, --warmup >= 0", file=sys.stderr)
        return 2
    if len(set(args.configs)) != len(args.configs):
        print(f"error: --configs repeats a name: {args.configs}", file=sys.stderr)
        return 2
    try:
        timers = [StepTimer(name, args.batch) for name in args.configs]
    except (KeyError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    tuned = False if args.no_malloc_tuning else tune_malloc()
    cpu: dict[str, list[float]] = {t.name: [] for t in timers}
    wall: dict[str, list[float]] = {t.name: [] for t in timers}
    for r in range(args.warmup + args.rounds):
        for t in timers:
            c, w = t.step(seed=r)
            if r >= args.warmup:
                cpu[t.name].append(c)
                wall[t.name].append(w)
    ref = timers[0].name
    print(
        f"training step, batch {args.batch} x 1 s, {args.threads} thread(s), {args.rounds} rounds"
        f"{', malloc tuned' if tuned else ''}; ratios: paired per round against {ref}"
    )
    print("| model | params (real) | CPU-s / step | wall s / step | CPU ratio |")
    print("|---|---|---|---|---|")
    for t in timers:
        ratio = statistics.median(a / b for a, b in zip(cpu[t.name], cpu[ref], strict=True))
        print(
            f"| {t.name} | {t.params / 1e6:.3f} M | {statistics.median(cpu[t.name]):.3f} | "
            f"{statistics.median(wall[t.name]):.3f} | {ratio:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
