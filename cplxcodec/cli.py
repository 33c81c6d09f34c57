"""The ``cplxcodec`` command (``python -m cplxcodec`` is the same).

Subcommands, each ``main(argv) -> int``; errors go to stderr with a non-zero exit code:

- ``encode IN OUT --kbps {6,12} [--model NAME|PATH] [--beam B] [--refine [N]]
  [--refine-stoi-weight W] [--cbr] [--force]``:
  audio → ``.cplx``
- ``decode IN OUT [--model NAME|PATH] [--force]``: ``.cplx`` → audio file
- ``info FILE [FILE ...] [--json]``: what a ``.cplx`` file holds (checked, no model needed)
- ``train fit --config FILE``: training through LightningCLI (:mod:`cplxcodec.training.cli`)
- ``eval`` / ``report``: objective evaluation and HTML report (:mod:`cplxcodec.analysis.commands`)
- ``demo [--out DIR]``: encode/decode the bundled speech sample at 6 and 12 kbps, print bitrates
  and metrics, write decoded audio and a diagnostic report.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

__all__ = [
    "main",
    "entry_point",
    "encode_main",
    "decode_main",
    "info_main",
    "file_info",
    "demo_main",
    "demo_sample_path",
]

_HELP = """usage: cplxcodec {encode,decode,info,train,eval,report,demo} ...

  encode IN OUT --kbps 6|12 [--model NAME|PATH] [--refine [N]] [--cbr] [--force]
                                                              compress an audio file to .cplx
  decode IN OUT [--model NAME|PATH] [--force]                decode a .cplx file to audio
  info FILE [FILE ...] [--json]                               show and check .cplx files
  train fit --config FILE [...]                               train a codec (LightningCLI)
  eval --model M --data DIR --kbps 6 12 [--baselines ...]    objective metrics (JSON)
  report --model M --data DIR --kbps 6 12 --out report.html  HTML diagnostic report
  demo [--out DIR] [--model NAME|PATH] [--refine N] [--cbr]   run the bundled speech sample

Run `cplxcodec SUBCOMMAND --help` for details."""


def _error(msg: str) -> int:
    print(f"cplxcodec: error: {msg}", file=sys.stderr)
    return 1


def _describe(err: BaseException) -> str:
    """``str(err)``, without the quotes ``KeyError`` puts around its message."""
    if isinstance(err, KeyError) and len(err.args) == 1 and isinstance(err.args[0], str):
        return err.args[0]
    return str(err)


def _known_errors() -> tuple[type[BaseException], ...]:
    from cplxcodec.audio import AudioError
    from cplxcodec.bitstream import BitstreamError
    from cplxcodec.models import ModelFileError

    return (AudioError, BitstreamError, ModelFileError, KeyError, ValueError, OSError)


#: ``--refine`` given alone; equals :data:`cplxcodec.models.refine.REFINE_ITERATIONS` (kept here so
#: that ``--help`` does not import torch; a test checks they agree).
_REFINE_DEFAULT = 40


def _int_at_least(minimum: int, noun: str):
    """argparse type: an integer ``>= minimum``; errors say "expected a ``noun``"."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {noun}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a {noun}, got {value}")
        return value

    parse.__doc__ = f"argparse type: an integer >= {minimum}."
    return parse


_non_negative_int = _int_at_least(0, "non-negative integer")
_positive_int = _int_at_least(1, "positive integer")


