"""AMR-WB (ITU-T G.722.2) files through the system's shared libraries, with ctypes.

Debian's ffmpeg has no AMR-WB encoder, so the AMR-WB baseline calls the libraries directly: the
VisualOn encoder (``libvo-amrwbenc.so.0``, package ``libvo-amrwbenc0``: ``E_IF_init``,
``E_IF_encode``, ``E_IF_exit``) and the OpenCORE decoder (``libopencore-amrwb.so.0``, package
``libopencore-amrwb0``: ``D_IF_init``, ``D_IF_decode``, ``D_IF_exit``). Files are in the RFC 4867
storage format (``.awb``): the magic ``#!AMR-WB\\n``, then per 20 ms frame (320 samples at
16 kHz) one header byte (frame type in bits 3-6, quality bit 2) and the frame's bits.
"""

from __future__ import annotations

import ctypes
from functools import cache

import numpy as np

__all__ = [
    "AMRWB_FRAME",
    "AMRWB_LIBRARIES",
    "AMRWB_MAGIC",
    "AMRWB_MODES_KBPS",
    "amrwb_missing",
    "decode_awb",
    "encode_awb",
]

AMRWB_MAGIC = b"#!AMR-WB\n"
#: samples per frame (20 ms at 16 kHz)
AMRWB_FRAME = 320
#: bitrates of modes 0-8
AMRWB_MODES_KBPS = (6.6, 8.85, 12.65, 14.25, 15.85, 18.25, 19.85, 23.05, 23.85)
#: encoder and decoder sonames
AMRWB_LIBRARIES = ("libvo-amrwbenc.so.0", "libopencore-amrwb.so.0")
#: bytes after the header byte, by frame type: modes 0-8, SID (9), speech lost (14), no data (15)
_PAYLOAD_BYTES = {0: 17, 1: 23, 2: 32, 3: 36, 4: 40, 5: 46, 6: 50, 7: 58, 8: 60, 9: 5, 14: 0, 15: 0}
_MAX_FRAME_BYTES = 64  # the largest frame (61 bytes) with room to spare


@cache
def _library(soname: str) -> ctypes.CDLL | None:
    """``soname`` loaded with its AMR-WB prototypes declared, or ``None`` where it is missing."""
    try:
        lib = ctypes.CDLL(soname)
    except OSError:
        return None
    ptr, integer = ctypes.c_void_p, ctypes.c_int
    if soname == AMRWB_LIBRARIES[0]:
        lib.E_IF_init.restype = ptr
        lib.E_IF_encode.argtypes = [ptr, integer, ptr, ptr, integer]
        lib.E_IF_encode.restype = integer
        lib.E_IF_exit.argtypes = [ptr]
    else:
        lib.D_IF_init.restype = ptr
        lib.D_IF_decode.argtypes = [ptr, ptr, ptr, integer]
        lib.D_IF_exit.argtypes = [ptr]
    return lib


def amrwb_missing() -> list[str]:
    """Sonames of the AMR-WB libraries that do not load here (empty: both available)."""
    return [name for name in AMRWB_LIBRARIES if _library(name) is None]


def _require(soname: str) -> ctypes.CDLL:
    lib = _library(soname)
    if lib is None:
        raise OSError(
            f"{soname} is not installed "
            "(Debian: apt-get install libvo-amrwbenc0 libopencore-amrwb0)"
        )
    return lib


def encode_awb(pcm: np.ndarray, mode: int) -> bytes:
    """Encode int16 mono 16 kHz samples ``(T,)`` with AMR-WB ``mode`` (0-8, see
    :data:`AMRWB_MODES_KBPS`) into storage-format bytes; no DTX, the last frame zero-padded."""
    if not 0 <= mode < len(AMRWB_MODES_KBPS):
        raise ValueError(f"AMR-WB mode must be 0-{len(AMRWB_MODES_KBPS) - 1}, got {mode}")
    pcm = np.asarray(pcm)
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise ValueError(f"pcm must be int16 of shape (T,), got {pcm.dtype} {pcm.shape}")
    lib = _require(AMRWB_LIBRARIES[0])
    n_frames = -(-pcm.size // AMRWB_FRAME)
    padded = np.zeros(n_frames * AMRWB_FRAME, np.int16)
    padded[: pcm.size] = pcm
    out = (ctypes.c_ubyte * _MAX_FRAME_BYTES)()
    chunks = [AMRWB_MAGIC]
    state = lib.E_IF_init()
    if not state:
        raise RuntimeError("E_IF_init (libvo-amrwbenc) returned NULL")
    try:
        for i in range(n_frames):
            frame = padded[i * AMRWB_FRAME : (i + 1) * AMRWB_FRAME]
            n = lib.E_IF_encode(state, mode, frame.ctypes.data, out, 0)
            if not 0 < n <= _MAX_FRAME_BYTES:
                raise RuntimeError(f"E_IF_encode returned {n} bytes for frame {i}")
            chunks.append(bytes(out[:n]))
    finally:
        lib.E_IF_exit(state)
    return b"".join(chunks)


def decode_awb(data: bytes | bytearray | memoryview) -> np.ndarray:
    """Decode storage-format AMR-WB bytes into int16 mono 16 kHz samples (320 per frame; SID
    and no-data frames give comfort noise or silence, as the decoder makes them).

    Raises ``ValueError`` for a missing magic, and naming the byte offset for an invalid frame
    type or a truncated last frame.
    """
    data = bytes(data)
    if not data.startswith(AMRWB_MAGIC):
        raise ValueError("not an AMR-WB storage-format file (no '#!AMR-WB' magic)")
    lib = _require(AMRWB_LIBRARIES[1])
    frames: list[np.ndarray] = []
    pos = len(AMRWB_MAGIC)
    state = lib.D_IF_init()
    if not state:
        raise RuntimeError("D_IF_init (libopencore-amrwb) returned NULL")
    try:
        while pos < len(data):
            frame_type = (data[pos] >> 3) & 0x0F
            if frame_type not in _PAYLOAD_BYTES:
                raise ValueError(f"invalid AMR-WB frame type {frame_type} at byte {pos}")
            end = pos + 1 + _PAYLOAD_BYTES[frame_type]
            if end > len(data):
                raise ValueError(f"AMR-WB data truncated in the frame at byte {pos}")
            bits = ctypes.create_string_buffer(data[pos:end], _MAX_FRAME_BYTES)
            synth = np.zeros(AMRWB_FRAME, np.int16)
            lib.D_IF_decode(state, bits, synth.ctypes.data, 0)
            frames.append(synth)
            pos = end
    finally:
        lib.D_IF_exit(state)
    return np.concatenate(frames) if frames else np.zeros(0, np.int16)
