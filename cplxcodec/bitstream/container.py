"""The ``.cplx`` file container: magic, version byte, CRC-protected header and payload.

Two layouts exist; the version byte after the magic says which. This library writes version 2
and reads both. All fixed-width integers are big-endian (:mod:`struct`); no pickle anywhere.

**Version 2** (written since 0.2.0; a compact binary header, 60-70 bytes of framing per file)::

    field                 encoding
    magic b"CPLX"         4 bytes
    format version        u8 = 2
    header length H       varint
    header                H bytes, the fields below in this order
    header CRC32          u32, over every byte before it (magic .. header)
    payload length P      varint
    payload               P bytes (entropy-coded codes; opaque to the container)
    payload CRC32         u32, over the payload length field and the payload

    header field          encoding
    model_name            varint byte length + UTF-8 (1-256 characters)
    model_checksum        8 bytes (the 16 hex digits as raw bytes)
    sample_rate           varint
    channels              varint
    num_samples           varint
    kbps                  IEEE-754 binary64 (">d")
    n_stages              varint
    codebook_size         varint
    frame_count           varint
    chunk_frames          varint
    entropy               varint byte length + ASCII name
    extra                 varint byte length + UTF-8 JSON object (length 0 when empty)

A *varint* is unsigned LEB128 (7 bits per byte, least significant group first, high bit set on
every byte but the last), at most 10 bytes, and canonical: a trailing ``0x00`` group (an
overlong encoding) is an error, so every header has exactly one byte string and
``pack(*unpack(data)) == data`` for every valid file.

**Version 1** (written by 0.1.x; read for compatibility, written only on request with
``CplxHeader(format_version=1)``)::

    offset        size  field
    0             4     magic  b"CPLX"
    4             1     format version (u8) = 1
    5             4     header length H (u32)
    9             H     header: UTF-8 JSON object (the fields of :class:`CplxHeader`, short keys)
    9+H           4     CRC32 of bytes [0, 9+H)      (magic, version, length and header)
    13+H          8     payload length P (u64)
    21+H          P     payload
    21+H+P        4     CRC32 of bytes [13+H, 21+H+P) (payload length and payload)

The JSON header is written with sorted keys and no whitespace, so equal headers give equal
bytes; its keys are one letter::

    key  field            key  field            key  field
    m    model_name       t    num_samples      n    frame_count
    h    model_checksum   b    kbps             f    chunk_frames
    r    sample_rate      k    n_stages         e    entropy
    c    channels         v    codebook_size    x    extra (omitted when empty)

Why version 2: a version-1 file spends ~150 bytes on framing (1.2 kbit), which on a 5-second
utterance is 0.24 kbps, more than the 0.15 kbps of headroom the bundled model keeps under its
nominal 6 kbps; version 2 spends ~70 bytes (the ``speech16k`` files of every length from
about 4 s up are at or below nominal; ``benchmarks/entropy_saving.py`` prints the figures).

In both versions the format version lives only in the version byte, the file ends exactly
after the payload CRC (anything after it is an error), and readers check, in this order:
magic, version (a newer version raises :class:`UnsupportedVersionError` before anything else
is interpreted, since its layout may differ), lengths against the bytes actually present (so a
lying length field can neither cause a large allocation nor a hang), header CRC, header
fields, payload CRC.

CRC32 is :func:`zlib.crc32` (ISO-HDLC polynomial, as in zip and PNG); it detects all burst
errors up to 32 bits and any single flipped bit. It is an integrity check, not a signature.
"""

from __future__ import annotations

import json
import math
import re
import struct
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

from cplxcodec.bitstream.errors import (
    BadMagicError,
    ChecksumError,
    HeaderError,
    TrailingDataError,
    TruncatedError,
    UnsupportedVersionError,
)

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_HEADER_BYTES",
    "READ_VERSIONS",
    "CplxHeader",
    "pack",
    "unpack",
]

MAGIC = b"CPLX"
"""First four bytes of every ``.cplx`` file."""

