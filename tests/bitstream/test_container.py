"""The .cplx container: round trip, field validation, and clean errors on damaged files.

Every damage test runs on both layouts: version 2 (binary header, written by default) and
version 1 (JSON header, still read).
"""

from __future__ import annotations

import hashlib
import json
import struct

import pytest
from _support import frame_container, varint

from cplxcodec.bitstream import (
    FORMAT_VERSION,
    MAGIC,
    READ_VERSIONS,
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


def rebuild(header_json: bytes, payload: bytes = b"xyz") -> bytes:
    """A version-1 file with arbitrary header bytes but correct lengths and CRCs."""
    return frame_container(header_json, payload, version=1)


def test_round_trip_preserves_header_and_payload() -> None:
    header = make_header()
    payload = bytes(range(256)) * 3
    data = pack(header, payload)
    assert data[:4] == MAGIC and data[4] == FORMAT_VERSION
    got_header, got_payload = unpack(data)
    assert got_header == header
    assert got_payload == payload
    assert pack(got_header, got_payload) == data


def test_version_1_files_still_round_trip() -> None:
    header = make_header(format_version=1)
    data = pack(header, b"old file")
    assert data[4] == 1 and data[5:9] == struct.pack(">I", len(header.to_json_bytes()))
    got_header, payload = unpack(data)
    assert got_header == header and got_header.format_version == 1 and payload == b"old file"
    assert pack(got_header, payload) == data


def test_version_2_framing_is_under_half_of_version_1() -> None:
    """The reason for version 2: a typical codec file's framing, 149 -> 67 bytes."""
    header = make_header(model_name="speech16k", entropy="conditional", extra={})
    header.num_samples, header.frame_count, header.chunk_frames = 73_600, 450, 2926
    v2 = len(pack(header, b""))
    v1 = len(pack(CplxHeader(**{**header.__dict__, "format_version": 1}), b""))
    assert v2 <= 70 and v1 >= 2 * v2, (v1, v2)


def test_pack_refuses_versions_it_does_not_write() -> None:
    with pytest.raises(HeaderError, match="writes format versions"):
        pack(make_header(format_version=FORMAT_VERSION + 1), b"")


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


@pytest.mark.parametrize("version", READ_VERSIONS)
def test_every_strict_prefix_is_a_truncation_error(version: int) -> None:
    data = pack(make_header(format_version=version), b"payload bytes")
    for cut in range(len(data)):
        with pytest.raises(TruncatedError):
            unpack(data[:cut])


@pytest.mark.parametrize("version", READ_VERSIONS)
def test_wrong_magic(version: int) -> None:
    data = pack(make_header(format_version=version), b"p")
    with pytest.raises(BadMagicError, match="not a .cplx file"):
        unpack(b"RIFF" + data[4:])
    with pytest.raises(BadMagicError):
        unpack(b"\x00")


@pytest.mark.parametrize("version", READ_VERSIONS)
def test_newer_version_says_so(version: int) -> None:
    data = bytearray(pack(make_header(format_version=version), b"p"))
    data[4] = FORMAT_VERSION + 1
    with pytest.raises(UnsupportedVersionError, match="newer"):
        unpack(bytes(data))
    data[4] = 0
    with pytest.raises(UnsupportedVersionError):
        unpack(bytes(data))


@pytest.mark.parametrize("version", READ_VERSIONS)
def test_every_flipped_bit_gives_a_clean_error(version: int) -> None:
    data = pack(make_header(extra={}, format_version=version), b"\x00\x01\x02payload")
    kinds = set()
    for i in range(len(data)):
        for bit in range(8):
            bad = bytearray(data)
            bad[i] ^= 1 << bit
            with pytest.raises(BitstreamError) as info:
                unpack(bytes(bad))
            kinds.add(type(info.value))
    assert ChecksumError in kinds and BadMagicError in kinds and TruncatedError in kinds


@pytest.mark.parametrize("version", READ_VERSIONS)
def test_checksums_cover_header_and_payload(version: int) -> None:
    data = bytearray(pack(make_header(format_version=version), b"abcdef"))
    header_bad = bytearray(data)
    header_bad[20] ^= 0x01
    with pytest.raises(ChecksumError, match="header"):
        unpack(bytes(header_bad))
    data[-6] ^= 0x01
    with pytest.raises(ChecksumError, match="payload"):
        unpack(bytes(data))


@pytest.mark.parametrize("version", READ_VERSIONS)
def test_trailing_bytes_are_rejected(version: int) -> None:
    with pytest.raises(TrailingDataError, match="unexpected"):
        unpack(pack(make_header(format_version=version), b"p") + b"\x00")


def test_lying_header_length_is_refused_before_reading_v1() -> None:
    data = bytearray(pack(make_header(format_version=1), b"p"))
    data[5:9] = struct.pack(">I", 0xFFFFFFFF)
    with pytest.raises(HeaderError, match="limit"):
        unpack(bytes(data))
    data[5:9] = struct.pack(">I", 10_000)
    with pytest.raises(TruncatedError):
        unpack(bytes(data))


def test_lying_payload_length_is_a_truncation_v1() -> None:
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
        unpack(rebuild(encoded({**good, "format_version": 2})))


# ----------------------------------------------------------------------- version 2 in detail


def rebuild_v2(
    header: bytes,
    payload: bytes = b"xyz",
    header_len: bytes | None = None,
    payload_len: bytes | None = None,
) -> bytes:
    """A version-2 file around arbitrary header bytes (and raw length fields), correct CRCs."""
    return frame_container(header, payload, header_len=header_len, payload_len=payload_len)


def test_varints_match_leb128() -> None:
    for value in (0, 1, 127, 128, 300, 16_383, 16_384, (1 << 53) - 1):
        raw = make_header(num_samples=value, format_version=2).to_binary_bytes()
        assert varint(value) in raw
        assert unpack(rebuild_v2(raw))[0].num_samples == value


def test_lying_header_length_is_refused_before_reading_v2() -> None:
    raw = make_header().to_binary_bytes()
    with pytest.raises(HeaderError, match="limit"):
        unpack(rebuild_v2(raw, header_len=varint(1 << 40)))
    with pytest.raises(TruncatedError):
        unpack(rebuild_v2(raw, header_len=varint(10_000)))
    with pytest.raises(HeaderError, match="header length.*overlong"):
        unpack(rebuild_v2(raw, header_len=bytes([len(raw) | 0x80, 0])))
    with pytest.raises(HeaderError, match="past 10 bytes"):
        unpack(rebuild_v2(raw, header_len=b"\xff" * 11))


def test_lying_payload_length_is_a_truncation_v2() -> None:
    raw = make_header().to_binary_bytes()
    with pytest.raises(TruncatedError, match="payload length"):
        unpack(rebuild_v2(raw, b"abc", payload_len=varint(1 << 62)))
    with pytest.raises(TrailingDataError):
        unpack(rebuild_v2(raw, b"abc", payload_len=varint(2)))
    with pytest.raises(HeaderError, match="payload length.*overlong"):
        unpack(rebuild_v2(raw, b"abc", payload_len=b"\x83\x00"))


def test_damaged_binary_header_with_valid_crc_is_a_header_error() -> None:
    good = make_header(extra={}).to_binary_bytes()
    name_len = good[0]
    cases = [
        (good[:-1], "ends inside field 'extra'"),
        (good[: name_len + 5], "model_checksum"),
        (good + b"\x00", "unexpected byte"),
        (b"\x02\xff\xfe" + good[name_len + 1 :], "model_name.*utf-8"),
        (good[:-1] + varint(2) + b"{}", "extra.*canonical"),
        (good[:-1] + varint(8) + b'{"a": 1}', "extra.*canonical"),
        (good[:-1] + varint(5) + b"[1,2]", "extra.*JSON object"),
        (good[:-1] + varint(3) + b"{x}", "extra.*not valid JSON"),
        (good[:-1] + varint(9) + b'{"a":NaN}', "extra.*not valid JSON"),
        (varint(0) + good[name_len + 1 :], "model_name"),
    ]
    for raw, message in cases:
        with pytest.raises(HeaderError, match=message):
            unpack(rebuild_v2(raw))


def test_binary_header_field_values_are_validated() -> None:
    header = make_header(format_version=2)
    header.channels = 256  # bypass construction: only the reader's validation may catch it
    raw = CplxHeader.to_binary_bytes(header)
    with pytest.raises(HeaderError, match="channels"):
        unpack(rebuild_v2(raw))
