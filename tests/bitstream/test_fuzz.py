"""Fuzzing: mutated .cplx files through unpack + payload decode raise only BitstreamError.

Two kinds of damage: raw edits of the whole file (flips, insertions, deletions, truncation,
overwritten length fields), which the CRCs mostly catch, and edits of the header (the binary
header of version 2 or the JSON of version 1) or the payload followed by *recomputed* CRCs,
which reach the header parsers, the field validation and the entropy decoders. Every outcome must be a clean :class:`BitstreamError` or a successful
decode with codes of the stated shape in ``[0, V)``; no other exception, no hang.
"""

from __future__ import annotations

import functools
import struct

import numpy as np
import pytest
from _support import frame_container
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cplxcodec.bitstream import (
    BitstreamError,
    CodeEntropyModel,
    CplxHeader,
    RawCodeCoder,
    decode_payload,
    encode_payload,
    pack,
    unpack,
)

SIZE = 64


@functools.cache
def model() -> CodeEntropyModel:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, SIZE, (3, 600))
    codes[1] = (codes[0] * 5 + rng.integers(0, 3, 600)) % SIZE
    return CodeEntropyModel.fit([codes], SIZE, n_buckets=4)


@functools.cache
def base_files() -> tuple[tuple[bytes, bytes], ...]:
    """(header JSON, payload) pairs of valid files: entropy-coded and raw, 1-2 channels."""
    rng = np.random.default_rng(1)
    out = []
    for coder, channels, chunk in ((model(), 1, 0), (model(), 2, 16), (RawCodeCoder(SIZE), 1, 8)):
        codes = rng.integers(0, SIZE, (channels, 3, 40))
        header = CplxHeader(
            model_name="fuzz", model_checksum=model().checksum()[:16], sample_rate=16000,
            channels=channels, num_samples=12800, kbps=6.0, n_stages=3, codebook_size=SIZE,
            frame_count=40, chunk_frames=chunk, entropy=coder.name,
        )
        out.append((header.to_json_bytes(), encode_payload(coder, codes, chunk)))
    return tuple(out)


def assemble(header_json: bytes, payload: bytes, header_len: int | None = None,
             payload_len: int | None = None) -> bytes:
    """A version-1 file with correct CRCs around possibly lying length fields."""
    return frame_container(header_json, payload, version=1, header_len=header_len,
                           payload_len=payload_len)


def assemble_v2(header_bin: bytes, payload: bytes, header_len: int | None = None,
                payload_len: int | None = None) -> bytes:
    """A version-2 file with correct CRCs around possibly lying length fields."""
    return frame_container(header_bin, payload, header_len=header_len, payload_len=payload_len)


def decode_file(data: bytes) -> None:
    """Everything a decoder does with untrusted bytes; only BitstreamError may escape."""
    try:
        header, payload = unpack(data)
        coder = RawCodeCoder(header.codebook_size) if header.entropy == "none" else model()
        if coder.codebook_size != header.codebook_size:
            return  # the integrating decoder refuses a model mismatch before decoding
        codes = decode_payload(coder, payload, header.channels, header.n_stages,
                               header.frame_count, header.chunk_frames)
    except BitstreamError:
        return
    assert codes.shape == (header.channels, header.n_stages, header.frame_count)
    assert codes.size == 0 or (codes.min() >= 0 and codes.max() < header.codebook_size)


KINDS = ("flip", "set", "insert", "delete", "truncate", "u32")
LIES = (0, 1, 7, 1 << 31, 0xFFFFFFFF)
EDITS = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 1 << 16), st.integers(0, 255),
              st.binary(min_size=1, max_size=8)),
    min_size=1, max_size=4,
)
LENGTH_LIE = st.one_of(st.none(), st.integers(0, 1 << 20), st.integers(0, (1 << 32) - 1))


def mutate(blob: bytes, edits: list[tuple[str, int, int, bytes]]) -> bytes:
    """Apply edits; positions are taken modulo the current length so any file size works."""
    buf = bytearray(blob)
    for kind, where, value, chunk in edits:
        pos = where % len(buf) if buf else 0
        if kind == "flip" and buf:
            buf[pos] ^= 1 << (value % 8)
        elif kind == "set" and buf:
            buf[pos] = value
        elif kind == "insert":
            buf[pos:pos] = chunk
        elif kind == "delete" and buf:
            del buf[pos : pos + 1 + value % 8]
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "u32" and len(buf) >= 4:
            at = min(pos, len(buf) - 4)
            lie = LIES[value % len(LIES)] if value < 200 else len(buf)
            buf[at : at + 4] = struct.pack(">I", lie)
    return bytes(buf)


def run_one(mode: str, edits: list, header_len: int | None, payload_len: int | None) -> None:
    """One mutation recipe applied to every base file (3 damaged files per example)."""
    for header_json, payload in base_files():
        if mode == "file":
            decode_file(mutate(pack(CplxHeader.from_json_bytes(header_json), payload), edits))
        elif mode == "header":
            decode_file(assemble(mutate(header_json, edits), payload))
        elif mode == "header2":
            header_bin = CplxHeader.from_json_bytes(header_json).to_binary_bytes()
            decode_file(assemble_v2(mutate(header_bin, edits), payload))
        elif mode == "lengths2":
            header_bin = CplxHeader.from_json_bytes(header_json).to_binary_bytes()
            decode_file(assemble_v2(header_bin, payload, header_len, payload_len))
        elif mode == "payload":
            decode_file(assemble(header_json, mutate(payload, edits)))
        else:
            decode_file(assemble(header_json, payload, header_len, payload_len))


MODES = st.sampled_from(["file", "header", "header2", "payload", "lengths", "lengths2"])
_COMMON = {"deadline": None, "derandomize": True,
           "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}


@settings(max_examples=1000, **_COMMON)
@given(MODES, EDITS, LENGTH_LIE, LENGTH_LIE)
def test_mutated_files_fail_cleanly(mode, edits, header_len, payload_len) -> None:
    run_one(mode, edits, header_len, payload_len)


@pytest.mark.slow
@settings(max_examples=20_000, **{**_COMMON, "derandomize": False})
@given(MODES, EDITS, LENGTH_LIE, LENGTH_LIE)
def test_mutated_files_fail_cleanly_long(mode, edits, header_len, payload_len) -> None:
    run_one(mode, edits, header_len, payload_len)


def test_header_value_mutations_with_valid_crc() -> None:
    """Semantic lies in an otherwise valid header: huge sizes must not allocate or hang.

    The lies are valid field values, so both layouts' files unpack and reach the payload
    decoders, which must refuse them cleanly (or decode codes of the stated shape).
    """
    for header_json, payload in base_files():
        for field, value in [("frame_count", 1 << 50), ("n_stages", 4096), ("channels", 255),
                             ("chunk_frames", 1), ("frame_count", 0), ("frame_count", 39),
                             ("codebook_size", 1 << 24), ("entropy", "none"),
                             ("entropy", "categorical"), ("n_stages", 2)]:
            header = CplxHeader.from_json_bytes(header_json)
            setattr(header, field, value)
            for data in (assemble(header.to_json_bytes(), payload),
                         assemble_v2(header.to_binary_bytes(), payload)):
                assert getattr(unpack(data)[0], field) == value
                decode_file(data)
