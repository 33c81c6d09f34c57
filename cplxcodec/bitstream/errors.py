"""Exceptions raised while reading or writing ``.cplx`` files and entropy-coded payloads.

Every error that a malformed, truncated or corrupted file can provoke is a subclass of
:class:`BitstreamError`, which itself subclasses :class:`ValueError`, so callers can catch one
type and report ``str(err)``: each message says in plain words what is wrong with the data.
"""

from __future__ import annotations

__all__ = [
    "BitstreamError",
    "ChecksumError",
    "BadMagicError",
    "HeaderError",
    "PayloadError",
    "TrailingDataError",
    "TruncatedError",
    "UnsupportedVersionError",
]


class BitstreamError(ValueError):
    """Base class: the bytes are not a valid ``.cplx`` file or entropy-coded payload."""


class TruncatedError(BitstreamError):
    """The data ends before a field or section that the format requires."""


class BadMagicError(BitstreamError):
    """The data does not start with the ``.cplx`` magic bytes (not a cplxcodec file)."""


class UnsupportedVersionError(BitstreamError):
    """The file's format version is not one this library can read (usually a newer one)."""


class HeaderError(BitstreamError):
    """The JSON header is invalid JSON, or a field is missing, unknown, mistyped or out of range."""


class ChecksumError(BitstreamError):
    """A CRC32 stored in the file does not match the bytes it protects (corrupted data)."""


class TrailingDataError(BitstreamError):
    """Bytes follow the end of the last section (or a length field is too small)."""


class PayloadError(BitstreamError):
    """An entropy-coded payload cannot be decoded into the requested number of codes."""
