"""Encode/decode real-time factors of the codec against EnCodec 24 kHz (and DAC 16 kHz if present).

Usage::

    python benchmarks/codec_speed.py                 # speech16k @ 6 kbps vs EnCodec-24k @ 6 kbps
    python benchmarks/codec_speed.py --repeats 9 --config speech16k-causal
    python benchmarks/codec_speed.py --beams 1        # greedy residual-VQ search only
    python benchmarks/codec_speed.py --refine 40      # also: analysis-by-synthesis refinement
    python benchmarks/codec_speed.py --vbr            # also: variable stage allocation (files' default)
    python benchmarks/codec_speed.py --model speech16k --vbr   # the bundled weights and stages

Our encoder is timed at each ``--beams`` width (default: the library's ``ENCODE_BEAM``, then
greedy); the targets are checked on the first. ``--refine N`` adds our encoder with ``N`` iterations
of analysis-by-synthesis code refinement (:mod:`cplxcodec.models.refine`) after the first beam;
``--vbr`` our encoder with variable stage allocation (what ``compress`` does by default: a
full-depth search for the stage errors, the allocation, then the search at each frame's count).

What is measured: batch 1, ``--seconds`` (10) of speech-like audio, ``torch`` limited to
``--threads`` (2) intra-op threads, inference mode. Each codec is warmed up once, then the runs of
all codecs are interleaved (codec A, codec B, codec A, ...) so that a change in machine load
affects them alike; the median of ``--repeats`` runs is reported as a real-time factor
``RTF = audio seconds / wall seconds`` (higher is faster). Untrained weights of ``--config`` are
used unless ``--model`` names a model (registered name with bundled weights, or a model file):
speed does not depend on the weights, except with ``--vbr``, whose allocation (and so the
searches at each count) follows the trained latent, and whose full-depth search has the
model's stage count. Targets from the issue: ≥ 50× real time, ≥ 2× EnCodec's speed.

EnCodec is built from the ``encodec`` package without weights
(``EncodecModel.encodec_model_24khz(pretrained=False)``, target bandwidth 6 kbps, input at
24 kHz). It is a benchmark-only dependency: ``pip install --no-deps encodec==0.1.1 einops``.
``encodec.utils`` imports ``torchaudio`` at import time (for file I/O and resampling helpers
that are not used here); torchaudio cannot be installed next to the CPU torch of this project,
so when it is missing an empty stand-in module is registered under that name *for this process
only* before importing encodec. DAC (``descript-audio-codec``) is measured only if ``dac``
imports; otherwise it is skipped with a message.

The machine may be shared: the 1-minute load average is printed before and after.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass

import torch

from cplxcodec.models import ENCODE_BEAM, ComplexCodec, get_config, load_model
from cplxcodec.signals import speech_like

__all__ = ["Contender", "build_ours", "build_encodec", "build_dac", "run", "main"]


@dataclass
class Contender:
    """One codec under test: its encode and decode closures over a fixed input."""

    name: str
    sample_rate: int
    seconds: float
    n_params: int
    encode: Callable[[], object]
    decode: Callable[[], object]


def _wave(seconds: float, sample_rate: int) -> torch.Tensor:
    return torch.from_numpy(speech_like(seconds, sample_rate)).view(1, 1, -1)


def build_ours(
    config: str,
    kbps: float,
    seconds: float,
    beam: int = ENCODE_BEAM,
    refine: int = 0,
    vbr: bool = False,
    model: ComplexCodec | None = None,
) -> Contender:
    """The cplxcodec model ``config`` (or the given ``model``) at ``kbps``, encoding with
    residual-VQ search ``beam``, ``refine`` refinement iterations and, with ``vbr``, variable
    stage allocation."""
    if model is None:
        model = ComplexCodec(get_config(config)).eval()
    else:
        config = f"{model.config.name} ({model.n_stages} stages)"
    wav = _wave(seconds, model.sample_rate)
    codes = model.encode(wav, kbps, beam=beam)
    length = wav.shape[-1]
    return Contender(
        name=f"cplxcodec {config} @ {kbps:g} kbps, beam {beam}"
        + (f", refine {refine}" if refine else "")
        + (", vbr" if vbr else ""),
        sample_rate=model.sample_rate,
        seconds=seconds,
        n_params=model.num_parameters(),
        encode=lambda: model.encode(wav, kbps, beam=beam, refine=refine, vbr=vbr),
        decode=lambda: model.decode(codes, length),
    )


def _import_encodec():
    """Import ``encodec``, standing in an empty ``torchaudio`` module if none is installed."""
    try:
        importlib.import_module("torchaudio")
    except Exception:  # missing, or a CUDA wheel that fails to load on CPU torch
        # encodec.utils does `import torchaudio` at import time but only uses it in
        # convert_audio/save_audio, which this benchmark never calls. Register an empty
        # module under that name for this process only (never in library code).
        sys.modules["torchaudio"] = types.ModuleType("torchaudio")
    return importlib.import_module("encodec")


def build_encodec(bandwidth: float, seconds: float) -> Contender | str:
    """EnCodec 24 kHz architecture without weights; a reason string if unavailable."""
    try:
        encodec = _import_encodec()
    except Exception as e:  # ImportError, or a broken dependency
        return f"EnCodec skipped: cannot import encodec ({e}); pip install --no-deps encodec==0.1.1 einops"
    model = encodec.EncodecModel.encodec_model_24khz(pretrained=False).eval()
    model.set_target_bandwidth(bandwidth)
    wav = _wave(seconds, model.sample_rate)
    with torch.inference_mode():
        frames = model.encode(wav)
    return Contender(
        name=f"EnCodec 24 kHz @ {bandwidth:g} kbps",
        sample_rate=model.sample_rate,
        seconds=seconds,
        n_params=sum(p.numel() for p in model.parameters()),
        encode=lambda: model.encode(wav),
        decode=lambda: model.decode(frames),
    )


def build_dac(seconds: float) -> Contender | str:
    """DAC 16 kHz architecture without weights, if ``dac`` imports; else a reason string."""
    try:
        dac = importlib.import_module("dac")
    except Exception as e:
        return f"DAC-16k skipped: cannot import dac ({type(e).__name__}: {e})"
    try:  # the 16 kHz model of descript-audio-codec 1.0: 12 codebooks, 6 kbps
        model = dac.DAC(
            encoder_dim=64, encoder_rates=[2, 4, 5, 8], decoder_dim=1536,
            decoder_rates=[8, 5, 4, 2], n_codebooks=12, codebook_size=1024, sample_rate=16000,
        ).eval()  # fmt: skip
    except Exception as e:
        return f"DAC-16k skipped: cannot build it ({type(e).__name__}: {e})"
    wav = _wave(seconds, 16000)
    with torch.inference_mode():
        z = model.encode(wav)[0]
    return Contender(
        name="DAC 16 kHz (12 codebooks)",
        sample_rate=16000,
        seconds=seconds,
        n_params=sum(p.numel() for p in model.parameters()),
        encode=lambda: model.encode(wav),
        decode=lambda: model.decode(z),
    )


def run(contenders: list[Contender], repeats: int) -> dict[str, dict[str, float]]:
    """Warm up, then interleave ``repeats`` rounds; median RTF per codec and direction."""
    times: dict[tuple[str, str], list[float]] = {}
    with torch.inference_mode():
        for c in contenders:
            c.encode()
            c.decode()
        for _ in range(repeats):
            for c in contenders:
                for direction in ("encode", "decode"):
                    fn = getattr(c, direction)
                    t0 = time.perf_counter()
                    fn()
                    times.setdefault((c.name, direction), []).append(time.perf_counter() - t0)
    out: dict[str, dict[str, float]] = {}
    for c in contenders:
        out[c.name] = {
            d: c.seconds / statistics.median(times[(c.name, d)]) for d in ("encode", "decode")
        }
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; returns 0 (figures, not a pass/fail gate)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="speech16k")
    p.add_argument(
        "--model",
        default=None,
        help="time this model (name with bundled weights, or a model file) instead of an "
        "untrained --config",
    )
    p.add_argument("--kbps", type=float, default=6.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--beams",
        type=int,
        nargs="+",
        default=[ENCODE_BEAM, 1],
        help="residual-VQ search widths of our encoder; the first is the one the targets "
        "are checked on (default: the library default, then greedy)",
    )
    p.add_argument(
        "--refine",
        type=int,
        nargs="*",
        default=[],
        help="also time our encoder (first beam) with these refinement iteration counts",
    )
    p.add_argument(
        "--vbr",
        action="store_true",
        help="also time our encoder (first beam) with variable stage allocation",
    )
    p.add_argument("--no-encodec", action="store_true")
    p.add_argument("--no-dac", action="store_true")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, intra-op threads = {torch.get_num_threads()}")
    print(f"load average before: {os.getloadavg()[0]:.2f} (cpus: {os.cpu_count()})")
    model = load_model(args.model) if args.model else None
    contenders = [
        build_ours(args.config, args.kbps, args.seconds, b, model=model) for b in args.beams
    ]
    contenders += [
        build_ours(args.config, args.kbps, args.seconds, args.beams[0], r, model=model)
        for r in args.refine
    ]
    if args.vbr:
        contenders.append(
            build_ours(args.config, args.kbps, args.seconds, args.beams[0], vbr=True, model=model)
        )
    n_ours = len(contenders)
    skipped = []
    for build, wanted in (
        (lambda: build_encodec(args.kbps, args.seconds), not args.no_encodec),
        (lambda: build_dac(args.seconds), not args.no_dac),
    ):
        if wanted:
            c = build()
            (skipped if isinstance(c, str) else contenders).append(c)
    for reason in skipped:
        print(reason)

    rtf = run(contenders, args.repeats)
    print(f"load average after:  {os.getloadavg()[0]:.2f}")
    print(f"\nbatch 1, {args.seconds:g} s of audio, median of {args.repeats} interleaved runs")
    print(f"{'codec':<46} {'params':>10} {'encode RTF':>11} {'decode RTF':>11}")
    for c in contenders:
        r = rtf[c.name]
        print(f"{c.name:<46} {c.n_params / 1e6:>9.2f}M {r['encode']:>10.1f}x {r['decode']:>10.1f}x")
    ours = rtf[contenders[0].name]
    for c in contenders[n_ours:]:
        r = rtf[c.name]
        print(
            f"speed of {contenders[0].name} vs {c.name}: encode {ours['encode'] / r['encode']:.2f}x, "
            f"decode {ours['decode'] / r['decode']:.2f}x"
        )
    print(
        f"target >= 50x real time: encode {'met' if ours['encode'] >= 50 else 'NOT met'}, "
        f"decode {'met' if ours['decode'] >= 50 else 'NOT met'}"
    )
    enc = next((c for c in contenders[n_ours:] if c.name.startswith("EnCodec")), None)
    if enc is not None:
        r = rtf[enc.name]
        ok = ours["encode"] >= 2 * r["encode"] and ours["decode"] >= 2 * r["decode"]
        print(f"target >= 2x EnCodec (both directions): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
