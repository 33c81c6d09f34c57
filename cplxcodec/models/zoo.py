"""The model zoo: bundled pretrained weights and :func:`load_model`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from cplxcodec.models.registry import available_configs, get_config
from cplxcodec.models.serialization import ModelFileError, load_model_file

__all__ = ["load_model", "available_models", "pretrained_path"]


def pretrained_path(name: str) -> Path | None:
    """Path of the bundled weights of ``name`` inside the package, or None."""
    p = resources.files("cplxcodec").joinpath("zoo", f"{name}.pt")
    return Path(str(p)) if p.is_file() else None


def available_models(pretrained_only: bool = False) -> list[str]:
    """Registered model names (with ``pretrained_only``, those with bundled weights)."""
    names = available_configs()
    return [n for n in names if pretrained_path(n)] if pretrained_only else names


def load_model(name_or_path: str | Path = "speech16k", pretrained: bool = True):
    """Load a codec by registered name (bundled weights) or from a model file path.

    ``pretrained=False`` builds an untrained model of a registered configuration. Raises
    :class:`ModelFileError` for missing/corrupt files or a name without bundled weights, and
    ``KeyError`` for an unknown name.
    """
    from cplxcodec.models.codec import ComplexCodec

    s = str(name_or_path)
    p = Path(s)
    if p.suffix or p.exists() or "/" in s:
        if not p.is_file():
            raise ModelFileError(f"model file not found: {p}")
        return load_model_file(p)
    if not pretrained:
        return ComplexCodec(get_config(s)).eval()
    weights = pretrained_path(s)
    if weights is None:
        get_config(s)  # raises KeyError for unknown names
        have = ", ".join(available_models(pretrained_only=True)) or "none"
        raise ModelFileError(
            f"no bundled weights for model {s!r} (bundled: {have}); use "
            f"load_model({s!r}, pretrained=False) for an untrained model, or pass a model file"
        )
    return load_model_file(weights)
