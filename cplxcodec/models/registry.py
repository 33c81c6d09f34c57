"""Name-keyed registry of codec configurations, filled by a decorator.

Configs, the CLI and :func:`~cplxcodec.models.load_model` look names up here; nothing is chosen
by ``globals()`` or dict order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from cplxcodec.models.config import CodecConfig

__all__ = ["register_config", "get_config", "available_configs"]

_CONFIGS: dict[str, Callable[[], CodecConfig]] = {}


def register_config(name: str) -> Callable[[Callable[[], CodecConfig]], Callable[[], CodecConfig]]:
    """Decorator registering a zero-argument function that returns a :class:`CodecConfig`."""

    def wrap(fn: Callable[[], CodecConfig]) -> Callable[[], CodecConfig]:
        if name in _CONFIGS:
            raise ValueError(f"codec config {name!r} is already registered")
        _CONFIGS[name] = fn
        return fn

    return wrap


def get_config(name: str) -> CodecConfig:
    """A fresh copy of the registered configuration ``name``."""
    if name not in _CONFIGS:
        raise KeyError(
            f"unknown codec configuration {name!r}; available: {', '.join(sorted(_CONFIGS))}"
        )
    cfg = _CONFIGS[name]()
    cfg.name = name
    return cfg


def available_configs() -> list[str]:
    """Sorted names of the registered configurations."""
    return sorted(_CONFIGS)


@register_config("speech16k")
def _speech16k() -> CodecConfig:
    """CPU-sized 16 kHz speech codec: 6 and 12 kbps (97.6 frames/s × 6|12 stages × 10 bits).

    The hop is 164 samples, not 160: 97.56 frames/s puts the code rate at 5.85 / 11.71 kbps, 2.4 %
    under the advertised 6 / 12 kbps, so that files (codes + the 142-byte header) stay at or below
    the nominal rate even when the codes are nearly uniform and entropy coding saves little.
    """
    return CodecConfig(
        sample_rate=16000,
        n_fft=512,
        hop_length=164,
        channels=(16, 32),
        dec_channels=(24, 48),
        freq_strides=(8, 4),
        res_blocks=2,
        dilations=(1, 3),
        attn_layers=1,
        attn_heads=4,
        attn_window=32,
        latent_dim=32,
        n_stages=12,
        codebook_size=1024,
    )


@register_config("speech16k-real")
def _speech16k_real() -> CodecConfig:
    """The real-valued twin of ``speech16k`` (same structure, parameter count within 10%)."""
    cfg = _speech16k()
    cfg.kind = "real"
    return cfg


@register_config("speech16k-causal")
def _speech16k_causal() -> CodecConfig:
    """Streaming variant of ``speech16k``: every time operation is causal."""
    cfg = _speech16k()
    cfg.causal = True
    return cfg


@register_config("speech16k-paper")
def _speech16k_paper() -> CodecConfig:
    """GPU-sized 16 kHz model (wider, deeper, full-resolution first level)."""
    return CodecConfig(
        sample_rate=16000,
        n_fft=512,
        hop_length=164,
        channels=(32, 64, 128),
        dec_channels=(48, 96, 192),
        freq_strides=(4, 4, 2),
        res_blocks=3,
        dilations=(1, 3, 9),
        attn_layers=2,
        attn_heads=8,
        attn_window=64,
        latent_dim=64,
        n_stages=12,
        codebook_size=1024,
    )


@register_config("audio24k")
def _audio24k() -> CodecConfig:
    """24 kHz general audio: the speech16k architecture at hop 246 (97.6 frames/s), 6 and 12 kbps."""
    return replace(_speech16k(), sample_rate=24000, n_fft=768, hop_length=246)


@register_config("audio44k")
def _audio44k() -> CodecConfig:
    """44.1 kHz general audio: speech16k's architecture at hop 452 (97.6 frames/s), a 48-dim latent."""
    return replace(_speech16k(), sample_rate=44100, n_fft=1536, hop_length=452, latent_dim=48)
