"""Benchmark of the complex convolutions of :mod:`cplxcodec.layers` (issue #2).

Forward + backward time per call of:

* ``cplxcodec[karatsuba]``, ``cplxcodec[block]``: :class:`cplxcodec.layers.ComplexConv2d` /
  ``ComplexConv1d`` / ``ComplexConvTranspose2d`` with that kernel;
* ``torch native``: ``F.conv2d`` / ``F.conv1d`` / ``F.conv_transpose2d`` called directly on
  ``complex64`` tensors (torch's own complex convolution: Gauss's three real convolutions
  composed from differentiable real ops);
* ``complexPyTorch``: ``complexPyTorch.complexLayers.ComplexConv2d`` /
  ``ComplexConvTranspose2d`` (two real convolutions applied four times); it has no 1-d layer,
  so the 1-d case uses the same four-convolution form (its ``apply_complex``) on ``nn.Conv1d``;
* ``real (1 conv)``: one real ``C → C`` convolution of the same geometry, the unit of cost
  (Gauss's form needs three of them, the four-convolution and block forms four).

Cases (``B = 8``, all with bias, 3-tap kernels):

* ``conv2d``: ``32 → 32`` channels, ``3×3``, over ``F × N = 128 × 100`` (the codec's spectrogram
  convolution);
* ``conv1d``: ``128 → 128`` channels, ``k = 3``, ``L = 2400``: exactly the multiply-adds of the
  2-d case (``C² · 9 · F · N = C'² · 3 · L``), with the channel count of a latent-path 1-d layer,
  so both cases cost the same ideal FLOPs and their times compare directly;
* ``convT2d``: transposed ``32 → 32``, kernel ``3×4``, stride ``(1, 2)``: doubles time ``N``;
* ``stack4``: four ``conv2d`` layers in a row (how the codec uses them): each kernel's output
  layout propagates to the next layer, so what a kernel saves by keeping its layout shows here.

Fairness: every candidate gets the same contiguous ``complex64`` input (``requires_grad``), the
same complex weights and bias (copied across; the script checks that all outputs agree), weights
that require grad, and ``backward`` of the same fixed random ``grad_output`` (contiguous). The
candidates run interleaved round-robin (after one warm-up call each), so load from other jobs hits
them alike (the order rotates from round to round); medians and minima over rounds are printed,
with the ratios of medians, of minima, and the median of per-round ("paired") ratios, which
cancels load that drifts between rounds.

Run: ``python benchmarks/layers.py`` (about 1-3 minutes on 2 busy cores). Options:
``--threads N`` (default: torch's default), ``--rounds R`` (default 10), ``--cases``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from complexPyTorch.complexLayers import ComplexConv2d as CPTConv2d
from complexPyTorch.complexLayers import ComplexConvTranspose2d as CPTConvTranspose2d
from complexPyTorch.complexLayers import apply_complex
from torch import Tensor, nn

from cplxcodec.layers import ComplexConv1d, ComplexConv2d, ComplexConvTranspose2d

__all__ = ["main"]

IMPLS = ("karatsuba", "block")
REF_NATIVE, REF_CPT = "torch native", "complexPyTorch"


class _TorchNative(nn.Module):
    """torch's complex convolution, called directly (the baseline)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.weight = nn.Parameter(layer.weight.detach().clone())
        self.bias = nn.Parameter(layer.bias.detach().clone())
        self.kw = dict(stride=layer.stride, padding=layer.padding)
        self.transposed = layer._transposed
        self.ndim = layer._ndim

    def forward(self, x: Tensor) -> Tensor:
        if self.transposed:
            return F.conv_transpose2d(x, self.weight, self.bias, **self.kw)
        conv = F.conv2d if self.ndim == 2 else F.conv1d
        return conv(x, self.weight, self.bias, **self.kw)


