"""Validation curves of training runs side by side: at equal steps and at equal CPU budget.

The issue-#9 question "does the complex model beat its real-valued twin at equal training
budget?" has two readings: equal optimizer steps, and equal compute. This script answers both
from the TensorBoard logs the runs already write (``runs/<name>/logs``):

- **equal steps**: each validation tag (default ``val/pesq_6kbps``, ``val/stoi_6kbps``,
  ``val/pesq_12kbps``, ``val/loss``) at every validation step all runs have reached;
- **equal compute**: the same tags against cumulative training CPU time, integrated from the
  ``perf/cpu_sec_per_step`` scalar of :class:`cplxcodec.training.TrainingSpeed` (logged every
  ``n`` steps; each value covers the steps since the previous one). CPU seconds, unlike wall
  time, ignore the pauses between sessions and, on a shared machine, most of the contention.
  For each budget the latest validation of each run within it is reported.

Runs that were resumed from an earlier checkpoint log some steps twice (a release branch cut
off, say); the value written last wins, as in TensorBoard's own display of a resumed run.

Run: ``python benchmarks/training_curves.py complex=runs/speech16k-scratch/logs
real=runs/speech16k-real/logs --plot curves.png``; ``--out-md FILE`` writes the tables.
Only reads logs: seconds, no model, no audio.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Run", "load_run", "equal_steps_table", "equal_compute_table", "main"]

DEFAULT_TAGS = ("val/pesq_6kbps", "val/stoi_6kbps", "val/pesq_12kbps", "val/loss")
CPU_TAG = "perf/cpu_sec_per_step"


@dataclass
class Run:
    """One run's scalars: ``tag → {step: value}`` (last write wins) and cumulative CPU time."""

    label: str
    scalars: dict[str, dict[int, float]]

    def cpu_seconds(self, step: int) -> float:
        """Training CPU seconds spent up to ``step`` (piecewise constant per logged interval)."""
        per_step = self.scalars.get(CPU_TAG)
        if not per_step:
            raise ValueError(f"run {self.label!r} has no {CPU_TAG!r} scalar (TrainingSpeed)")
        total, prev = 0.0, 0
        for s in sorted(per_step):
            if s >= step:
                return total + (step - prev) * per_step[s]
            total += (s - prev) * per_step[s]
            prev = s
        return total + (step - prev) * per_step[max(per_step)]


def load_run(label: str, logdir: str | Path) -> Run:
    """Read every scalar of the TensorBoard event files under ``logdir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir = Path(logdir)
    if not logdir.is_dir() or not any(logdir.rglob("events.out.tfevents.*")):
        raise FileNotFoundError(f"{logdir}: no TensorBoard event files (is it a runs/*/logs dir?)")
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    scalars: dict[str, dict[int, float]] = {}
    for tag in acc.Tags()["scalars"]:
        by_step: dict[int, tuple[float, float]] = {}
        for ev in acc.Scalars(tag):
            if ev.step not in by_step or ev.wall_time >= by_step[ev.step][0]:
                by_step[ev.step] = (ev.wall_time, float(ev.value))
        scalars[tag] = {s: v for s, (_, v) in by_step.items()}
    return Run(label, scalars)


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def equal_steps_table(runs: list[Run], tags: tuple[str, ...]) -> str:
    """Markdown: one row per validation step that every run has, one column per run × tag."""
    common = set.intersection(*(set(r.scalars.get(tags[0], {})) for r in runs))
    head = ["step"] + [f"{r.label} {t}" for t in tags for r in runs]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for step in sorted(common):
        cells = [str(step)] + [_fmt(r.scalars.get(t, {}).get(step)) for t in tags for r in runs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def equal_compute_table(runs: list[Run], tags: tuple[str, ...], budgets_h: list[float]) -> str:
    """Markdown: per CPU budget (hours), each run's latest validation within it (and its step)."""
    head = ["CPU h"] + [f"{r.label} step" for r in runs] + [f"{r.label} {t}" for t in tags for r in runs]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for hours in budgets_h:
        steps = []
        for r in runs:
            inside = [s for s in r.scalars.get(tags[0], {}) if r.cpu_seconds(s) <= hours * 3600]
            steps.append(max(inside) if inside else None)
        cells = [f"{hours:g}"] + ["–" if s is None else str(s) for s in steps]
        for t in tags:
            for r, s in zip(runs, steps):
                cells.append(_fmt(None if s is None else r.scalars.get(t, {}).get(s)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(runs: list[Run], tags: tuple[str, ...], out: Path) -> None:
    """One row per tag: the value against steps (left) and against CPU hours (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(tags), 2, figsize=(10, 2.6 * len(tags)), squeeze=False)
    for row, tag in zip(axes, tags):
        for r in runs:
            pts = sorted(r.scalars.get(tag, {}).items())
            if not pts:
                continue
            steps, values = zip(*pts)
            row[0].plot(steps, values, marker=".", label=r.label)
            if CPU_TAG in r.scalars:
                row[1].plot([r.cpu_seconds(s) / 3600 for s in steps], values, marker=".")
        row[0].set_ylabel(tag)
        row[0].grid(alpha=0.3)
        row[1].grid(alpha=0.3)
    axes[-1][0].set_xlabel("optimizer steps")
    axes[-1][1].set_xlabel(f"training CPU hours (from {CPU_TAG})")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="LABEL=LOGDIR, e.g. complex=runs/speech16k/logs")
    p.add_argument("--tags", nargs="+", default=list(DEFAULT_TAGS))
    p.add_argument("--budgets", nargs="+", type=float, default=None,
                   help="CPU hours for the equal-compute table (default: 6 steps up to the "
                   "smallest run's total)")  # fmt: skip
    p.add_argument("--plot", type=Path, default=None, help="write a PNG of the curves")
    p.add_argument("--out-md", type=Path, default=None, help="write the tables as Markdown")
    args = p.parse_args(argv)
    runs = []
    for spec in args.runs:
        label, sep, logdir = spec.partition("=")
        if not sep or not label or not logdir:
            p.error(f"runs are LABEL=LOGDIR, got {spec!r}")
        try:
            runs.append(load_run(label, logdir))
        except FileNotFoundError as e:
            p.error(str(e))
    tags = tuple(args.tags)
    missing = [(r.label, t) for r in runs for t in tags if t not in r.scalars]
    if missing:
        p.error(f"tags missing from runs: {missing}")
    text = "## Equal steps\n\n" + equal_steps_table(runs, tags)
    if all(CPU_TAG in r.scalars for r in runs):
        budgets = args.budgets
        if budgets is None:
            total = min(r.cpu_seconds(max(r.scalars[tags[0]])) for r in runs) / 3600
            budgets = [round(total * k / 6, 2) for k in range(1, 7)]
        text += "\n\n## Equal training CPU time\n\n" + equal_compute_table(runs, tags, budgets)
    else:
        text += f"\n\n(no equal-compute table: a run lacks {CPU_TAG!r})"
    print(text)
    if args.out_md:
        args.out_md.write_text(text + "\n")
    if args.plot:
        plot(runs, tags, args.plot)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