FORMAT_VERSION = 2
"""The container version this library writes by default and the newest it reads."""

READ_VERSIONS = (1, 2)
"""Every container version :func:`unpack` reads (and :func:`pack` can write)."""

MAX_HEADER_BYTES = 1 << 20
"""Upper bound on the JSON header size (1 MiB); larger length fields are rejected unread."""

_PREFIX = struct.Struct(">4sBI")  # magic, version, header length
_CRC = struct.Struct(">I")
_PAYLOAD_LEN = struct.Struct(">Q")
_F64 = struct.Struct(">d")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_MAX_RATE = 768_000  # Hz; a larger rate in a header is corruption, not audio
_KEYS = {
    "model_name": "m",
    "model_checksum": "h",
    "sample_rate": "r",
    "channels": "c",
    "num_samples": "t",
    "kbps": "b",
    "n_stages": "k",
    "codebook_size": "v",
    "frame_count": "n",
    "chunk_frames": "f",
    "entropy": "e",
    "extra": "x",
}
_FIELDS = {v: k for k, v in _KEYS.items()}
_ENTROPY_NAME = re.compile(r"[a-z][a-z0-9_\-]{0,31}")
_MAX_INT = 1 << 53  # integers above this do not survive every JSON reader exactly


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise HeaderError(f"header field {name!r} must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise HeaderError(f"header field {name!r} must be in [{low}, {high}], got {value}")


def _check_str(name: str, value: object, pattern: re.Pattern[str] | None, what: str) -> None:
    if not isinstance(value, str):
        raise HeaderError(f"header field {name!r} must be a string, got {type(value).__name__}")
    if pattern is not None and pattern.fullmatch(value) is None:
        raise HeaderError(f"header field {name!r} must be {what}, got {value[:80]!r}")


@dataclass
class CplxHeader:
    """Metadata stored in the JSON header of a ``.cplx`` file.

    Construction validates every field and raises :class:`HeaderError` naming the first bad
    one, so an instance is always writable and a parsed header is always consistent.

    Attributes:
        model_name: name of the codec model that produced the codes (non-empty, ≤ 256 chars).
        model_checksum: the first 16 lowercase hex digits (64 bits) of the SHA-256 of the model
            (config, weights and entropy tables) that a decoder must match.
        sample_rate: original sample rate in Hz (> 0).
        channels: number of audio channels (≥ 1).
        num_samples: original length per channel in samples (≥ 0), to trim decoder padding.
        kbps: nominal bit rate the codes were produced at (finite, > 0).
        n_stages: K, the number of residual codebooks used (≥ 1).
        codebook_size: V, codes lie in ``[0, V)`` (≥ 2).
        frame_count: N, code frames per channel (≥ 0).
        chunk_frames: frames per independently entropy-coded chunk; 0 means one chunk.
        entropy: name of the payload coding ("none", "categorical", "conditional", ...).
        extra: forward-compatible fields (JSON-serialisable values, string keys).
        format_version: container version; must equal the version byte of the file.
    """

    model_name: str
    model_checksum: str
    sample_rate: int
    channels: int
    num_samples: int
    kbps: float
    n_stages: int
    codebook_size: int
    frame_count: int
    chunk_frames: int = 0
    entropy: str = "none"
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        _check_int("format_version", self.format_version, 1, 255)
        _check_str("model_name", self.model_name, None, "")
        if not 1 <= len(self.model_name) <= 256:
            raise HeaderError(
                f"header field 'model_name' must have 1 to 256 characters, "
                f"got {len(self.model_name)}"
            )
        _check_str(
            "model_checksum",
            self.model_checksum,
            _HEX16,
            "16 lowercase hex digits (the first 64 bits of a SHA-256)",
        )
        _check_int("sample_rate", self.sample_rate, 1, _MAX_RATE)
        _check_int("channels", self.channels, 1, 255)
        _check_int("num_samples", self.num_samples, 0, _MAX_INT)
        if isinstance(self.kbps, bool) or not isinstance(self.kbps, (int, float)):
            raise HeaderError(
                f"header field 'kbps' must be a number, got {type(self.kbps).__name__}"
            )
        if not (math.isfinite(self.kbps) and 0.0 < self.kbps <= 1e6):
            raise HeaderError(
                f"header field 'kbps' must be finite and in (0, 1e6], got {self.kbps}"
            )
        self.kbps = float(self.kbps)
        _check_int("n_stages", self.n_stages, 1, 4096)
        _check_int("codebook_size", self.codebook_size, 2, 1 << 24)
        _check_int("frame_count", self.frame_count, 0, _MAX_INT)
        _check_int("chunk_frames", self.chunk_frames, 0, _MAX_INT)
        _check_str("entropy", self.entropy, _ENTROPY_NAME, "a short lowercase name like 'none'")
        if not isinstance(self.extra, dict) or not all(isinstance(k, str) for k in self.extra):
            raise HeaderError("header field 'extra' must be a JSON object with string keys")

    def to_json_bytes(self) -> bytes:
        """Canonical UTF-8 JSON (short keys, sorted, no whitespace); see the module docstring."""
        obj = {_KEYS[k]: v for k, v in asdict(self).items() if k in _KEYS}
        if not obj["x"]:
            del obj["x"]
        return _canonical_json(obj)

    def to_binary_bytes(self) -> bytes:
        """The version-2 binary header (see the module docstring); canonical, like the JSON."""
        extra = b""
        if self.extra:
            extra = _canonical_json(self.extra)
        name = self.model_name.encode("utf-8")
        entropy = self.entropy.encode("ascii")
        return b"".join(
            [
                _varint(len(name)),
                name,
                bytes.fromhex(self.model_checksum),
                _varint(self.sample_rate),
                _varint(self.channels),
                _varint(self.num_samples),
                _F64.pack(self.kbps),
                _varint(self.n_stages),
                _varint(self.codebook_size),
                _varint(self.frame_count),
                _varint(self.chunk_frames),
                _varint(len(entropy)),
                entropy,
                _varint(len(extra)),
                extra,
            ]
        )

    @classmethod
    def from_binary_bytes(cls, raw: bytes) -> CplxHeader:
        """Parse and validate a version-2 binary header; every failure is a :class:`HeaderError`."""
        r = _HeaderReader(bytes(raw))
        name = r.text("model_name", "utf-8")
        checksum = r.take(8, "model_checksum").hex()
        fields: dict[str, Any] = {"model_name": name, "model_checksum": checksum}
        for key in ("sample_rate", "channels", "num_samples"):
            fields[key] = r.varint(key)
        (fields["kbps"],) = _F64.unpack(r.take(_F64.size, "kbps"))
        for key in ("n_stages", "codebook_size", "frame_count", "chunk_frames"):
            fields[key] = r.varint(key)
        fields["entropy"] = r.text("entropy", "ascii")
        extra_raw = r.take(r.varint("extra"), "extra")
        if r.pos != len(r.data):
            raise HeaderError(f"{len(r.data) - r.pos} unexpected byte(s) at the end of the header")
        fields["extra"] = _load_json(extra_raw, "header field 'extra'") if extra_raw else {}
        header = cls(**fields, format_version=2)
        if extra_raw and (not header.extra or _canonical_json(header.extra) != extra_raw):
            raise HeaderError(
                "header field 'extra' is not canonical JSON (sorted keys, no whitespace, "
                "a non-empty object; an empty one is written as length 0)"
            )
        return header

    @classmethod
    def from_json_bytes(cls, raw: bytes, format_version: int = FORMAT_VERSION) -> CplxHeader:
        """Parse and validate a JSON header; every failure is a :class:`HeaderError`."""
        obj = _load_json(raw, "header")
        if not isinstance(obj, dict):
            raise HeaderError(f"header must be a JSON object, got {type(obj).__name__}")
        unknown = sorted(set(obj) - set(_FIELDS))
        if unknown:
            raise HeaderError(
                f"header has unknown field(s) {unknown[:5]}; new fields belong in 'extra' (x)"
            )
        missing = sorted(_FIELDS[k] for k in _FIELDS if k not in obj and k != "x")
        if missing:
            raise HeaderError(f"header is missing field(s) {missing}")
        return cls(**{_FIELDS[k]: v for k, v in obj.items()}, format_version=format_version)


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} is not allowed")


