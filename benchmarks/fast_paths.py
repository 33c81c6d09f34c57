"""A/B timing of the decoder's fast paths against the kernels they replace.

Each case times two implementations of the *same* computation on the shapes the bundled
``speech16k`` model runs (batch 1 × 10 s at inference: 977 frames; batch 16 × 1 s in training:
98 frames), interleaved round-robin so that load from other jobs hits both alike, and prints
medians and the median of per-round ("paired") ratios:

* ``upsample``: the decoder's last transposed convolution (24 → 1 complex channels, kernel
  ``(16, 3)``, stride ``(8, 1)``): the sub-pixel form (one stride-1 Gauss convolution with
  ``8`` phase outputs + a shuffle; what ``impl="karatsuba"`` runs for ≤ 4 output channels) vs.
  the three oneDNN deconvolutions it replaced;
* ``upsample24``: the previous upsampler (48 → 24, kernel ``(8, 3)``, stride 4), where the
  deconvolution is kept: shows why the sub-pixel form is limited to few output channels;
* ``pointwise``: a ``1×1`` convolution (24 → 24 complex channels over ``32 × N``, with bias, as
  in the decoder's residual units): one batched complex GEMM vs. Gauss's three real convolutions;
* ``freq-attn``: attention over the 8 frequency positions of each frame (``(S, 4, 8, 24)``
  real): explicit matmuls (used at inference) vs. the fused ``scaled_dot_product_attention``;
* ``time-attn``: banded attention with half-width 32 over the time axis: explicit matmuls with an
  additive band mask (used always) vs. SDPA with a boolean mask (its math fallback);
* ``beam-topk`` / ``beam-argmin`` (encoder only): the beam search's per-stage selection of the
  8 best (the last stage: the best) of ``8 × 1024`` candidate scores for each of 512 latent
  frames (one chunk of a 10 s clip): the grouped pre-selection (``_smallest_k``) vs. ``topk`` /
  ``argmin`` over the whole row;
* ``attn-freq`` / ``attn-time``: the whole :class:`~cplxcodec.layers.ComplexAxialAttention`
  layer of the decoder (48 channels, 4 heads; frequency axis, and banded time axis) with q, k, v
  as strided views of the projection in ``view_as_real``'s interleaved order vs. the replaced
  ``[Re, Im]``-concatenated layout, which copied q, k, v and the output;
* ``mrstft`` (the training loss): the multi-resolution STFT loss on 1 s waveforms without the
  phase spectra (:class:`cplxcodec.losses.MultiResolutionSTFTLoss`) vs. auraloss's class, which
  also computes ``torch.angle`` of every spectrum (bitwise the same values and gradients).

Directions: ``fwd`` (no autograd, as the decoder runs) and ``fwd+bwd`` (training; not for the
selection cases, which have no gradient). Outputs of both sides are checked to agree before
timing (the selections: the very same indices).

Run: ``python benchmarks/fast_paths.py`` (about a minute on 2 cores); ``--threads N``,
``--rounds R``, ``--cases``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import auraloss
import torch
import torch.nn.functional as F
from torch import Tensor

from cplxcodec.functional.attention import banded_attention, banded_blocks, small_attention
from cplxcodec.functional.conv import _KaratsubaConv, complex_conv
from cplxcodec.layers import ComplexAxialAttention
from cplxcodec.losses import MultiResolutionSTFTLoss
from cplxcodec.quantization.search import _select_smallest, _smallest_k

__all__ = ["main", "CASES"]

Fn = Callable[[list[Tensor]], Tensor]


def _masked_sdpa_banded(q: Tensor, k: Tensor, v: Tensor, w: int, scale: float) -> Tensor:
    """The replaced kernel: the same blocking, but SDPA with a boolean mask."""
    s, h, length, d = q.shape
    qb, kb, vb, mask = banded_blocks(q, k, v, w)
    out = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=mask, scale=scale)
    return out.reshape(s, h, -1, d)[:, :, :length]


def _concat_layout_attention(m: ComplexAxialAttention, x: Tensor) -> Tensor:
    """The replaced layout of :class:`ComplexAxialAttention`: heads as ``[Re(d), Im(d)]``
    concatenations, which copies q, k, v and the output (the layer now uses views)."""
    b, c, f, n = x.shape
    time_axis = m.axis == "time"
    seq = (x.permute(0, 2, 3, 1) if time_axis else x.permute(0, 3, 2, 1)).reshape(
        -1, n if time_axis else f, c
    )
    s, length = seq.shape[0], seq.shape[1]
    qkv = torch.view_as_real(m.qkv(seq).view(s, length, 3, m.heads, m.head_dim))
    qkv = qkv.permute(2, 0, 3, 1, 5, 4).reshape(3, s, m.heads, length, 2 * m.head_dim)
    q, k, v = qkv.unbind(0)
    scale = m.head_dim**-0.5
    if m.window is not None:
        o = banded_attention(q, k, v, m.window, m.causal, scale=scale)
    elif not q.requires_grad:
        o = small_attention(q, k, v, scale)
    else:
        o = F.scaled_dot_product_attention(q, k, v, scale=scale)
    o = o.view(s, m.heads, length, 2, m.head_dim).permute(0, 2, 1, 4, 3)
    o = m.out(torch.view_as_complex(o.contiguous()).reshape(s, length, c))
    return (
        o.view(b, f, n, c).permute(0, 3, 1, 2)
        if time_axis
        else o.view(b, n, f, c).permute(0, 3, 2, 1)
    )


def _upsample_case(cin: int, cout: int, k: int, s: int, p: int, height: int, train: bool):
    b, n = (16, 98) if train else (1, 977)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(b, cin, height, n, dtype=torch.cfloat, generator=gen)
    w = torch.randn(cin, cout, k, 3, dtype=torch.cfloat, generator=gen) * 0.05
    geo = ([s, 1], [p, 1], [1, 1], True, [0, 0], 1)

    def new(t: list[Tensor]) -> Tensor:
        return complex_conv(t[0], t[1], [s, 1], [p, 1], [1, 1], 1, True, [0, 0])

    def old(t: list[Tensor]) -> Tensor:
        return _KaratsubaConv.apply(t[0], t[1], None, geo, False)

    return [x, w], new, old


def _pointwise_case(train: bool):
    b, n = (16, 98) if train else (1, 977)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(b, 24, 32, n, dtype=torch.cfloat, generator=gen)
    w = torch.randn(24, 24, 1, 1, dtype=torch.cfloat, generator=gen) * 0.2
    bias = torch.randn(24, dtype=torch.cfloat, generator=gen)
    geo = ([1, 1], [0, 0], [1, 1], False, [0, 0], 1)

    def new(t: list[Tensor]) -> Tensor:
        return complex_conv(t[0], t[1], [1, 1], [0, 0], [1, 1], bias=t[2])

    def old(t: list[Tensor]) -> Tensor:
        return _KaratsubaConv.apply(t[0], t[1], t[2], geo, False)

    return [x, w, bias], new, old


def _attn_inputs(s: int, length: int) -> list[Tensor]:
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(s, 4, length, 24, generator=gen) for _ in range(3)]


def build(name: str, train: bool) -> tuple[list[Tensor], Fn, Fn, str, str]:
    """Inputs, the fast path, the replaced path and their labels for one case."""
    scale = 12**-0.5
    if name == "upsample":
        x, new, old = _upsample_case(24, 1, 16, 8, 4, 32, train)
        return x, new, old, "sub-pixel", "deconv x3"
    if name == "upsample24":
        x, new, old = _upsample_case(48, 24, 8, 4, 2, 8, train)
        return x, new, old, "kept deconv", "deconv x3"
    if name == "pointwise":
        x, new, old = _pointwise_case(train)
        return x, new, old, "complex GEMM", "Gauss x3"
    if name == "freq-attn":
        t = _attn_inputs(1568 if train else 977, 8)
        return (
            t,
            lambda a: small_attention(a[0], a[1], a[2], scale),
            lambda a: F.scaled_dot_product_attention(a[0], a[1], a[2], scale=scale),
            "matmuls",
            "fused SDPA",
        )
    if name == "time-attn":
        t = _attn_inputs(128 if train else 8, 98 if train else 977)
        return (
            t,
            lambda a: banded_attention(a[0], a[1], a[2], 32, scale=scale),
            lambda a: _masked_sdpa_banded(a[0], a[1], a[2], 32, scale),
            "matmuls+additive",
            "masked SDPA",
        )
    if name in ("beam-topk", "beam-argmin"):
        k = 8 if name == "beam-topk" else 1
        scores = [torch.randn(512, 8 * 1024, generator=torch.Generator().manual_seed(0))]
        return (
            scores,
            lambda a: _smallest_k(a[0], k),
            lambda a: _select_smallest(a[0], k),
            "grouped",
            "topk(8)" if k > 1 else "argmin",
        )
    if name in ("attn-freq", "attn-time"):
        time_axis = name == "attn-time"
        torch.manual_seed(0)
        m = ComplexAxialAttention(
            48, 4, axis="time" if time_axis else "freq", window=32 if time_axis else None
        )
        b, n = (16, 98) if train else (1, 977)
        x = torch.randn(b, 48, 8, n, dtype=torch.cfloat, generator=torch.Generator().manual_seed(0))
        return (
            [x],
            lambda a: m(a[0]),
            lambda a: _concat_layout_attention(m, a[0]),
            "views",
            "copies",
        )
    if name == "mrstft":
        sizes = (256, 512, 1024, 2048)
        ours = MultiResolutionSTFTLoss(sizes)
        ref = auraloss.freq.MultiResolutionSTFTLoss(sizes, [n // 4 for n in sizes], sizes)
        gen = torch.Generator().manual_seed(0)
        b = 16 if train else 1
        x = [0.1 * torch.randn(b, 1, 16000, generator=gen) for _ in range(2)]
        return (  # the reference waveform takes no gradient, as in training
            x,
            lambda a: ours(a[0], a[1].detach()),
            lambda a: ref(a[0], a[1].detach()),
            "magnitude only",
            "auraloss",
        )
    raise ValueError(f"unknown case {name!r}; choose from {CASES}")


CASES = (
    "upsample",
    "upsample24",
    "pointwise",
    "freq-attn",
    "time-attn",
    "beam-topk",
    "beam-argmin",
    "attn-freq",
    "attn-time",
    "mrstft",
)
INFERENCE_ONLY = ("beam-topk", "beam-argmin")  # no gradient: timed without autograd only


def _fwd_bwd(fn: Fn, leaves: list[Tensor]) -> None:
    y = fn(leaves)
    (y.real if y.is_complex() else y).sum().backward()


def _call(fn: Fn, inputs: list[Tensor], grad: bool) -> float:
    if grad:
        leaves = [t.detach().requires_grad_() for t in inputs]
        t0 = time.perf_counter()
        _fwd_bwd(fn, leaves)
        return time.perf_counter() - t0
    with torch.no_grad():
        t0 = time.perf_counter()
        fn(inputs)
        return time.perf_counter() - t0


def _grads(fn: Fn, inputs: list[Tensor]) -> list[Tensor]:
    leaves = [t.detach().requires_grad_() for t in inputs]
    _fwd_bwd(fn, leaves)
    return [t.grad for t in leaves]


def _rel_err(a: Tensor | None, b: Tensor | None) -> float:
    if a is None or b is None:  # an input neither path differentiates
        return 0.0 if a is None and b is None else float("inf")
    if not a.is_floating_point() and not a.is_complex():  # indices: must be the same
        return 0.0 if torch.equal(a, b) else float("inf")
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def time_case(name: str, train: bool, rounds: int) -> dict:
    """Median ms of both paths and the paired ratio (replaced / fast) for one case.

    Both paths must agree first: outputs, and with ``train`` the gradients of every input.
    """
    inputs, new, old, new_label, old_label = build(name, train)
    with torch.no_grad():
        errs = [_rel_err(new(inputs), old(inputs))]
    if train:
        errs += [_rel_err(a, b) for a, b in zip(_grads(new, inputs), _grads(old, inputs))]
    if not max(errs) < 1e-4:
        raise AssertionError(f"{name}: the two paths disagree (relative error {max(errs):.1e})")
    times: dict[str, list[float]] = {"new": [], "old": []}
    fns = {"new": new, "old": old}
    for key in fns:  # warm-up
        _call(fns[key], inputs, train)
    for r in range(rounds):
        for key in ("new", "old") if r % 2 == 0 else ("old", "new"):
            times[key].append(_call(fns[key], inputs, train))
    return {
        "new_ms": 1e3 * statistics.median(times["new"]),
        "old_ms": 1e3 * statistics.median(times["old"]),
        "paired": statistics.median(o / n for o, n in zip(times["old"], times["new"])),
        "labels": (new_label, old_label),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--rounds", type=int, default=9, help="interleaved rounds per case")
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, intra-op threads = {torch.get_num_threads()}, "
          f"{args.rounds} interleaved rounds")  # fmt: skip
    print(f"{'case':<11} {'mode':<8} {'fast path':<17} {'ms':>7}   {'replaced':<12} {'ms':>7}"
          f"   {'speed-up (paired)':>17}")  # fmt: skip
    for name in args.cases:
        for train in (False,) if name in INFERENCE_ONLY else (False, True):
            r = time_case(name, train, args.rounds)
            new_label, old_label = r["labels"]
            mode = "fwd+bwd" if train else "fwd"
            print(f"{name:<11} {mode:<8} {new_label:<17} {r['new_ms']:7.1f}   {old_label:<12} "
                  f"{r['old_ms']:7.1f}   {r['paired']:16.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