class _FourConv1d(nn.Module):
    """complexPyTorch's four-convolution form (``apply_complex``) on ``nn.Conv1d``."""

    def __init__(self, cin: int, cout: int, k: int, padding: int) -> None:
        super().__init__()
        self.conv_r = nn.Conv1d(cin, cout, k, padding=padding)
        self.conv_i = nn.Conv1d(cin, cout, k, padding=padding)

    def forward(self, x: Tensor) -> Tensor:
        return apply_complex(self.conv_r, self.conv_i, x)


def _load_cpt(ref: nn.Module, w: Tensor, b: Tensor) -> None:
    """Give a four-conv reference the complex weight ``w`` and bias ``b``."""
    fr = getattr(ref, "conv_r", None) or ref.conv_tran_r
    fi = getattr(ref, "conv_i", None) or ref.conv_tran_i
    with torch.no_grad():
        fr.weight.copy_(w.real)
        fi.weight.copy_(w.imag)
        fr.bias.copy_((b.real + b.imag) / 2)  # re: br - bi, im: br + bi
        fi.bias.copy_((b.imag - b.real) / 2)


@dataclass
class Case:
    name: str
    shape: tuple[int, ...]
    candidates: dict[str, nn.Module]
    times: dict[str, list[float]] = field(default_factory=dict)


def _stack(make: Callable[[], nn.Module], n: int) -> nn.Sequential:
    return nn.Sequential(*(make() for _ in range(n)))


def build_case(name: str) -> Case:
    """Candidates of one case, all holding the same complex weights."""
    torch.manual_seed(0)
    b = 8
    if name in ("conv2d", "stack4"):
        c, shape, n_layers = 32, (b, 32, 128, 100), (4 if name == "stack4" else 1)
        ours = [ComplexConv2d(c, c, 3, padding=1) for _ in range(n_layers)]
        cpt = [CPTConv2d(c, c, 3, padding=1) for _ in range(n_layers)]
        real: nn.Module = nn.Sequential(*(nn.Conv2d(c, c, 3, padding=1) for _ in range(n_layers)))
    elif name == "conv1d":
        c, shape, n_layers = 128, (b, 128, 2400), 1
        ours = [ComplexConv1d(c, c, 3, padding=1)]
        cpt = [_FourConv1d(c, c, 3, 1)]
        real = nn.Conv1d(c, c, 3, padding=1)
    elif name == "convT2d":
        c, shape, n_layers = 32, (b, 32, 128, 100), 1
        geo = dict(stride=(1, 2), padding=(1, 1))
        ours = [ComplexConvTranspose2d(c, c, (3, 4), **geo)]
        cpt = [CPTConvTranspose2d(c, c, (3, 4), **geo)]
        real = nn.ConvTranspose2d(c, c, (3, 4), **geo)
    else:
        raise ValueError(f"unknown case {name!r}; use conv2d, conv1d, convT2d or stack4")
    for layer in ours:
        with torch.no_grad():
            layer.bias.copy_(0.1 * torch.randn_like(layer.bias))
    for ref, layer in zip(cpt, ours):
        _load_cpt(ref, layer.weight.detach(), layer.bias.detach())
    cands: dict[str, nn.Module] = {}
    for impl in IMPLS:
        mods = []
        for layer in ours:
            m = type(layer)(**_ctor_args(layer), impl=impl)
            m.load_state_dict(layer.state_dict())
            mods.append(m)
        cands[f"cplxcodec[{impl}]"] = nn.Sequential(*mods)
    cands[REF_NATIVE] = nn.Sequential(*(_TorchNative(m) for m in ours))
    cands[REF_CPT] = nn.Sequential(*cpt)
    cands["real (1 conv)"] = real
    return Case(name, shape, cands)


def _ctor_args(layer: nn.Module) -> dict:
    return dict(
        in_channels=layer.in_channels,
        out_channels=layer.out_channels,
        kernel_size=layer.kernel_size,
        stride=layer.stride,
        padding=layer.padding,
    )


def _fwd_bwd(model: nn.Module, x0: Tensor, grad: Tensor) -> float:
    for p in model.parameters():
        p.grad = None
    x = x0.detach().requires_grad_()
    t0 = time.perf_counter()
    y = model(x)
    y.backward(grad)
    return time.perf_counter() - t0