def _non_negative_float(text: str) -> float:
    """argparse type: a finite number ``>= 0``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not 0 <= value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _write_bytes(path: Path, data: bytes, force: bool) -> None:
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; use --force to overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)


def encode_main(argv: list[str]) -> int:
    """``cplxcodec encode IN OUT --kbps K``."""
    p = argparse.ArgumentParser(prog="cplxcodec encode", description="Compress audio to .cplx")
    p.add_argument("input", type=Path, help="wav, flac or ogg file (any rate, any channels)")
    p.add_argument("output", type=Path, help="output .cplx file")
    p.add_argument("--kbps", type=float, required=True, help="nominal bitrate (6 or 12)")
    p.add_argument("--model", default="speech16k", help="bundled model name or model file")
    p.add_argument("--force", action="store_true", help="overwrite OUT")
    p.add_argument("--chunk-seconds", type=float, default=30.0, help="processing chunk length")
    p.add_argument(
        "--beam",
        type=_positive_int,
        default=None,
        help="residual-VQ search width: 1 = greedy (fastest); wider = better codes, slower "
        "(default: cplxcodec.models.ENCODE_BEAM, 8)",
    )
    p.add_argument(
        "--refine",
        type=_non_negative_int,
        nargs="?",
        const=_REFINE_DEFAULT,
        default=0,
        metavar="N",
        help="analysis-by-synthesis refinement of the codes: N iterations (alone: "
        f"{_REFINE_DEFAULT}); better quality at the same bitrate, about N decoder passes "
        "slower; 0 = off (default)",
    )
    p.add_argument(
        "--refine-stoi-weight",
        type=_non_negative_float,
        default=None,
        metavar="W",
        help="weight of refinement's intelligibility (1 - STOI) term against its spectral "
        "terms (default: cplxcodec.models.refine.REFINE_STOI_WEIGHT, 1.0; 0 = leave it out); "
        "only with --refine",
    )
    p.add_argument(
        "--cbr",
        action="store_true",
        help="constant rate: every frame sends the same stages (the default is variable stage "
        "allocation: each 4-frame block sends 1 to all stages at the same mean rate, stages "
        "moved from quiet frames to busy ones; better quality, same file size)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    a = p.parse_args(argv)
    if a.refine_stoi_weight is not None and not a.refine:
        p.error("--refine-stoi-weight needs --refine")
    from cplxcodec.audio import load_audio
    from cplxcodec.models import ENCODE_BEAM, load_model

    try:
        if a.output.exists() and not a.force:
            return _error(f"{a.output} exists; use --force to overwrite")
        model = load_model(a.model)
        wav, sr = load_audio(a.input)
        data = model.compress(
            wav,
            sr,
            a.kbps,
            chunk_seconds=a.chunk_seconds,
            progress=False if a.quiet else None,
            beam=ENCODE_BEAM if a.beam is None else a.beam,
            refine=a.refine,
            vbr=not a.cbr,
            stoi_weight=a.refine_stoi_weight,
        )
        _write_bytes(a.output, data, a.force)
    except _known_errors() as e:
        return _error(_describe(e))
    if not a.quiet:
        seconds = wav.shape[-1] / sr
        print(
            f"{a.input} → {a.output}: {wav.shape[0]} ch, {seconds:.2f} s, {len(data)} bytes, "
            f"{len(data) * 8 / seconds / 1000:.2f} kbps (nominal {a.kbps:g})"
        )
    return 0


def decode_main(argv: list[str]) -> int:
    """``cplxcodec decode IN OUT``."""
    p = argparse.ArgumentParser(prog="cplxcodec decode", description="Decode .cplx to audio")
    p.add_argument("input", type=Path, help=".cplx file")
    p.add_argument("output", type=Path, help="output audio file (.wav, .flac or .ogg)")
    p.add_argument("--model", default=None, help="model name or file (default: the file's)")
    p.add_argument("--force", action="store_true", help="overwrite OUT")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    a = p.parse_args(argv)
    from cplxcodec.audio import save_audio
    from cplxcodec.bitstream import unpack
    from cplxcodec.models import available_models, load_model

    try:
        if a.output.exists() and not a.force:
            return _error(f"{a.output} exists; use --force to overwrite")
        if not a.input.is_file():
            return _error(f"input file not found: {a.input}")
        data = a.input.read_bytes()
        header, _ = unpack(data)
        if a.model is None and header.model_name not in available_models():
            # Never load a path named inside the file; only registered names.
            return _error(
                f"{a.input} was made by model {header.model_name!r}, which is not a bundled "
                "model name; pass --model with that model's file"
            )
        model = load_model(a.model or header.model_name)
        wav, sr = model.decompress(data, progress=False if a.quiet else None)
        save_audio(a.output, wav.numpy(), sr, overwrite=a.force)
    except _known_errors() as e:
        return _error(_describe(e))
    if not a.quiet:
        print(f"{a.input} → {a.output}: {wav.shape[0]} ch, {wav.shape[-1] / sr:.2f} s at {sr} Hz")
    return 0


def file_info(data: bytes) -> dict:
    """What a ``.cplx`` file holds, from its header (CRCs and lengths checked; no model needed).

    Returns a JSON-serialisable dict: the header fields, ``format_version``, ``bytes``,
    ``seconds`` (original length), ``actual_kbps`` (file size × 8 / duration; ``None`` for an
    empty file), ``code_kbps`` (the fixed-width code rate before entropy coding, for the stages
    the frames send), ``variable_stages`` (the file uses variable stage allocation; ``n_stages``
    is then the most any frame sends), ``mean_stages`` (stages per frame, from the side
    information where variable), ``chunks`` and ``framing_bytes`` (file size minus payload).

    Raises:
        BitstreamError: the bytes are not a valid ``.cplx`` file (the message says why).
    """
    import math
    from dataclasses import asdict

    from cplxcodec.bitstream import chunk_count, payload_chunks, unpack
    from cplxcodec.bitstream.vbr import frame_counts, parse_vbr_name, read_block_counts

    header, payload = unpack(data)
    vbr = parse_vbr_name(header.entropy)
    variable = vbr is not None
    mean_stages = float(header.n_stages)
    if variable and header.frame_count:
        total = 0
        for _, start, stop, chunk in payload_chunks(
            payload, header.channels, header.frame_count, header.chunk_frames
        ):
            per_block, _ = read_block_counts(chunk, header.n_stages, stop - start, vbr[1])
            total += int(frame_counts(per_block, stop - start, vbr[1]).sum())
        mean_stages = total / (header.frame_count * header.channels)
    seconds = header.num_samples / header.sample_rate
    info = asdict(header)
    frames_per_second = header.frame_count / seconds if seconds > 0 else None
    bits_per_frame = mean_stages * math.ceil(math.log2(header.codebook_size))
    info.update(
        bytes=len(data),
        seconds=seconds,
        actual_kbps=len(data) * 8 / seconds / 1000 if seconds > 0 else None,
        code_kbps=(
            bits_per_frame * frames_per_second / 1000 if frames_per_second is not None else None
        ),
        variable_stages=variable,
        mean_stages=mean_stages,
        chunks=header.channels * chunk_count(header.frame_count, header.chunk_frames),
        framing_bytes=len(data) - len(payload),
    )
    return info


def _format_info(path: Path, info: dict) -> str:
    def kbps(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f} kbps"

    coding = "raw fixed-width codes" if info["entropy"] == "none" else info["entropy"]
    lines = [
        f"{path}: .cplx format version {info['format_version']}, {info['bytes']} bytes "
        f"({info['framing_bytes']} of framing)",
        f"  model      {info['model_name']} (checksum {info['model_checksum']})",
        f"  audio      {info['channels']} ch, {info['sample_rate']} Hz, "
        f"{info['num_samples']} samples ({info['seconds']:.3f} s)",
        f"  bitrate    nominal {info['kbps']:g} kbps, actual {kbps(info['actual_kbps'])}, "
        f"codes {kbps(info['code_kbps'])}",
        (
            f"  codes      variable stage allocation: {info['mean_stages']:.2f} stages per frame "
            f"on average, up to {info['n_stages']}, x {info['codebook_size']} entries, "
            if info["variable_stages"]
            else f"  codes      {info['n_stages']} stages x {info['codebook_size']} entries, "
        )
        + f"{info['frame_count']} frames, {info['chunks']} chunk(s), coding: {coding}",
    ]
    if info["extra"]:
        lines.append(f"  extra      {info['extra']}")
    return "\n".join(lines)


def info_main(argv: list[str]) -> int:
    """``cplxcodec info FILE [FILE ...] [--json]``: show and check ``.cplx`` files.

    Every file is checked (magic, version, lengths, CRCs, header fields) without a model; a bad
    file prints its error and the others are still shown. Exit code 1 if any file is bad.
    """
    p = argparse.ArgumentParser(prog="cplxcodec info", description=info_main.__doc__)
    p.add_argument("files", type=Path, nargs="+", help=".cplx files")
    p.add_argument("--json", action="store_true", help="one JSON list of per-file dicts")
    a = p.parse_args(argv)
    import json

    from cplxcodec.bitstream import BitstreamError

    records, failed = [], 0
    for path in a.files:
        try:
            if not path.is_file():
                raise FileNotFoundError(f"file not found: {path}")
            info = file_info(path.read_bytes())
        except (BitstreamError, OSError) as e:
            failed += 1
            _error(f"{path}: {_describe(e)}")
            records.append({"file": str(path), "error": _describe(e)})
            continue
        records.append({"file": str(path), **info})
        if not a.json:
            print(_format_info(path, info))
    if a.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
    return 1 if failed else 0


def demo_sample_path() -> Path:
    """The bundled CMU ARCTIC utterance (16 kHz mono, 4 s; see ``cplxcodec/assets/README.md``)."""
    return Path(str(resources.files("cplxcodec").joinpath("assets", "arctic_a0007.wav")))


def demo_main(argv: list[str]) -> int:
    """``cplxcodec demo``: the bundled sample at 6 and 12 kbps, metrics and a report."""
    p = argparse.ArgumentParser(prog="cplxcodec demo", description=demo_main.__doc__)
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder")
    p.add_argument("--model", default="speech16k", help="model name or file")
    p.add_argument("--input", type=Path, default=None, help="audio file (default: bundled sample)")
    p.add_argument(
        "--refine",
        type=_non_negative_int,
        default=_REFINE_DEFAULT,
        metavar="N",
        help=f"also encode with N refinement iterations (default {_REFINE_DEFAULT}; 0 = skip)",
    )
    p.add_argument(
        "--cbr", action="store_true", help="constant-rate files only (no variable stage allocation)"
    )
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    a = p.parse_args(argv)
    from cplxcodec.demo import run_demo

    try:
        run_demo(
            a.model,
            a.input or demo_sample_path(),
            a.out,
            report=not a.no_report,
            refine=a.refine,
            vbr=not a.cbr,
        )
    except _known_errors() as e:
        return _error(_describe(e))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_HELP)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "encode":
        return encode_main(rest)
    if cmd == "decode":
        return decode_main(rest)
    if cmd == "info":
        return info_main(rest)
    if cmd == "demo":
        return demo_main(rest)
    if cmd == "train":
        from cplxcodec.training.cli import train_main

        return train_main(rest)
    if cmd == "eval":
        from cplxcodec.analysis.commands import eval_main

        return eval_main(rest)
    if cmd == "report":
        from cplxcodec.analysis.commands import report_main

        return report_main(rest)
    print(f"cplxcodec: error: unknown command {cmd!r}\n\n{_HELP}", file=sys.stderr)
    return 2


def entry_point() -> None:
    """Console-script entry point."""
    sys.exit(main())