def _canonical_json(obj: Any) -> bytes:
    """UTF-8 JSON with sorted keys and no whitespace (one byte string per value); only the
    'extra' field can hold values JSON cannot represent, so failures name it."""
    try:
        text = json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as err:
        raise HeaderError(f"header field 'extra' is not JSON-serialisable: {err}") from None
    return text.encode("utf-8")


def _load_json(raw: bytes, what: str) -> Any:
    """Parse UTF-8 JSON (no NaN/Infinity); failures are :class:`HeaderError` naming ``what``."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise HeaderError(f"{what} is not valid UTF-8") from None
    except (ValueError, RecursionError) as err:
        raise HeaderError(f"{what} is not valid JSON: {str(err)[:120]}") from None


def _varint(value: int) -> bytes:
    """Unsigned LEB128 of ``0 <= value < 2**70`` (canonical: no trailing zero groups)."""
    if value < 0:
        raise HeaderError(f"cannot write negative length or field value {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_VARINT_MAX_BYTES = 10


def _read_varint(data: bytes, pos: int, end: int, name: str) -> tuple[int | None, int]:
    """``(value, next position)``; value ``None`` when ``data[pos:end]`` ends mid-varint.

    Raises :class:`HeaderError` on an overlong (more than 10 bytes) or non-canonical varint.
    """
    value = 0
    for i in range(_VARINT_MAX_BYTES):
        if pos + i >= end:
            return None, end
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise HeaderError(f"{name} is an overlong varint (a redundant trailing zero byte)")
            return value, pos + i + 1
    raise HeaderError(f"{name} is a varint running past {_VARINT_MAX_BYTES} bytes")


class _HeaderReader:
    """Sequential reads from a version-2 header; running out of bytes is a HeaderError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def varint(self, name: str) -> int:
        value, self.pos = _read_varint(
            self.data, self.pos, len(self.data), f"header field {name!r}"
        )
        if value is None:
            raise HeaderError(f"header ends inside field {name!r}")
        return value

    def take(self, n: int, name: str) -> bytes:
        if n > len(self.data) - self.pos:
            raise HeaderError(
                f"header field {name!r} needs {n} bytes, only {len(self.data) - self.pos} left"
            )
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def text(self, name: str, encoding: str) -> str:
        raw = self.take(self.varint(name), name)
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            raise HeaderError(f"header field {name!r} is not valid {encoding}") from None


