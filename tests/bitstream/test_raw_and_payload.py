"""Raw fixed-width fallback and the chunked multi-channel payload layout."""

from __future__ import annotations

import numpy as np
import pytest

from cplxcodec.bitstream import (
    CodeEntropyModel,
    PayloadError,
    RawCodeCoder,
    chunk_bounds,
    chunk_count,
    decode_payload,
    encode_payload,
)


@pytest.mark.parametrize("size", [2, 3, 256, 1000, 1024, 2048])
def test_raw_round_trip_and_exact_size(size: int) -> None:
    rng = np.random.default_rng(size)
    codes = rng.integers(0, size, (5, 37))
    coder = RawCodeCoder(size)
    data = coder.encode(codes)
    bits = int(size - 1).bit_length()
    assert len(data) == (codes.size * bits + 7) // 8
    np.testing.assert_array_equal(coder.decode(data, 5, 37), codes)
    assert coder.bits(codes) == codes.size * bits


def test_raw_packing_is_msb_first() -> None:
    assert RawCodeCoder(16).encode(np.array([[1, 2, 15]])) == bytes([0x12, 0xF0])


def test_raw_rejects_wrong_length_padding_and_out_of_range() -> None:
    coder = RawCodeCoder(1000)  # 10 bits per code
    data = coder.encode(np.array([[999, 5]]))
    with pytest.raises(PayloadError, match="expected 3"):
        coder.decode(data + b"\x00", 1, 2)
    with pytest.raises(PayloadError, match="padding"):
        coder.decode(data[:-1] + bytes([data[-1] | 0x01]), 1, 2)
    with pytest.raises(PayloadError, match="codebook size"):
        coder.decode(b"\xff\xff\xf0", 1, 2)
    with pytest.raises(PayloadError, match="limit"):
        coder.decode(b"", 1 << 20, 1 << 20)


def test_chunk_bounds() -> None:
    assert chunk_bounds(10, 0) == [(0, 10)]
    assert chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert chunk_bounds(0, 4) == [(0, 0)]
    assert [chunk_count(n, 4) for n in (0, 4, 5, 8, 9)] == [1, 1, 2, 2, 3]


@pytest.mark.parametrize("chunk_frames", [0, 1, 7, 100])
def test_payload_round_trip_channels_and_chunks(chunk_frames: int) -> None:
    rng = np.random.default_rng(0)
    train = [rng.integers(0, 64, (3, 300))]
    codes = rng.integers(0, 64, (2, 3, 45))
    for coder in (RawCodeCoder(64), CodeEntropyModel.fit(train, 64)):
        data = encode_payload(coder, codes, chunk_frames)
        out = decode_payload(coder, data, 2, 3, 45, chunk_frames)
        np.testing.assert_array_equal(out, codes)


def test_chunks_decode_independently() -> None:
    rng = np.random.default_rng(0)
    model = CodeEntropyModel.fit([rng.integers(0, 64, (2, 300))], 64)
    codes = rng.integers(0, 64, (1, 2, 20))
    data = encode_payload(model, codes, chunk_frames=8)
    # Second chunk: skip the first length-prefixed chunk and decode on its own.
    first = int.from_bytes(data[:4], "big")
    start = 4 + first
    second = int.from_bytes(data[start : start + 4], "big")
    chunk = model.decode(data[start + 4 : start + 4 + second], 2, 8)
    np.testing.assert_array_equal(chunk, codes[0, :, 8:16])


def test_payload_structure_errors() -> None:
    coder = RawCodeCoder(16)
    data = encode_payload(coder, np.zeros((1, 2, 10), dtype=np.int64), chunk_frames=5)
    with pytest.raises(PayloadError, match="cannot hold"):
        decode_payload(coder, data, 1, 2, 10**9, chunk_frames=1)
    with pytest.raises(PayloadError, match="unexpected"):
        decode_payload(coder, data + b"\x00", 1, 2, 10, chunk_frames=5)
    with pytest.raises(PayloadError, match="only"):
        decode_payload(coder, data[:-1], 1, 2, 10, chunk_frames=5)
    with pytest.raises(PayloadError):
        decode_payload(coder, b"\xff" * len(data), 1, 2, 10, chunk_frames=5)
