"""cplxcodec.bitstream: the ``.cplx`` file container and entropy coding of RVQ codes.

- :mod:`~cplxcodec.bitstream.container`: ``CplxHeader``, ``pack``, ``unpack``.
- :mod:`~cplxcodec.bitstream.entropy`: ``CodeEntropyModel`` (integer tables + ANS).
- :mod:`~cplxcodec.bitstream.raw`: ``RawCodeCoder`` (fixed-width fallback, entropy "none").
- :mod:`~cplxcodec.bitstream.payload`: channels and chunks of codes in one payload.
- :mod:`~cplxcodec.bitstream.vbr`: ``VariableStageCoder`` (variable stage allocation: per-block
  stage counts as side information, entropy names ``"<inner>-vbr4"``).
- :mod:`~cplxcodec.bitstream.errors`: ``BitstreamError`` and its subclasses.
"""

from cplxcodec.bitstream.container import (
    FORMAT_VERSION,
    MAGIC,
    MAX_HEADER_BYTES,
    READ_VERSIONS,
    CplxHeader,
    pack,
    unpack,
)
from cplxcodec.bitstream.entropy import CodeEntropyModel, constriction_categorical
from cplxcodec.bitstream.errors import (
    BadMagicError,
    BitstreamError,
    ChecksumError,
    HeaderError,
    PayloadError,
    TrailingDataError,
    TruncatedError,
    UnsupportedVersionError,
)
from cplxcodec.bitstream.payload import (
    CodeCoder,
    chunk_bounds,
    chunk_count,
    decode_payload,
    encode_payload,
    payload_chunks,
)
from cplxcodec.bitstream.raw import RawCodeCoder
from cplxcodec.bitstream.tables import quantize_counts, validate_table
from cplxcodec.bitstream.vbr import VBR_BLOCK, VariableStageCoder, parse_vbr_name

__all__ = [
    "FORMAT_VERSION",
    "READ_VERSIONS",
    "MAGIC",
    "MAX_HEADER_BYTES",
    "BadMagicError",
    "BitstreamError",
    "ChecksumError",
    "CodeCoder",
    "CodeEntropyModel",
    "CplxHeader",
    "HeaderError",
    "PayloadError",
    "RawCodeCoder",
    "TrailingDataError",
    "TruncatedError",
    "UnsupportedVersionError",
    "VBR_BLOCK",
    "VariableStageCoder",
    "chunk_bounds",
    "chunk_count",
    "constriction_categorical",
    "decode_payload",
    "encode_payload",
    "pack",
    "parse_vbr_name",
    "payload_chunks",
    "quantize_counts",
    "unpack",
    "validate_table",
]