def pack(header: CplxHeader, payload: bytes) -> bytes:
    """Serialise ``header`` and ``payload`` into the bytes of a ``.cplx`` file.

    The layout is the one of ``header.format_version`` (2 unless asked otherwise).

    Raises:
        HeaderError: the header is invalid, too large, or asks for a version not written here.
        TypeError: ``payload`` is not bytes-like.
    """
    if not isinstance(header, CplxHeader):
        raise TypeError(f"header must be a CplxHeader, got {type(header).__name__}")
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
    header.__post_init__()  # fields may have been reassigned since construction
    version = header.format_version
    if version not in READ_VERSIONS:
        raise HeaderError(
            f"this library writes format versions {list(READ_VERSIONS)}, not {version}"
        )
    raw = header.to_json_bytes() if version == 1 else header.to_binary_bytes()
    if len(raw) > MAX_HEADER_BYTES:
        raise HeaderError(f"header is {len(raw)} bytes, above the {MAX_HEADER_BYTES}-byte limit")
    if version == 1:
        head = _PREFIX.pack(MAGIC, 1, len(raw)) + raw
        body = _PAYLOAD_LEN.pack(len(payload)) + bytes(payload)
    else:
        head = MAGIC + bytes([version]) + _varint(len(raw)) + raw
        body = _varint(len(payload)) + bytes(payload)
    return b"".join([head, _CRC.pack(zlib.crc32(head)), body, _CRC.pack(zlib.crc32(body))])


