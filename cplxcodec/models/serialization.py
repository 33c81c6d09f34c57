"""Standalone model files: config + weights + entropy tables + checksum, loadable without Lightning.

Format (``torch.save`` of plain containers, read back with ``weights_only=True`` so no arbitrary
code can run on load)::

    {"format": "cplxcodec-model", "version": 1, "config": {...}, "state_dict": {...},
     "entropy": {...} | None, "card": {...}, "checksum": "<sha256 hex>"}

The checksum covers the config, every tensor of the state dict (name, dtype, shape, bytes) and
the entropy tables; it is verified on load and written into every ``.cplx`` file so a file is
never decoded with weights other than the ones that encoded it. The architecture always comes
from the stored config, never from tensor shapes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from cplxcodec.models.config import CodecConfig

__all__ = ["ModelFileError", "model_checksum", "save_model", "load_model_file"]

FORMAT = "cplxcodec-model"
VERSION = 1


class ModelFileError(ValueError):
    """A model file is missing, unreadable, of an unknown format, or fails its checksum."""


def _digest(config: dict, state: dict[str, torch.Tensor], entropy: dict | None) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(config, sort_keys=True).encode())
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    h.update(json.dumps(entropy, sort_keys=True).encode() if entropy is not None else b"none")
    return h.hexdigest()


def model_checksum(model) -> str:
    """SHA-256 of a :class:`ComplexCodec`'s config, state dict and entropy tables (hex)."""
    entropy = model.entropy_model.to_dict() if model.entropy_model is not None else None
    return _digest(model.config.to_dict(), model.state_dict(), entropy)


def save_model(model, path: str | Path, card: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to a standalone file (see module docstring); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    entropy = model.entropy_model.to_dict() if model.entropy_model is not None else None
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    config = model.config.to_dict()
    blob = {
        "format": FORMAT,
        "version": VERSION,
        "config": config,
        "state_dict": state,
        "entropy": entropy,
        "card": card or {},
        "checksum": _digest(config, state, entropy),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)
    return path


def load_model_file(path: str | Path):
    """Load a file written by :func:`save_model`; verifies format and checksum."""
    from cplxcodec.bitstream import CodeEntropyModel
    from cplxcodec.models.codec import ComplexCodec

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelFileError(f"cannot read model file {path}: {e}") from e
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a cplxcodec model file")
    if blob.get("version", 0) > VERSION:
        raise ModelFileError(
            f"{path} has model-file version {blob.get('version')}; this cplxcodec reads up to "
            f"{VERSION}: upgrade cplxcodec"
        )
    try:
        config = CodecConfig.from_dict(blob["config"])
        state, entropy = blob["state_dict"], blob.get("entropy")
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path} has an invalid config: {e}") from e
    if _digest(blob["config"], state, entropy) != blob.get("checksum"):
        raise ModelFileError(f"{path} fails its checksum: the file is corrupt or was modified")
    model = ComplexCodec(config)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ModelFileError(f"{path}: weights do not match its config: {e}") from e
    if entropy is not None:
        model.entropy_model = CodeEntropyModel.from_dict(entropy)
    model.card = blob.get("card", {})
    return model.eval()
