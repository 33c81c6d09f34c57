"""Raw fallback coding of RVQ codes: fixed-width bit packing, no tables needed.

Each code is written with ``b = ceil(log2 V)`` bits, most significant bit first, stage by
stage and frame by frame (row-major over ``(K, N)``), the last byte padded with zero bits.
The payload of ``K * N`` codes is exactly ``ceil(K N b / 8)`` bytes, which makes every length
error detectable. When ``V`` is not a power of two a decoded value ``>= V`` (or non-zero
padding) is reported as :class:`PayloadError`; otherwise every payload of the right length
decodes to in-range codes and corruption is left to the container's CRC.
"""

from __future__ import annotations

import numpy as np

from cplxcodec.bitstream.errors import PayloadError
from cplxcodec.bitstream.stages import (
    MAX_CODES,
    check_codes,
    check_decoded_counts,
    check_ragged,
    sent_mask,
)

__all__ = ["RawCodeCoder"]


class RawCodeCoder:
    """Fixed-width packing of codes in ``[0, codebook_size)``; entropy name ``"none"``."""

    name = "none"

    def __init__(self, codebook_size: int) -> None:
        if isinstance(codebook_size, bool) or not isinstance(codebook_size, int):
            raise ValueError(f"codebook_size must be an integer, got {codebook_size!r}")
        if not 2 <= codebook_size <= 1 << 24:
            raise ValueError(f"codebook_size must be in [2, 2**24], got {codebook_size}")
        self.codebook_size = codebook_size
        self.bits_per_code = int(codebook_size - 1).bit_length()

    def payload_size(self, n_stages: int, n_frames: int) -> int:
        """Exact payload length in bytes for ``(n_stages, n_frames)`` codes."""
        return (n_stages * n_frames * self.bits_per_code + 7) // 8

    def bits(self, codes: np.ndarray) -> float:
        """Code length in bits (without padding)."""
        codes = check_codes(codes, self.codebook_size)
        return float(codes.size * self.bits_per_code)

    def encode(self, codes: np.ndarray) -> bytes:
        """Pack ``(K, N)`` codes into bytes."""
        codes = check_codes(codes, self.codebook_size).ravel()
        shifts = np.arange(self.bits_per_code - 1, -1, -1, dtype=np.int64)
        bits = ((codes[:, None] >> shifts[None, :]) & 1).astype(np.uint8)
        return np.packbits(bits.ravel()).tobytes()

    def encode_ragged(self, codes: np.ndarray, counts: np.ndarray) -> bytes:
        """Pack the first ``counts[n]`` stages of every frame ``n`` of ``codes`` ``(K, N)``,
        stage by stage (the frames that send stage ``k`` in time order)."""
        arr, counts = check_ragged(codes, counts)
        return self.encode(arr[sent_mask(arr.shape[0], counts)][None, :])

    def decode_ragged(self, data: bytes, n_stages: int, counts: np.ndarray) -> np.ndarray:
        """Unpack :meth:`encode_ragged` output into ``(n_stages, N)`` codes, ``-1`` after each
        frame's ``counts[n]`` stages; raises :class:`PayloadError` if the length is wrong."""
        counts = check_decoded_counts(counts, n_stages)
        flat = self.decode(data, 1, int(counts.sum()))[0]
        out = np.full((n_stages, counts.shape[0]), -1, dtype=np.int64)
        out[sent_mask(n_stages, counts)] = flat
        return out

    def decode(self, data: bytes, n_stages: int, n_frames: int) -> np.ndarray:
        """Unpack ``(n_stages, n_frames)`` int64 codes; raises :class:`PayloadError` if invalid."""
        for name, value in (("n_stages", n_stages), ("n_frames", n_frames)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        n_stages, n_frames = int(n_stages), int(n_frames)
        if n_stages * n_frames > MAX_CODES:
            raise PayloadError(f"{n_stages} x {n_frames} codes exceed the per-call limit")
        expected = self.payload_size(n_stages, n_frames)
        if len(data) != expected:
            raise PayloadError(
                f"raw payload is {len(data)} bytes, expected {expected} for "
                f"{n_stages} x {n_frames} codes of {self.bits_per_code} bits"
            )
        n_bits = n_stages * n_frames * self.bits_per_code
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
        if np.any(bits[n_bits:]):
            raise PayloadError("raw payload has non-zero padding bits (corrupted)")
        bits = bits[:n_bits].reshape(-1, self.bits_per_code).astype(np.int64)
        shifts = np.arange(self.bits_per_code - 1, -1, -1, dtype=np.int64)
        codes = (bits << shifts[None, :]).sum(axis=1)
        if codes.size and codes.max() >= self.codebook_size:
            raise PayloadError(
                f"raw payload holds a code {int(codes.max())} >= codebook size "
                f"{self.codebook_size} (corrupted)"
            )
        return codes.reshape(n_stages, n_frames)