def run_case(case: Case, rounds: int) -> None:
    """Check agreement, warm up, then time all candidates interleaved."""
    gen = torch.Generator().manual_seed(1)
    xc = torch.randn(case.shape, dtype=torch.cfloat, generator=gen)
    xr = torch.randn(case.shape, generator=gen)
    with torch.no_grad():
        outs = {k: m(xr if k.startswith("real") else xc) for k, m in case.candidates.items()}
    ref = outs[REF_NATIVE]
    scale = ref.abs().max().item()
    grads = {k: torch.randn(o.shape, dtype=o.dtype, generator=gen) for k, o in outs.items()}
    for k, o in outs.items():
        if not k.startswith("real"):
            err = (o - ref).abs().max().item() / scale
            if err > 1e-5:
                raise AssertionError(f"{case.name}: {k} disagrees with torch (rel. err {err:.1e})")
    for k, m in case.candidates.items():
        _fwd_bwd(m, xr if k.startswith("real") else xc, grads[k])
    case.times = {k: [] for k in case.candidates}
    names = list(case.candidates)
    for r in range(rounds):  # the order rotates each round, so no candidate always goes first
        for k in names[r % len(names):] + names[: r % len(names)]:
            m = case.candidates[k]
            case.times[k].append(_fwd_bwd(m, xr if k.startswith("real") else xc, grads[k]))


def paired_ratio(case: Case, ref: str, k: str) -> float:
    """Median over rounds of ``t_ref / t_k`` measured in the same round (load drifts cancel)."""
    return statistics.median(a / b for a, b in zip(case.times[ref], case.times[k]))


def report(case: Case) -> None:
    med = {k: statistics.median(v) for k, v in case.times.items()}
    mn = {k: min(v) for k, v in case.times.items()}
    print(f"\n== {case.name}: input {tuple(case.shape)} complex64, forward+backward, "
          f"{len(next(iter(case.times.values())))} interleaved rounds ==")
    print(f"  {'candidate':22s} {'median ms':>10s} {'min ms':>9s}   "
          f"{'native/x (med, min, paired)':>28s}   {'cPT/x (med, min, paired)':>25s}")
    for k in case.times:
        r_nat = (f"{med[REF_NATIVE] / med[k]:5.2f}  {mn[REF_NATIVE] / mn[k]:5.2f}  "
                 f"{paired_ratio(case, REF_NATIVE, k):5.2f}")
        r_cpt = (f"{med[REF_CPT] / med[k]:5.2f}  {mn[REF_CPT] / mn[k]:5.2f}  "
                 f"{paired_ratio(case, REF_CPT, k):5.2f}")
        print(f"  {k:22s} {1e3 * med[k]:10.1f} {1e3 * mn[k]:9.1f}   {r_nat:>28s}   {r_cpt:>25s}")
    real = med["real (1 conv)"]
    best = min((k for k in case.times if k.startswith("cplxcodec")), key=med.__getitem__)
    print(f"  fastest cplxcodec kernel: {best} = {med[best] / real:.2f}x one real conv "
          f"(ideal for Gauss's form: 3x); speed-up {med[REF_NATIVE] / med[best]:.2f}x over torch "
          f"native, {med[REF_CPT] / med[best]:.2f}x over complexPyTorch (medians; target >= 1.3); "
          f"paired per-round medians {paired_ratio(case, REF_NATIVE, best):.2f}x / "
          f"{paired_ratio(case, REF_CPT, best):.2f}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--rounds", type=int, default=10, help="interleaved timing rounds per case")
    ap.add_argument("--cases", nargs="+", default=["conv2d", "conv1d", "convT2d", "stack4"])
    args = ap.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, "
          f"capability {torch.backends.cpu.get_cpu_capability()}")
    t0 = time.perf_counter()
    for name in args.cases:
        case = build_case(name)
        run_case(case, args.rounds)
        report(case)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
