"""Benchmark of :mod:`cplxcodec.optim` against ``torch.optim.Adam``.

Prints two things:

1. Optimizer step time on a model with about 10M complex parameters (ten complex
   ``nn.Linear(1000, 1000)`` layers): ``CAdam(foreach=True)`` against
   ``torch.optim.Adam(foreach=True)``, measured in the same run, interleaved, median of repeats,
   and their ratio (target: at most 1.2).
2. Steps-to-loss over seeds: for each problem and learning rate, the loss ``torch.optim.Adam``
   reaches after ``N`` steps is the target; the table gives the mean number of steps each
   optimizer needs to first reach it (runs go on to ``2N`` steps; a run that never reaches it
   counts as ``2N + 1`` and is flagged). Problems: complex least squares, and a small complex
   teacher-student network (``nn.Linear(dtype=torch.cfloat)``) with a modReLU, a split-tanh and a
   ``z * sigmoid(|z|)`` activation.

Run: ``python benchmarks/optim.py`` (about 2-3 minutes on 2 idle CPU cores; ``--quick`` for a
smoke run). Options: ``--repeats``, ``--seeds``, ``--threads`` (step-time part; the convergence
part runs on one thread).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from cplxcodec.optim import CAdam

__all__ = ["main"]


# ----------------------------------------------------------------------------- step time
def _timed_step(opt: torch.optim.Optimizer) -> float:
    t0 = time.perf_counter()
    opt.step()
    return time.perf_counter() - t0


def bench_step_time(n_layers: int, width: int, repeats: int) -> None:
    """Print median step times of torch Adam and CAdam (both foreach) on the same model."""
    gen = torch.Generator().manual_seed(0)

    def model() -> nn.Module:
        torch.manual_seed(0)
        m = nn.Sequential(*(nn.Linear(width, width, dtype=torch.cfloat) for _ in range(n_layers)))
        for p in m.parameters():
            p.grad = torch.randn(p.shape, dtype=p.dtype, generator=gen)
        return m

    m_torch, m_ours, m_ours_loop = model(), model(), model()
    n_params = sum(p.numel() for p in m_torch.parameters())
    opts = {
        "torch.optim.Adam(foreach=True)": torch.optim.Adam(m_torch.parameters(), foreach=True),
        "CAdam(foreach=True)": CAdam(m_ours.parameters(), foreach=True),
        "CAdam(foreach=False)": CAdam(m_ours_loop.parameters(), foreach=False),
    }
    times: dict[str, list[float]] = {k: [] for k in opts}
    for opt in opts.values():  # warm-up: allocates state
        opt.step()
    for _ in range(repeats):  # interleaved
        for name, opt in opts.items():
            times[name].append(_timed_step(opt))
    print(f"\n== step time: {n_params / 1e6:.2f}M complex parameters, "
          f"{torch.get_num_threads()} threads, median of {repeats} interleaved repeats ==")
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, t in med.items():
        print(f"  {name:32s} {1e3 * t:8.1f} ms/step")
    ref = med["torch.optim.Adam(foreach=True)"]
    print(f"  ratio CAdam(foreach=True) / torch Adam(foreach=True) = "
          f"{med['CAdam(foreach=True)'] / ref:.3f}  (target <= 1.2)")
    print(f"  ratio CAdam(foreach=False) / torch Adam(foreach=True) = "
          f"{med['CAdam(foreach=False)'] / ref:.3f}")


# ----------------------------------------------------------------------------- problems
Problem = Callable[[int, Callable[..., torch.optim.Optimizer], float, int], list[float]]


def least_squares(seed: int, opt_cls: Callable[..., torch.optim.Optimizer], lr: float,
                  steps: int) -> list[float]:
    """min_z mean |A z - b|^2, A (64, 32) complex Gaussian, b = A z* + noise; returns losses."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(64, 32, dtype=torch.cfloat, generator=g)
    b = a @ torch.randn(32, dtype=torch.cfloat, generator=g)
    b = b + 0.1 * torch.randn(64, dtype=torch.cfloat, generator=g)
    z = nn.Parameter(torch.zeros(32, dtype=torch.cfloat))
    opt = opt_cls([z], lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = (a @ z - b).abs().pow(2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


class _Net(nn.Module):
    """Two complex linear layers with a chosen activation; modReLU has a real bias."""

    def __init__(self, activation: str) -> None:
        super().__init__()
        self.fc1 = nn.Linear(16, 64, dtype=torch.cfloat)
        self.fc2 = nn.Linear(64, 16, dtype=torch.cfloat)
        self.mod_bias = nn.Parameter(torch.full((64,), -0.1))
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        if self.activation == "modrelu":  # Arjovsky et al. 2016
            r = h.abs()
            h = h * torch.relu(r + self.mod_bias) / (r + 1e-6)
        elif self.activation == "split_tanh":
            h = torch.complex(torch.tanh(h.real), torch.tanh(h.imag))
        else:  # "zsigmoid"
            h = h * torch.sigmoid(h.abs())
        return self.fc2(h)


def network(activation: str) -> Problem:
    """Teacher-student regression with a complex two-layer network; returns the problem."""

    def run(seed: int, opt_cls: Callable[..., torch.optim.Optimizer], lr: float,
            steps: int) -> list[float]:
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed + 1000)
        teacher = _Net(activation)
        torch.manual_seed(seed)
        student = _Net(activation)
        x = torch.randn(256, 16, dtype=torch.cfloat, generator=g)
        with torch.no_grad():
            y = teacher(x)
        opt = opt_cls(student.parameters(), lr=lr)
        losses = []
        for _ in range(steps):
            opt.zero_grad()
            loss = (student(x) - y).abs().pow(2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    return run


@dataclass
class StepsToLoss:
    """Mean steps to reach torch Adam's loss after N steps (never: runs that did not reach it)."""

    torch_steps: float
    cadam_steps: float
    cadam_never: int
    final_ratio: float  # mean over seeds of CAdam loss / torch loss, both after ``steps``


def steps_to_loss(problem: Problem, lr: float, steps: int, seeds: int) -> StepsToLoss:
    """Compare CAdam with torch.optim.Adam on ``problem`` over ``seeds`` seeds."""
    def first(losses: list[float], target: float) -> int | None:
        return next((i + 1 for i, v in enumerate(losses) if v <= target), None)

    t_steps, c_steps, ratios, never = [], [], [], 0
    for seed in range(seeds):
        lt = problem(seed, torch.optim.Adam, lr, steps)
        lc = problem(seed, CAdam, lr, 2 * steps)
        target = lt[-1]
        t_steps.append(first(lt, target))
        s = first(lc, target)
        if s is None:
            never += 1
            s = 2 * steps + 1
        c_steps.append(s)
        ratios.append(lc[steps - 1] / lt[-1])
    return StepsToLoss(statistics.mean(t_steps), statistics.mean(c_steps), never,
                       statistics.mean(ratios))


def bench_convergence(seeds: int, scale: float) -> None:
    """Print the steps-to-loss table."""
    cases: list[tuple[str, Problem, list[float], int]] = [
        ("least squares", least_squares, [1e-2, 3e-2], int(500 * scale)),
        ("net modReLU", network("modrelu"), [1e-3, 3e-3, 1e-2], int(300 * scale)),
        ("net split-tanh", network("split_tanh"), [1e-3, 3e-3, 1e-2], int(300 * scale)),
        ("net z*sigmoid(|z|)", network("zsigmoid"), [1e-3, 3e-3, 1e-2], int(300 * scale)),
    ]
    print(f"\n== steps to reach torch.optim.Adam's final loss, mean over {seeds} seeds ==")
    print(f"  {'problem':20s} {'lr':>7s} {'N':>5s} {'torch':>7s} {'CAdam':>7s} {'never':>6s} "
          f"{'loss(CAdam)/loss(torch) at N':>30s}")
    for name, problem, lrs, steps in cases:
        for lr in lrs:
            r = steps_to_loss(problem, lr, steps, seeds)
            print(f"  {name:20s} {lr:7.0e} {steps:5d} {r.torch_steps:7.1f} {r.cadam_steps:7.1f} "
                  f"{r.cadam_never:6d} {r.final_ratio:30.3f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per optimizer")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per convergence case")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch intra-op threads for the step-time part")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    if args.quick:
        bench_step_time(n_layers=2, width=200, repeats=3)
    else:
        bench_step_time(n_layers=10, width=1000, repeats=args.repeats)
    # The convergence problems are tiny: one thread is faster than a contended two-thread pool.
    torch.set_num_threads(1)
    bench_convergence(seeds=2 if args.quick else args.seeds, scale=0.2 if args.quick else 1.0)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
