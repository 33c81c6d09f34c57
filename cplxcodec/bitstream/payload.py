"""Payload layout: codes of every channel, cut into independently coded chunks of frames.

Codes of a file are ``(C, K, N)`` (channels, stages, frames). With ``chunk_frames = L > 0``
the frames are cut into ``ceil(N / L)`` chunks (the last may be shorter); ``L = 0`` means one
chunk of all ``N`` frames. The payload is, for channel 0..C-1 and within it chunk 0.., the
chunk's coded length as a big-endian u32 followed by the bytes from ``coder.encode``. A chunk
can be decoded without the others, which bounds decoder memory and allows seeking.

The decoder checks each length against the bytes actually left before reading, and the
chunk count against the payload size before allocating, so a corrupt header or length field
raises :class:`PayloadError` instead of allocating or looping on made-up sizes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from cplxcodec.bitstream.errors import PayloadError

__all__ = [
    "CodeCoder",
    "chunk_bounds",
    "chunk_count",
    "decode_payload",
    "encode_payload",
    "payload_chunks",
]

_LEN = struct.Struct(">I")


class CodeCoder(Protocol):
    """What :func:`encode_payload` needs: ``RawCodeCoder`` or ``CodeEntropyModel``."""

    name: str
    codebook_size: int

    def encode(self, codes: np.ndarray) -> bytes: ...

    def decode(self, data: bytes, n_stages: int, n_frames: int) -> np.ndarray: ...


def chunk_count(n_frames: int, chunk_frames: int) -> int:
    """Number of chunks: ``ceil(N / L)``, and 1 when ``L == 0`` or ``N <= L``."""
    if n_frames < 0 or chunk_frames < 0:
        raise ValueError(f"n_frames and chunk_frames must be >= 0, got {n_frames}, {chunk_frames}")
    if chunk_frames == 0 or n_frames <= chunk_frames:
        return 1
    return -(-n_frames // chunk_frames)


def chunk_bounds(n_frames: int, chunk_frames: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` frame ranges of the chunks (one empty chunk if ``N == 0``).

    Builds a list of :func:`chunk_count` entries: check that count first on untrusted sizes.
    """
    if chunk_count(n_frames, chunk_frames) == 1:
        return [(0, n_frames)]
    return [(s, min(s + chunk_frames, n_frames)) for s in range(0, n_frames, chunk_frames)]


def encode_payload(coder: CodeCoder, codes: np.ndarray, chunk_frames: int = 0) -> bytes:
    """Code ``(C, K, N)`` integer codes into a payload (see the module docstring)."""
    codes = np.asarray(codes)
    if codes.ndim != 3:
        raise ValueError(f"codes must have shape (C, K, N), got shape {codes.shape}")
    parts = []
    for channel in codes:
        for start, stop in chunk_bounds(codes.shape[2], chunk_frames):
            blob = coder.encode(channel[:, start:stop])
            parts.append(_LEN.pack(len(blob)))
            parts.append(blob)
    return b"".join(parts)


def payload_chunks(
    data: bytes, n_channels: int, n_frames: int, chunk_frames: int = 0
) -> Iterator[tuple[int, int, int, bytes]]:
    """``(channel, start, stop, chunk bytes)`` of every chunk of a payload, in order, with the
    lengths checked against the bytes present (what :func:`decode_payload` walks).

    Raises:
        PayloadError: the payload is too short or too long for the stated sizes.
    """
    per_channel = chunk_count(n_frames, chunk_frames)
    if n_channels < 1 or n_channels * per_channel * _LEN.size > len(data):
        raise PayloadError(
            f"a payload of {len(data)} bytes cannot hold {n_channels} channel(s) x "
            f"{per_channel} chunk(s) (each needs at least a {_LEN.size}-byte length)"
        )
    bounds = chunk_bounds(n_frames, chunk_frames)
    pos = 0
    for channel in range(n_channels):
        for start, stop in bounds:
            if pos + _LEN.size > len(data):
                raise PayloadError("payload is truncated: a chunk length field is missing")
            (size,) = _LEN.unpack_from(data, pos)
            pos += _LEN.size
            if size > len(data) - pos:
                raise PayloadError(
                    f"chunk length field says {size} bytes, only {len(data) - pos} left"
                )
            yield channel, start, stop, data[pos : pos + size]
            pos += size
    if pos != len(data):
        raise PayloadError(f"{len(data) - pos} unexpected byte(s) after the last chunk")


def decode_payload(
    coder: CodeCoder,
    data: bytes,
    n_channels: int,
    n_stages: int,
    n_frames: int,
    chunk_frames: int = 0,
) -> np.ndarray:
    """Decode a payload into ``(n_channels, n_stages, n_frames)`` int64 codes.

    Raises:
        PayloadError: the payload is too short or too long for the stated sizes, or a chunk
            does not decode.
    """
    channels: list[list[np.ndarray]] = [[] for _ in range(max(n_channels, 0))]
    for channel, start, stop, chunk in payload_chunks(data, n_channels, n_frames, chunk_frames):
        channels[channel].append(coder.decode(chunk, n_stages, stop - start))
    return np.stack([np.concatenate(pieces, axis=1) for pieces in channels])