def unpack(data: bytes) -> tuple[CplxHeader, bytes]:
    """Parse the bytes of a ``.cplx`` file (either version) into its header and payload.

    Lengths are checked against ``len(data)`` before anything is sliced, so corrupted or
    hostile input costs at most O(len(data)) time and memory.

    Raises:
        TruncatedError, BadMagicError, UnsupportedVersionError, HeaderError, ChecksumError,
        TrailingDataError: all subclasses of :class:`BitstreamError`.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    size = len(data)
    if data[: len(MAGIC)] != MAGIC[: min(size, len(MAGIC))]:
        raise BadMagicError(f"not a .cplx file: expected magic bytes {MAGIC!r}, found {data[:4]!r}")
    if size <= len(MAGIC):
        raise TruncatedError(f"file is truncated: {size} bytes, ending before the version byte")
    version = data[len(MAGIC)]
    if version > FORMAT_VERSION:
        raise UnsupportedVersionError(
            f"file uses .cplx format version {version}, newer than version {FORMAT_VERSION} "
            "that this library reads; upgrade cplxcodec"
        )
    if version < 1:
        raise UnsupportedVersionError(f"file has invalid .cplx format version {version}")

    # Header length, header, header CRC.
    if version == 1:
        if size < _PREFIX.size:
            raise TruncatedError(f"file is truncated: {size} bytes, the fixed prefix needs 9")
        _, _, header_len = _PREFIX.unpack_from(data, 0)
        header_start = _PREFIX.size
    else:
        header_len, header_start = _read_varint(
            data, len(MAGIC) + 1, size, "the header length field"
        )
        if header_len is None:
            raise TruncatedError("file is truncated inside the header length field")
    if header_len > MAX_HEADER_BYTES:
        raise HeaderError(
            f"header length field says {header_len} bytes, above the {MAX_HEADER_BYTES}-byte limit"
        )
    header_end = header_start + header_len
    if size < header_end + _CRC.size:
        raise TruncatedError(
            f"file is truncated: header of {header_len} bytes and its CRC need "
            f"{header_end + _CRC.size} bytes, only {size} present"
        )
    (header_crc,) = _CRC.unpack_from(data, header_end)
    if zlib.crc32(data[:header_end]) != header_crc:
        raise ChecksumError("header CRC32 mismatch: the header is corrupted")
    raw_header = data[header_start:header_end]
    if version == 1:
        header = CplxHeader.from_json_bytes(raw_header, 1)
    else:
        header = CplxHeader.from_binary_bytes(raw_header)

    # Payload length, payload, payload CRC.
    body_start = header_end + _CRC.size
    if version == 1:
        if size < body_start + _PAYLOAD_LEN.size:
            raise TruncatedError("file is truncated: the payload length field is missing")
        (payload_len,) = _PAYLOAD_LEN.unpack_from(data, body_start)
        payload_start = body_start + _PAYLOAD_LEN.size
    else:
        payload_len, payload_start = _read_varint(
            data, body_start, size, "the payload length field"
        )
        if payload_len is None:
            raise TruncatedError("file is truncated: the payload length field is missing or cut")
    available = size - payload_start - _CRC.size
    if payload_len > available:
        raise TruncatedError(
            f"file is truncated: payload length field says {payload_len} bytes, "
            f"only {max(available, 0)} present before the payload CRC"
        )
    payload_end = payload_start + payload_len
    if payload_len < available:
        raise TrailingDataError(
            f"{available - payload_len} unexpected byte(s) after the payload "
            "(extra data, or a corrupted payload length field)"
        )
    (payload_crc,) = _CRC.unpack_from(data, payload_end)
    if zlib.crc32(data[body_start:payload_end]) != payload_crc:
        raise ChecksumError("payload CRC32 mismatch: the payload is corrupted")
    return header, data[payload_start:payload_end]
