"""Audio file I/O, validation and resampling (soundfile + soxr; no torchaudio).

Arrays are float32 and channel-first: a waveform is ``(C, T)`` (C channels, T samples), the
per-item layout of the project's ``(B, C, T)`` batches. Sample values are nominally in
``[-1, 1]``.

Rules (each violation raises :class:`AudioError`, a :class:`ValueError`, naming the file or
array and the problem):

* **missing file** -- the path does not exist or is not a regular file;
* **unreadable / corrupt file** -- libsndfile cannot open or decode it (unknown format, random
  bytes, a FLAC stream that loses sync...), or it decodes fewer samples than its header
  announces (truncated); the libsndfile message is kept;
* **empty** -- zero samples or zero channels;
* **non-finite** -- NaN or +/-inf samples: the message gives how many and where the first one is
  (channel, sample index and, when the rate is known, time in seconds);
* **wrong dimensionality** -- arrays must be ``(T,)`` or ``(C, T)``; a 2-D array with more than
  :data:`MAX_CHANNELS` rows is rejected as probably transposed ``(T, C)`` (soundfile's layout);
  complex or non-numeric dtypes are rejected.

Silence (all zeros) is valid audio. Resampling uses soxr (the SoX resampler: a linear-phase
polyphase filter bank, "HQ" preset = 20-bit precision, passband to 91.3 % of Nyquist); it is
deterministic (same input, same output) and its output has ``floor(T * sr_out / sr_in + 1/2)``
samples (computed in integers and enforced).
"""

from __future__ import annotations

import os
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

__all__ = [
    "AUDIO_EXTENSIONS",
    "MAX_CHANNELS",
    "AudioError",
    "check_audio",
    "load_audio",
    "resample",
    "save_audio",
]

#: File name extensions the loader and the data pipeline treat as audio (lower case).
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg")

#: A ``(C, T)`` array with more rows than this is taken to be a transposed ``(T, C)`` array.
MAX_CHANNELS = 64

#: soxr quality preset used everywhere (deterministic, high quality).
_SOXR_QUALITY = "HQ"

_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}


class AudioError(ValueError):
    """An audio file or array breaks one of the rules in :mod:`cplxcodec.audio`."""


def _as_numpy(wav: Any) -> np.ndarray:
    """Accept numpy arrays, array-likes and torch tensors (duck-typed, no torch import)."""
    if hasattr(wav, "detach") and hasattr(wav, "cpu"):
        wav = wav.detach().cpu().numpy()
    return np.asarray(wav)


def check_audio(wav: Any, name: str = "audio", sample_rate: int | None = None) -> None:
    """Validate a waveform against the module rules; return ``None`` or raise :class:`AudioError`.

    Args:
        wav: ``(T,)`` or ``(C, T)`` real array (numpy, array-like or torch tensor).
        name: what to call the array in messages (e.g. the file it came from).
        sample_rate: if given, the position of the first non-finite sample is also given in s.
    """
    x = _as_numpy(wav)
    if x.dtype.kind not in "fiub":
        raise AudioError(f"{name}: samples must be real numbers, got dtype {x.dtype}")
    if x.ndim not in (1, 2):
        raise AudioError(
            f"{name}: expected a (T,) or (C, T) waveform, got {x.ndim} dimensions {x.shape}"
        )
    if x.ndim == 2 and x.shape[0] > MAX_CHANNELS:
        raise AudioError(
            f"{name}: shape {x.shape} has {x.shape[0]} channels (> {MAX_CHANNELS}); "
            "waveforms are channel-first (C, T) -- is this a (T, C) array? transpose it"
        )
    if x.size == 0:
        raise AudioError(f"{name}: empty audio (shape {x.shape}, 0 samples)")
    # Fast path without a full-length temporary: a float64 sum of float32 samples cannot
    # overflow, so it is finite exactly when every sample is.
    if x.dtype.kind == "f" and not np.isfinite(x.sum(dtype=np.float64)):
        bad = ~np.isfinite(x)
        n_bad = int(bad.sum())
        if n_bad:
            x2 = bad.reshape(1, -1) if x.ndim == 1 else bad
            ch, idx = np.unravel_index(int(np.argmax(x2)), x2.shape)
            where = f"channel {ch}, sample {idx}"
            if sample_rate:
                where += f" ({idx / sample_rate:.4f} s)"
            raise AudioError(
                f"{name}: {n_bad} non-finite sample(s) (NaN/inf) out of {x.size}; first at {where}"
            )


