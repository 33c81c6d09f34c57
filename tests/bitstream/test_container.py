"""The .cplx container: round trip, field validation, and clean errors on damaged files."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib

import pytest

from cplxcodec.bitstream import (
    FORMAT_VERSION,
    MAGIC,
    BadMagicError,
    BitstreamError,
    ChecksumError,
    CplxHeader,
    HeaderError,
    TrailingDataError,
    TruncatedError,
    UnsupportedVersionError,
    pack,
    unpack,
)


def make_header(**changes: object) -> CplxHeader:
    fields = {
        "model_name": "speech-16k",
        "model_checksum": hashlib.sha256(b"model").hexdigest()[:16],
        "sample_rate": 16000,
        "channels": 1,
        "num_samples": 16000,
        "kbps": 6.0,
        "n_stages": 8,
        "codebook_size": 1024,
        "frame_count": 50,
        "chunk_frames": 0,
        "entropy": "categorical",
        "extra": {"note": "é", "tags": [1, 2]},
    }
    fields.update(changes)
    return CplxHeader(**fields)


def rebuild(header_json: bytes, payload: bytes = b"xyz", version: int = FORMAT_VERSION) -> bytes:
    """A file with arbitrary header bytes but correct lengths and CRCs."""
    head = struct.pack(">4sBI", MAGIC, version, len(header_json)) + header_json
    body = struct.pack(">Q", len(payload)) + payload
    return head + struct.pack(">I", zlib.crc32(head)) + body + struct.pack(">I", zlib.crc32(body))


def test_round_trip_preserves_header_and_payload() -> None:
    header = make_header()
    payload = bytes(range(256)) * 3
    data = pack(header, payload)
    assert data[:4] == MAGIC and data[4] == FORMAT_VERSION
    got_header, got_payload = unpack(data)
    assert got_header == header
    assert got_payload == payload
    assert pack(got_header, got_payload) == data


def test_empty_payload_and_int_kbps() -> None:
    header, payload = unpack(pack(make_header(kbps=12), b""))
    assert payload == b"" and header.kbps == 12.0 and isinstance(header.kbps, float)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sample_rate", 0, "sample_rate"),
        ("sample_rate", 16000.0, "integer"),
        ("channels", 0, "channels"),
        ("num_samples", -1, "num_samples"),
        ("kbps", float("nan"), "kbps"),
        ("kbps", -6.0, "kbps"),
        ("kbps", True, "number"),
        ("n_stages", 0, "n_stages"),
        ("codebook_size", 1, "codebook_size"),
        ("frame_count", True, "integer"),
        ("chunk_frames", -5, "chunk_frames"),
        ("model_checksum", "ABC", "SHA-256"),
        ("model_name", "", "model_name"),
        ("entropy", "Fancy Coder", "entropy"),
        ("extra", {"a": object()}, "extra"),
    ],
)
def test_invalid_fields_raise_header_error_naming_the_field(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(HeaderError, match=message):
        header = make_header(**{field: value})  # construction validates the typed fields
        pack(header, b"")  # values inside 'extra' are checked when serialised


def test_pack_revalidates_fields_changed_after_construction() -> None:
    header = make_header()
    header.channels = 0
    with pytest.raises(HeaderError, match="channels"):
        pack(header, b"")


def test_every_strict_prefix_is_a_truncation_error() -> None:
    data = pack(make_header(), b"payload bytes")
    for cut in range(len(data)):
        with pytest.raises(TruncatedError):
            unpack(data[:cut])


def test_wrong_magic() -> None:
    data = pack(make_header(), b"p")
    with pytest.raises(BadMagicError, match="not a .cplx file"):
        unpack(b"RIFF" + data[4:])
    with pytest.raises(BadMagicError):
        unpack(b"\x00")


def test_newer_version_says_so() -> None:
    data = bytearray(pack(make_header(), b"p"))
    data[4] = FORMAT_VERSION + 1
    with pytest.raises(UnsupportedVersionError, match="newer"):
        unpack(bytes(data))
    data[4] = 0
    with pytest.raises(UnsupportedVersionError):
        unpack(bytes(data))


def test_every_flipped_bit_gives_a_clean_error() -> None:
    data = pack(make_header(extra={}), b"\x00\x01\x02payload")
    kinds = set()
    for i in range(len(data)):
        for bit in range(8):
            bad = bytearray(data)
            bad[i] ^= 1 << bit
            with pytest.raises(BitstreamError) as info:
                unpack(bytes(bad))
            kinds.add(type(info.value))
    assert ChecksumError in kinds and BadMagicError in kinds and TruncatedError in kinds


def test_checksums_cover_header_and_payload() -> None:
    data = bytearray(pack(make_header(), b"abcdef"))
    header_bad = bytearray(data)
    header_bad[20] ^= 0x01
    with pytest.raises(ChecksumError, match="header"):
        unpack(bytes(header_bad))
    data[-6] ^= 0x01
    with pytest.raises(ChecksumError, match="payload"):
        unpack(bytes(data))


def test_trailing_bytes_are_rejected() -> None:
    with pytest.raises(TrailingDataError, match="unexpected"):
        unpack(pack(make_header(), b"p") + b"\x00")


def test_lying_header_length_is_refused_before_reading() -> None:
    data = bytearray(pack(make_header(), b"p"))
    data[5:9] = struct.pack(">I", 0xFFFFFFFF)
    with pytest.raises(HeaderError, match="limit"):
        unpack(bytes(data))
    data[5:9] = struct.pack(">I", 10_000)
    with pytest.raises(TruncatedError):
        unpack(bytes(data))


def test_lying_payload_length_is_a_truncation() -> None:
    header_bytes = make_header().to_json_bytes()
    data = bytearray(rebuild(header_bytes, b"abc"))
    offset = 9 + len(header_bytes) + 4
    data[offset : offset + 8] = struct.pack(">Q", 1 << 62)
    with pytest.raises(TruncatedError, match="payload length"):
        unpack(bytes(data))


@pytest.mark.parametrize(
    ("header_json", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "UTF-8"),
        (b"[1, 2]", "JSON object"),
        (b"[" * 50_000 + b"]" * 50_000, "not valid JSON"),
        (b'{"kbps": NaN}', "not valid JSON"),
    ],
)
def test_malformed_json_with_valid_crc_is_a_header_error(header_json: bytes, message: str) -> None:
    with pytest.raises(HeaderError, match=message):
        unpack(rebuild(header_json))


def test_missing_unknown_and_mistyped_fields_with_valid_crc() -> None:
    good = json.loads(make_header().to_json_bytes())  # short keys, see the container docstring

    def encoded(obj: dict) -> bytes:
        return json.dumps(obj).encode()

    missing = {k: v for k, v in good.items() if k != "r"}
    with pytest.raises(HeaderError, match="missing.*sample_rate"):
        unpack(rebuild(encoded(missing)))
    with pytest.raises(HeaderError, match="unknown.*bogus"):
        unpack(rebuild(encoded({**good, "bogus": 1})))
    with pytest.raises(HeaderError, match="channels"):
        unpack(rebuild(encoded({**good, "c": "2"})))
    with pytest.raises(HeaderError, match="unknown.*format_version"):  # the version byte rules
        unpack(rebuild(encoded({**good, "format_version": 2}), version=1))
