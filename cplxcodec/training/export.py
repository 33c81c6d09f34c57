"""Export a training checkpoint to a standalone model file (loadable without Lightning).

The exported file (:func:`cplxcodec.models.save_model`) holds the codec config, the weights and
codebook buffers, integer entropy tables fitted on the codes of up to ``entropy_seconds`` of
training audio (so ``.cplx`` files come out smaller than the nominal bitrate), a checksum and a
model card::

    {"model": name, "data": source, "steps": global step, "epochs": ..., "hardware": ...,
     "world_size": ..., "precision": ..., "trained_until": checkpoint date, "exported": date,
     "checkpoint": file name, "optimizer": ..., "lr": ..., "best": {metric: value},
     "entropy_seconds": seconds of audio behind the tables, "cplxcodec_version": ...}

Entropy audio is read from the folder/CSV given by ``entropy_audio`` or, when that is ``None``,
from the checkpoint's training source if it still exists; files are visited in a fixed shuffled
order (seeded), decoded mono at the model rate and loudness-normalised as in training.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cplxcodec.models import (
    CodecConfig,
    ComplexCodec,
    ModelFileError,
    fit_entropy_model,
    save_model,
)

__all__ = [
    "export_checkpoint",
    "export_main",
    "extend_main",
    "extend_model_file",
    "load_checkpoint_codec",
]

_INFO_KEY = "cplxcodec_train_info"


def _read_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"cannot read checkpoint {path}: {err}") from err


def load_checkpoint_codec(ckpt_path: str | Path) -> tuple[ComplexCodec, dict[str, Any]]:
    """The :class:`ComplexCodec` of a :class:`CodecModule` checkpoint (eval mode) and the raw
    checkpoint dict. The architecture comes from the config stored in the checkpoint."""
    from cplxcodec.training.module import build_codec_config

    ckpt = _read_checkpoint(Path(ckpt_path))
    info = ckpt.get(_INFO_KEY, {})
    if "codec_config" in info:
        config = CodecConfig.from_dict(info["codec_config"])
    else:
        hp = ckpt.get("hyper_parameters", {})
        config = build_codec_config(hp.get("model", "speech16k"), hp.get("model_overrides"))
    state = {k[len("codec.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("codec.")}
    if not state:
        raise ValueError(f"{ckpt_path}: no 'codec.*' weights; is this a CodecModule checkpoint?")
    codec = ComplexCodec(config)
    codec.load_state_dict(state)
    return codec.eval(), ckpt


def _entropy_waves(
    source: str | Path, sample_rate: int, seconds: float, loudness_db: float | None, seed: int
) -> list[np.ndarray]:
    from cplxcodec.audio import AudioError, load_audio
    from cplxcodec.training.data import list_audio_files
    from cplxcodec.training.transforms import normalize_loudness

    entries = list_audio_files(source)
    order = np.random.default_rng(seed).permutation(len(entries))
    waves, total = [], 0.0
    for i in order:
        if total >= seconds:
            break
        try:
            x = load_audio(entries[i].path, sample_rate, mono=True)[0][0]
        except AudioError as err:
            warnings.warn(f"entropy tables: skipping {entries[i].path}: {err}", stacklevel=2)
            continue
        if loudness_db is not None:
            x = normalize_loudness(x, sample_rate, loudness_db)
        x = x[: int(round((seconds - total) * sample_rate))]
        if x.size:
            waves.append(np.ascontiguousarray(x, dtype=np.float32))
            total += x.size / sample_rate
    return waves


def export_checkpoint(
    ckpt_path: str | Path,
    out_path: str | Path,
    *,
    entropy_audio: str | Path | Sequence[np.ndarray] | None = None,
    entropy_seconds: float = 600.0,
    card: dict[str, Any] | None = None,
    force: bool = False,
    seed: int = 0,
) -> Path:
    """Write the codec of ``ckpt_path`` to a standalone model file ``out_path``.

    Args:
        ckpt_path: a :class:`~cplxcodec.training.CodecModule` checkpoint (``last.ckpt``...).
        out_path: the model file to write (see :func:`cplxcodec.models.save_model`).
        entropy_audio: folder or CSV of audio, or a list of mono float arrays at the model
            rate, for the entropy tables; ``None``: the checkpoint's training data if present.
            With no audio the file has no tables (``.cplx`` files are then at nominal rate).
        entropy_seconds: at most this much audio for the tables (``0``: no tables).
        card: entries added to (and overriding) the generated model card.
        force: overwrite an existing ``out_path``.
        seed: order in which files are visited.

    Returns:
        ``out_path``, loadable with :func:`cplxcodec.models.load_model`.
    """
    ckpt_path, out_path = Path(ckpt_path), Path(out_path)
    if out_path.exists() and not force:
        raise FileExistsError(f"{out_path} exists; pass force=True (--force) to overwrite")
    codec, ckpt = load_checkpoint_codec(ckpt_path)
    info = ckpt.get(_INFO_KEY, {})
    hp = ckpt.get("hyper_parameters", {})
    data_hp = ckpt.get("datamodule_hyper_parameters", {})
    sr = codec.sample_rate

    waves: list[np.ndarray] = []
    used_source: str | None = None
    if entropy_seconds > 0:
        if entropy_audio is None and data_hp.get("train") and Path(data_hp["train"]).exists():
            entropy_audio = data_hp["train"]
        if isinstance(entropy_audio, (str, Path)):
            used_source = str(entropy_audio)
            loud = data_hp.get("loudness_db", -23.0)
            waves = _entropy_waves(entropy_audio, sr, entropy_seconds, loud, seed)
        elif entropy_audio is not None:
            used_source = "arrays"
            waves = [np.asarray(w, dtype=np.float32) for w in entropy_audio]
        if waves:
            fit_entropy_model(codec, waves, progress=False)
        else:
            warnings.warn(
                "no audio for entropy tables (pass --data); exporting without them, so .cplx "
                "files will be at the nominal bitrate",
                stacklevel=2,
            )

    best = {}
    for name, state in (ckpt.get("callbacks") or {}).items():
        if name.startswith("ModelCheckpoint") and isinstance(state, dict):
            score, monitor = state.get("best_model_score"), state.get("monitor")
            if monitor and score is not None:
                best[monitor] = float(score)
    full_card: dict[str, Any] = {
        "model": codec.config.name,
        "data": data_hp.get("train"),
        "steps": int(ckpt.get("global_step", 0)),
        "epochs": int(ckpt.get("epoch", 0)),
        "hardware": info.get("hardware"),
        "world_size": info.get("world_size"),
        "precision": info.get("precision"),
        "optimizer": hp.get("optimizer"),
        "lr": hp.get("lr"),
        "batch_size": data_hp.get("batch_size"),
        "segment_seconds": data_hp.get("segment_seconds"),
        "best": best,
        "skipped_steps": info.get("skipped_steps"),
        "trained_until": dt.datetime.fromtimestamp(ckpt_path.stat().st_mtime).isoformat(
            timespec="seconds"
        ),
        "exported": dt.datetime.now().isoformat(timespec="seconds"),
        "checkpoint": ckpt_path.name,
        "entropy_data": used_source,
        "entropy_seconds": round(sum(w.size for w in waves) / sr, 1),
        "cplxcodec_version": _version(),
    }
    full_card.update(card or {})
    return save_model(codec, out_path, card=full_card)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cplxcodec")
    except PackageNotFoundError:
        return "unknown"


def export_main(argv: list[str]) -> int:
    """``cplxcodec train export --ckpt PATH --out FILE [--data SRC] [--entropy-seconds S]``."""
    p = argparse.ArgumentParser(
        prog="cplxcodec train export",
        description="Write a training checkpoint as a standalone model file (config, weights, "
        "entropy tables, checksum, model card) that cplxcodec.models.load_model reads.",
    )
    p.add_argument("--ckpt", required=True, help="CodecModule checkpoint (e.g. .../last.ckpt)")
    p.add_argument("--out", required=True, help="model file to write (e.g. model.pt)")
    p.add_argument(
        "--data",
        default=None,
        help="folder or CSV of audio for the entropy "
        "tables (default: the checkpoint's training data, if it exists)",
    )
    p.add_argument(
        "--entropy-seconds",
        type=float,
        default=600.0,
        help="seconds of audio for the entropy tables (0: none; default 600)",
    )
    p.add_argument("--force", action="store_true", help="overwrite --out")
    args = p.parse_args(argv)
    try:
        path = export_checkpoint(
            args.ckpt,
            args.out,
            entropy_audio=args.data,
            entropy_seconds=args.entropy_seconds,
            force=args.force,
        )
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"cplxcodec train export: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def extend_model_file(
    model: str | Path,
    out_path: str | Path,
    data: str | Path,
    n_new: int,
    *,
    seconds: float = 1200.0,
    entropy_seconds: float = 600.0,
    loudness_db: float = -23.0,
    beam: int | None = None,
    seed: int = 0,
    force: bool = False,
    progress: bool | None = None,
) -> tuple[Path, Any]:
    """Write ``model`` (a registered name or a model file) with ``n_new`` more residual-VQ
    stages (:func:`cplxcodec.models.extend.extend_stages`) to ``out_path``.

    The new codebooks are fitted on ``seconds`` of ``data`` (a folder or CSV of audio): half
    normalised to ``loudness_db`` (as training crops are) and half as recorded (as files
    arrive), files in a ``seed``-shuffled order. Entropy tables are refitted for all stages on
    ``entropy_seconds`` of ``data`` at ``loudness_db`` (``0``: none). The model card records the
    extension. Returns ``(out_path, ExtensionReport)``.
    """
    from cplxcodec.models import ENCODE_BEAM, load_model
    from cplxcodec.models.extend import extend_stages, latent_rows

    out_path = Path(out_path)
    if out_path.exists() and not force:
        raise FileExistsError(f"{out_path} exists; pass force=True (--force) to overwrite")
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    base = load_model(model)
    sr = base.sample_rate
    waves = _entropy_waves(data, sr, seconds / 2, loudness_db, seed)
    waves += _entropy_waves(data, sr, seconds / 2, None, seed + 1)
    if not waves:
        raise ValueError(f"no readable audio in {data}")
    beam = ENCODE_BEAM if beam is None else beam
    rows = latent_rows(base, waves, progress)
    extended, report = extend_stages(base, rows, n_new, beam=beam, seed=seed, progress=progress)
    if entropy_seconds > 0:
        tables = _entropy_waves(data, sr, entropy_seconds, loudness_db, seed)
        fit_entropy_model(extended, tables, progress=progress, beam=beam)
    card = dict(getattr(base, "card", {}) or {})
    card["extension"] = {
        "from_checksum": base.checksum(),
        "stages": [base.n_stages, extended.n_stages],
        "data": str(data),
        "seconds": round(sum(w.size for w in waves) / sr, 1),
        "frames": report.frames,
        "latent_error": [round(e, 4) for e in report.errors],
        "usage": [round(u, 4) for u in report.usage],
        "beam": beam,
        "seed": seed,
        "entropy_seconds": entropy_seconds,
        "exported": dt.datetime.now().isoformat(timespec="seconds"),
        "cplxcodec_version": _version(),
    }
    return save_model(extended, out_path, card=card), report


def extend_main(argv: list[str]) -> int:
    """``cplxcodec train extend --model M --out FILE --data SRC --stages N [...]``."""
    p = argparse.ArgumentParser(
        prog="cplxcodec train extend",
        description="Add residual-VQ stages to a trained model, fitted by k-means on what its "
        "stages leave of the latent; encoder, decoder and existing codebooks are unchanged. "
        "Variable-rate files then send more stages where the audio needs them.",
    )
    p.add_argument("--model", default="speech16k", help="registered name or model file")
    p.add_argument("--out", required=True, help="model file to write")
    p.add_argument("--data", required=True, help="folder or CSV of audio (the training split)")
    p.add_argument("--stages", type=int, default=4, help="stages to add (default 4)")
    p.add_argument(
        "--seconds", type=float, default=1200.0, help="seconds of audio to fit (default 1200)"
    )
    p.add_argument(
        "--entropy-seconds",
        type=float,
        default=600.0,
        help="seconds of audio for the refitted entropy tables (0: none; default 600)",
    )
    p.add_argument("--beam", type=int, default=None, help="search width (default: files')")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="overwrite --out")
    args = p.parse_args(argv)
    try:
        path, report = extend_model_file(
            args.model,
            args.out,
            args.data,
            args.stages,
            seconds=args.seconds,
            entropy_seconds=args.entropy_seconds,
            beam=args.beam,
            seed=args.seed,
            force=args.force,
        )
    except (FileNotFoundError, FileExistsError, ValueError, ModelFileError) as err:
        print(f"cplxcodec train extend: error: {err}", file=sys.stderr)
        return 2
    errors = " -> ".join(f"{e:.3f}" for e in report.errors)
    print(f"latent error per frame on {report.frames} frames: {errors}")
    print(f"codebook usage of the new stages: {', '.join(f'{u:.1%}' for u in report.usage)}")
    print(f"wrote {path}")
    return 0