def resample(wav: Any, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample along the last axis with soxr (HQ preset, deterministic).

    Args:
        wav: ``(T,)`` or ``(C, T)`` waveform.
        sr_in, sr_out: positive sample rates in Hz.

    Returns:
        float32 array of the input's layout with ``floor(T * sr_out / sr_in + 1/2)`` samples
        (soxr's own rounding, enforced in exact integer arithmetic); a copy of the input when the
        rates are equal.
    """
    if int(sr_in) <= 0 or int(sr_out) <= 0:
        raise AudioError(f"sample rates must be positive integers, got {sr_in} -> {sr_out}")
    x = _as_numpy(wav)
    check_audio(x, "resample input", sr_in)
    x = x.astype(np.float32, copy=True)
    if sr_in == sr_out:
        return x
    n_out = (2 * x.shape[-1] * int(sr_out) + int(sr_in)) // (2 * int(sr_in))
    # soxr wants (T,) or (T, C); it resamples the channels together.
    y = soxr.resample(np.ascontiguousarray(x.T), int(sr_in), int(sr_out), quality=_SOXR_QUALITY)
    y = np.ascontiguousarray(y.T, dtype=np.float32)
    if y.shape[-1] > n_out:
        y = y[..., :n_out]
    elif y.shape[-1] < n_out:
        pad = [(0, 0)] * (y.ndim - 1) + [(0, n_out - y.shape[-1])]
        y = np.pad(y, pad)
    return y


def load_audio(
    path: str | os.PathLike[str], sample_rate: int | None = None, mono: bool = False
) -> tuple[np.ndarray, int]:
    """Read a wav/flac/ogg file (anything libsndfile reads) as float32 ``(C, T)``.

    Args:
        path: the file.
        sample_rate: if given, resample to this rate (soxr, see :func:`resample`).
        mono: average the channels into one (``C == 1``).

    Returns:
        ``(wav, rate)``: ``wav`` float32 ``(C, T)`` (``(1, T)`` when ``mono``), and the rate of
        ``wav`` in Hz (``sample_rate`` when given, else the file's).

    Raises:
        AudioError: missing, unreadable, truncated or empty file, or non-finite samples.
    """
    p = Path(path)
    if not p.exists():
        raise AudioError(f"audio file not found: {p}")
    if not p.is_file():
        raise AudioError(f"not a regular file: {p}")
    try:
        with sf.SoundFile(str(p)) as f:
            expected = f.frames
            rate = int(f.samplerate)
            data = f.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(f"cannot read audio file {p}: {err}") from err
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise AudioError(f"empty audio file (0 samples): {p}")
    if expected > 0 and data.shape[0] < expected:
        raise AudioError(
            f"truncated or corrupt audio file {p}: header announces {expected} samples, "
            f"only {data.shape[0]} could be decoded"
        )
    wav = np.ascontiguousarray(data.T)  # (C, T)
    check_audio(wav, str(p), rate)
    if mono and wav.shape[0] > 1:
        wav = wav.mean(axis=0, keepdims=True, dtype=np.float32)
    if sample_rate is not None and int(sample_rate) != rate:
        wav = resample(wav, rate, int(sample_rate))
        rate = int(sample_rate)
    return wav.astype(np.float32, copy=False), rate


def save_audio(
    path: str | os.PathLike[str],
    wav: Any,
    sample_rate: int,
    subtype: str = "PCM_16",
    *,
    overwrite: bool = False,
    clip: bool = True,
) -> Path:
    """Write a ``(C, T)`` or ``(T,)`` waveform to wav/flac/ogg (format from the extension).

    The file is written to a temporary name in the target folder and renamed into place, so a
    failure never leaves a half-written file under ``path``. Parent folders are created.

    Args:
        path: destination; its extension picks the format (``.wav``, ``.flac``, ``.ogg``).
        wav: waveform, validated with :func:`check_audio`.
        sample_rate: positive rate in Hz.
        subtype: libsndfile subtype (``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``, ``"VORBIS"``...);
            must suit the format (ogg needs ``"VORBIS"``).
        overwrite: replace an existing file; otherwise an existing ``path`` is an error.
        clip: for integer PCM subtypes, samples outside ``[-1, 1]`` are clipped with a warning
            that counts them; with ``clip=False`` they raise :class:`AudioError` instead.

    Returns:
        The written path.
    """
    p = Path(path)
    fmt = _FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise AudioError(f"{p}: unsupported extension {p.suffix!r}; use one of {AUDIO_EXTENSIONS}")
    if int(sample_rate) <= 0:
        raise AudioError(f"{p}: sample_rate must be a positive integer, got {sample_rate}")
    if not sf.check_format(fmt, subtype):
        raise AudioError(
            f"{p}: subtype {subtype!r} is not valid for {fmt} "
            f"(its default is {sf.default_subtype(fmt)!r})"
        )
    if p.exists() and not overwrite:
        raise AudioError(f"{p} already exists; pass overwrite=True to replace it")
    x = _as_numpy(wav)
    check_audio(x, f"waveform for {p}", sample_rate)
    x = x.astype(np.float32, copy=False)
    x = x.reshape(1, -1) if x.ndim == 1 else x
    if subtype.startswith("PCM") or subtype in ("ALAC_16", "ALAC_24"):
        n_out = int((np.abs(x) > 1.0).sum()) if (x.max() > 1.0 or x.min() < -1.0) else 0
        if n_out:
            if not clip:
                raise AudioError(
                    f"{p}: {n_out} sample(s) outside [-1, 1] cannot be stored as {subtype}"
                )
            warnings.warn(
                f"{p}: clipping {n_out} sample(s) outside [-1, 1] for {subtype}", stacklevel=2
            )
            x = np.clip(x, -1.0, 1.0)
    p.parent.mkdir(parents=True, exist_ok=True)
    # A unique sibling name (not mkstemp, whose 0600 mode would survive the rename).
    tmp = str(p.parent / f".{p.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with sf.SoundFile(tmp, "w", int(sample_rate), x.shape[0], subtype=subtype, format=fmt) as f:
            block = 1 << 20  # interleave block by block: no second full-length copy
            for i in range(0, x.shape[1], block):
                f.write(np.ascontiguousarray(x[:, i : i + block].T))
        os.replace(tmp, p)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(f"cannot write {p}: {err}") from err
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return p
