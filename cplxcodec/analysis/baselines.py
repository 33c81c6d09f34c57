"""Classical codec baselines through Debian command-line tools.

Each baseline is a :class:`Baseline` with ``roundtrip(wav, sample_rate, kbps) -> (decoded,
actual_kbps)`` (also callable directly), the same protocol as the neural codec
(:class:`cplxcodec.analysis.CodecLike`): ``wav`` is float32 mono ``(T,)``; ``decoded`` is float32
``(T,)`` at ``sample_rate`` (resampled with soxr, cropped or zero-padded to ``T``);
``actual_kbps`` is the size of the compressed *file* (container and headers included) in bits
divided by the duration, so it is comparable with a neural codec's file size. Input samples
are clipped to [-1, 1] and written as 16-bit PCM for the tools.

Fixed command lines (``{kbps}``, ``{bps}``, ``{q}``, ``{mode}`` are filled in):

======== ==================================================================================
opus     ``opusenc --quiet --bitrate {kbps} --cvbr --comp 10 --framesize 20 --padding 0
         --discard-comments in.wav out.opus``;
         ``opusdec --quiet --rate 48000 out.opus out.wav`` (opusdec removes the pre-skip).
         Input at its own rate; bitrate clamped to opusenc's 6-256 kbps.
amrwb    no command line (Debian's ffmpeg has no AMR-WB encoder): libvo-amrwbenc's encoder and
         libopencore-amrwb's decoder through ctypes (:mod:`cplxcodec.analysis.amrwb`), an RFC
         4867 storage-format file, no DTX; input resampled to 16 kHz. Modes 6.6-23.85 kbps:
         the highest at or below the request (the lowest if none).
speex    ``speexenc --wideband --quality {q} in16k.wav out.spx``;
         ``speexdec --force-wb out.spx out.wav``. The highest quality whose nominal wideband
         rate is at or below the request (quality 0 if none); input resampled to 16 kHz.
codec2   ``c2enc {mode} in8k.raw out.bit``; ``c2dec {mode} out.bit out.raw`` (headerless
         16-bit raw at 8 kHz). Modes 0.45-3.2 kbps: the highest at or below the request
         (450 if none), so 6 or 12 kbps requests run at 3.2 kbps.
======== ==================================================================================

Codec delays are removed: the decoded signal is advanced by :func:`estimate_delay` (the lag,
0-50 ms, of its cross-correlation peak with the input; some tools, e.g. speexdec, remove their
own lookahead only in some cases). A baseline whose tool or library is missing
raises :class:`BaselineUnavailable` naming it and its Debian packages (all of them:
``apt-get install opus-tools speex codec2 libvo-amrwbenc0 libopencore-amrwb0``); a tool that
fails raises :class:`BaselineError` with its stderr.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import soundfile as sf

from cplxcodec.analysis._signal import align, as_mono
from cplxcodec.analysis.amrwb import AMRWB_MODES_KBPS, amrwb_missing, decode_awb, encode_awb
from cplxcodec.audio import resample

__all__ = [
    "BASELINES",
    "AmrWbBaseline",
    "Baseline",
    "BaselineError",
    "BaselineUnavailable",
    "Codec2Baseline",
    "OpusBaseline",
    "SpeexBaseline",
    "available_baselines",
    "estimate_delay",
    "get_baseline",
]


class BaselineUnavailable(RuntimeError):
    """The command-line tool a baseline needs is not installed."""


class BaselineError(RuntimeError):
    """A baseline's tool ran but failed."""


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(
        cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip()[-800:]
        raise BaselineError(f"{' '.join(cmd)} failed with exit code {proc.returncode}: {tail}")


def estimate_delay(
    reference: np.ndarray,
    decoded: np.ndarray,
    sample_rate: int,
    *,
    max_ms: float = 50.0,
    min_corr: float = 0.5,
) -> int:
    """Codec delay in samples: the lag in ``[0, max_ms]`` of the cross-correlation peak between
    ``decoded`` and ``reference``, or 0 when the normalised peak is below ``min_corr`` (codecs
    that do not reproduce the waveform, e.g. Codec 2, are left as they are)."""
    al = align(
        np.asarray(reference, np.float64),
        np.asarray(decoded, np.float64),
        int(max_ms * 1e-3 * sample_rate),
    )
    den = float(np.linalg.norm(al.reference) * np.linalg.norm(al.estimate))
    corr = float(np.dot(al.reference, al.estimate)) / den if den > 0 else 0.0
    return al.lag if (al.lag > 0 and corr >= min_corr) else 0


def _highest_at_or_below(options: tuple[float, ...], kbps: float) -> float:
    below = [r for r in options if r <= kbps + 1e-9]
    return max(below) if below else min(options)


class Baseline(ABC):
    """A classical codec run through external tools (see the module docstring)."""

    #: registry name
    name: ClassVar[str] = ""
    #: executables that must be on ``PATH``
    tools: ClassVar[tuple[str, ...]] = ()
    #: the Debian packages that provide what the baseline needs (named when it is missing)
    packages: ClassVar[str] = ""
    #: nominal rates in kbps (empty: continuous within ``kbps_range``)
    modes: ClassVar[tuple[float, ...]] = ()
    #: smallest and largest target for continuous-rate codecs
    kbps_range: ClassVar[tuple[float, float]] = (0.0, float("inf"))

    def missing(self) -> list[str]:
        """Names of the missing tools (and libraries; empty when the baseline can run)."""
        return [t for t in self.tools if shutil.which(t) is None]

    def available(self) -> bool:
        """Whether the baseline can run here."""
        return not self.missing()

    def check(self) -> None:
        """Raise :class:`BaselineUnavailable` naming what is missing."""
        miss = self.missing()
        if miss:
            raise BaselineUnavailable(
                f"baseline {self.name!r} needs {', '.join(miss)} "
                f"(Debian: apt-get install {self.packages or 'the package that provides it'})"
            )

    def select_rate(self, kbps: float) -> float:
        """The nominal rate that a request of ``kbps`` runs at."""
        if kbps <= 0:
            raise ValueError(f"kbps must be positive, got {kbps}")
        if self.modes:
            return _highest_at_or_below(self.modes, kbps)
        lo, hi = self.kbps_range
        return float(min(max(kbps, lo), hi))

    def roundtrip(self, wav: Any, sample_rate: int, kbps: float) -> tuple[np.ndarray, float]:
        """Encode and decode ``wav``; return ``(decoded, actual_kbps)`` (see module docstring).

        The decoded signal is advanced by :func:`estimate_delay` samples to line up with ``wav``.
        """
        self.check()
        x = np.clip(as_mono(wav, "wav"), -1.0, 1.0).astype(np.float32)
        sr = int(sample_rate)
        if sr <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        rate = self.select_rate(float(kbps))
        y, n_bytes = self._codec_pass(x, sr, rate)
        y = y[estimate_delay(x, y, sr) :]
        y = y[: x.size] if y.size >= x.size else np.pad(y, (0, x.size - y.size))
        return y.astype(np.float32), 8.0 * n_bytes / (x.size / sr) / 1000.0

    def _codec_pass(self, x: np.ndarray, sr: int, rate: float) -> tuple[np.ndarray, int]:
        """One encode/decode pass at nominal ``rate``: (decoded at ``sr``, compressed bytes)."""
        with tempfile.TemporaryDirectory(prefix=f"cplxcodec-{self.name}-") as tmp:
            decoded, out_sr, n_bytes = self._roundtrip(Path(tmp), x, sr, rate)
        y = resample(decoded, out_sr, sr) if out_sr != sr else decoded.astype(np.float32)
        return np.asarray(y, dtype=np.float32), int(n_bytes)

    __call__ = roundtrip

    @abstractmethod
    def _roundtrip(
        self, tmp: Path, x: np.ndarray, sr: int, kbps: float
    ) -> tuple[np.ndarray, int, int]:
        """Run the tools in ``tmp``; return ``(decoded (T',), its rate, compressed bytes)``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _write_wav(path: Path, x: np.ndarray, sr: int) -> None:
    sf.write(str(path), x, sr, subtype="PCM_16", format="WAV")


def _pcm16(x: np.ndarray, sr: int, rate: int) -> np.ndarray:
    """``x`` resampled from ``sr`` to ``rate`` as int16 samples (clipped to full scale)."""
    return np.round(np.clip(resample(x, sr, rate), -1.0, 1.0) * 32767.0).astype(np.int16)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return data.mean(axis=1), int(rate)


class OpusBaseline(Baseline):
    """Opus (RFC 6716) through opus-tools, constrained VBR, 20 ms frames."""

    name = "opus"
    tools = ("opusenc", "opusdec")
    packages = "opus-tools"
    kbps_range = (6.0, 256.0)

    def _roundtrip(self, tmp: Path, x: np.ndarray, sr: int, kbps: float) -> tuple:
        src, enc, dst = tmp / "in.wav", tmp / "out.opus", tmp / "out.wav"
        _write_wav(src, x, sr)
        _run(
            [
                "opusenc",
                "--quiet",
                "--bitrate",
                f"{kbps:.3f}",
                "--cvbr",
                "--comp",
                "10",
                "--framesize",
                "20",
                "--padding",
                "0",
                "--discard-comments",
                str(src),
                str(enc),
            ]
        )
        _run(["opusdec", "--quiet", "--rate", "48000", str(enc), str(dst)])
        y, rate = _read_wav(dst)
        return y, rate, enc.stat().st_size


class AmrWbBaseline(Baseline):
    """AMR-WB (ITU-T G.722.2): the VisualOn encoder and OpenCORE decoder through ctypes
    (:mod:`cplxcodec.analysis.amrwb`); ``actual_kbps`` is the size of the ``.awb`` file."""

    name = "amrwb"
    packages = "libvo-amrwbenc0 libopencore-amrwb0"
    modes = AMRWB_MODES_KBPS

    def missing(self) -> list[str]:
        return super().missing() + amrwb_missing()

    def _roundtrip(self, tmp: Path, x: np.ndarray, sr: int, kbps: float) -> tuple:
        data = encode_awb(_pcm16(x, sr, 16000), self.modes.index(kbps))
        return decode_awb(data).astype(np.float32) / 32768.0, 16000, len(data)


class SpeexBaseline(Baseline):
    """Speex wideband (16 kHz) at a fixed quality level, through speexenc/speexdec."""

    name = "speex"
    tools = ("speexenc", "speexdec")
    packages = "speex"
    #: nominal wideband bitrates (kbps) of qualities 0..10 (Speex manual, wideband modes)
    quality_kbps: ClassVar[tuple[float, ...]] = (
        3.95,
        5.75,
        7.75,
        9.8,
        12.8,
        16.8,
        20.6,
        23.8,
        27.8,
        34.2,
        42.2,
    )
    modes = quality_kbps

    def _roundtrip(self, tmp: Path, x: np.ndarray, sr: int, kbps: float) -> tuple:
        src, enc, dst = tmp / "in.wav", tmp / "out.spx", tmp / "out.wav"
        q = self.quality_kbps.index(kbps)
        _write_wav(src, resample(x, sr, 16000), 16000)
        _run(["speexenc", "--wideband", "--quality", str(q), str(src), str(enc)])
        _run(["speexdec", "--force-wb", str(enc), str(dst)])
        y, rate = _read_wav(dst)
        return y, rate, enc.stat().st_size


class Codec2Baseline(Baseline):
    """Codec 2 (low-rate sinusoidal speech codec, 8 kHz) through c2enc/c2dec."""

    name = "codec2"
    tools = ("c2enc", "c2dec")
    packages = "codec2"
    modes = (0.45, 0.7, 1.2, 1.3, 1.4, 1.6, 2.4, 3.2)
    _mode_names: ClassVar[dict[float, str]] = {
        0.45: "450",
        0.7: "700C",
        1.2: "1200",
        1.3: "1300",
        1.4: "1400",
        1.6: "1600",
        2.4: "2400",
        3.2: "3200",
    }

    def _roundtrip(self, tmp: Path, x: np.ndarray, sr: int, kbps: float) -> tuple:
        src, enc, dst = tmp / "in.raw", tmp / "out.bit", tmp / "out.raw"
        mode = self._mode_names[kbps]
        src.write_bytes(_pcm16(x, sr, 8000).astype("<i2").tobytes())
        _run(["c2enc", mode, str(src), str(enc)])
        _run(["c2dec", mode, str(enc), str(dst)])
        y = np.frombuffer(dst.read_bytes(), dtype="<i2").astype(np.float32) / 32768.0
        return y, 8000, enc.stat().st_size


#: name -> baseline class (the registry ``get_baseline`` and the CLI look names up in)
BASELINES: dict[str, type[Baseline]] = {
    cls.name: cls for cls in (OpusBaseline, AmrWbBaseline, SpeexBaseline, Codec2Baseline)
}


def get_baseline(name: str) -> Baseline:
    """Instantiate a registered baseline by name (``opus``, ``amrwb``, ``speex``, ``codec2``)."""
    try:
        return BASELINES[name.strip().lower()]()
    except KeyError:
        raise ValueError(
            f"unknown baseline {name!r}; known: {', '.join(sorted(BASELINES))}"
        ) from None


def available_baselines() -> list[str]:
    """Names of the registered baselines whose tools are installed here."""
    return [name for name, cls in BASELINES.items() if cls().available()]
