"""Variable stage allocation in files: per-block stage counts as side information.

With variable stage allocation (:func:`cplxcodec.quantization.allocation.allocate_stages`) a
file's frames do not all send the same number of residual-VQ stages: every block of
:data:`VBR_BLOCK` frames has its own count (1 to K), chosen so that the file's mean stays at the
nominal count of its bitrate. :class:`VariableStageCoder` wraps a code coder
(:class:`~cplxcodec.bitstream.entropy.CodeEntropyModel` or
:class:`~cplxcodec.bitstream.raw.RawCodeCoder`) and codes one payload chunk as::

    u32 big-endian   byte length L of the counts stream
    L bytes          counts stream: ANS words (big-endian u32) of the block counts
    rest             the inner coder's ragged codes (``encode_ragged``), stage by stage

Blocks restart at every payload chunk (the chunk's first frame starts a block; the last block
of a chunk may be shorter), so each chunk still decodes on its own. Block ``j``'s count is coded
as the difference to block ``j - 1``'s (to :data:`FIRST_PREVIOUS` for the first block) with one
fixed integer table, :func:`count_delta_table`: a two-sided geometric distribution built by
integer arithmetic only, so every machine codes the same bytes. The header's ``entropy`` name is
the inner coder's name followed by ``-vbr4`` (block size 4).
"""

from __future__ import annotations

import functools
import re
import struct

import constriction
import numpy as np

from cplxcodec.bitstream.entropy import constriction_categorical
from cplxcodec.bitstream.errors import PayloadError
from cplxcodec.bitstream.tables import code_lengths, validate_table

__all__ = [
    "COUNT_PRECISION",
    "FIRST_PREVIOUS",
    "MAX_DELTA",
    "VBR_BLOCK",
    "VariableStageCoder",
    "count_bits",
    "count_delta_table",
    "frame_counts",
    "parse_vbr_name",
    "read_block_counts",
]

#: Frames per block of one stage count (41 ms at the bundled model's 97.6 frames/s).
VBR_BLOCK = 4
#: Largest stage-count difference the table codes (so at most ``MAX_DELTA + 1`` stages).
MAX_DELTA = 31
#: Precision of :func:`count_delta_table` (its entries sum to ``2**COUNT_PRECISION``).
COUNT_PRECISION = 12
#: The "previous count" the first block of a chunk is coded against.
FIRST_PREVIOUS = 6

_LEN = struct.Struct(">I")
_INITIAL_STATE = np.array([0, 1], dtype=np.uint32)
_NAME = re.compile(r"^(?P<inner>[a-z]+)\-vbr(?P<block>[1-9][0-9]{0,2})$")


@functools.cache
def count_delta_table() -> np.ndarray:
    """Integer frequencies of count differences ``-MAX_DELTA .. MAX_DELTA`` (index ``d +
    MAX_DELTA``), summing to ``2**COUNT_PRECISION``.

    ``f(±1) = 640`` and each further step keeps ``11/20`` of the last (integer division, at
    least 1); ``f(0)`` takes the rest (1230 of 4096, p ≈ 0.30). Fitted by eye to the block
    counts of the bundled model on the dev split (p(0) ≈ 0.30, p(±1) ≈ 0.14-0.19, then a decay
    of about 0.55 per step at 6 kbps).
    """
    side = [640]
    for _ in range(MAX_DELTA - 1):
        side.append(max(1, side[-1] * 11 // 20))
    total = 1 << COUNT_PRECISION
    zero = total - 2 * sum(side)
    table = np.array(side[::-1] + [zero] + side, dtype=np.int64)
    return validate_table(table, COUNT_PRECISION, 2 * MAX_DELTA + 1, "count delta table")


@functools.cache
def _count_model():
    return constriction_categorical(count_delta_table(), COUNT_PRECISION)


def _deltas(block_counts: np.ndarray) -> np.ndarray:
    prev = np.concatenate([[FIRST_PREVIOUS], block_counts[:-1]])
    return block_counts - prev


def count_bits(block_counts: np.ndarray) -> float:
    """Ideal length in bits of one chunk's block counts under :func:`count_delta_table`."""
    counts = np.asarray(block_counts, dtype=np.int64)
    if counts.size == 0:
        return 0.0
    lengths = code_lengths(count_delta_table()[None, :], COUNT_PRECISION)[0]
    return float(lengths[_deltas(counts) + MAX_DELTA].sum())


def _block_starts(n_frames: int, block: int) -> np.ndarray:
    return np.arange(0, n_frames, block)


def read_block_counts(
    data: bytes, n_stages: int, n_frames: int, block: int = VBR_BLOCK
) -> tuple[np.ndarray, bytes]:
    """The block counts of one chunk's bytes (module docstring) and the code bytes after them.

    Needs no model: ``cplxcodec info`` uses it for a file's mean stage count.

    Raises:
        PayloadError: the side information is malformed or does not fit ``n_stages`` /
            ``n_frames``.
    """
    if not 1 <= n_stages <= MAX_DELTA + 1:
        raise PayloadError(f"VBR data asks for {n_stages} stages (1 to {MAX_DELTA + 1})")
    if len(data) < _LEN.size:
        raise PayloadError("VBR chunk is truncated: the side information length is missing")
    (size,) = _LEN.unpack_from(data, 0)
    if size > len(data) - _LEN.size or size % 4 or size < 8:
        raise PayloadError(f"VBR side information length {size} does not fit the chunk")
    side = np.frombuffer(data[_LEN.size : _LEN.size + size], dtype=">u4").astype(np.uint32)
    body = data[_LEN.size + size :]
    n_blocks = -(-n_frames // block)  # no array before the size check: n_frames is untrusted
    # every block costs at least -log2(max p) > 1 bit: a bound on what the words can hold
    if n_blocks > 32 * len(side) + 1:
        raise PayloadError("VBR side information is too short for the frame count")
    try:
        coder = constriction.stream.stack.AnsCoder(side)
        symbols = coder.decode(_count_model(), n_blocks) if n_blocks else np.zeros(0, int)
        rest = coder.get_compressed()
    except (ValueError, KeyError, RuntimeError, OverflowError) as err:
        raise PayloadError(f"VBR side information is malformed: {err}") from None
    if not np.array_equal(rest, _INITIAL_STATE):
        raise PayloadError("VBR side information does not end where the last count does")
    per_block = np.cumsum(np.asarray(symbols, dtype=np.int64) - MAX_DELTA) + FIRST_PREVIOUS
    if per_block.size and (per_block.min() < 1 or per_block.max() > n_stages):
        raise PayloadError(
            f"VBR stage counts out of range [1, {n_stages}] (corrupted side information)"
        )
    return per_block, body


def frame_counts(per_block: np.ndarray, n_frames: int, block: int = VBR_BLOCK) -> np.ndarray:
    """Per-frame stage counts ``(n_frames,)`` from one chunk's block counts."""
    return np.repeat(np.asarray(per_block, dtype=np.int64), block)[:n_frames]


def parse_vbr_name(name: str) -> tuple[str, int] | None:
    """``(inner name, block)`` of a ``"<inner>-vbr<block>"`` entropy name, else ``None``."""
    match = _NAME.match(name)
    if match is None:
        return None
    return match.group("inner"), int(match.group("block"))


class VariableStageCoder:
    """Codes ``(K, N)`` codes whose frames send 1 to K stages (:data:`~cplxcodec.quantization.
    ABSENT` = ``-1`` after a frame's last stage) with the block counts as side information; see
    the module docstring. ``inner`` codes the codes themselves."""

    def __init__(self, inner, block: int = VBR_BLOCK) -> None:
        if isinstance(block, bool) or not isinstance(block, int) or not 1 <= block <= 999:
            raise ValueError(f"VBR block must be an integer in [1, 999], got {block!r}")
        self.inner = inner
        self.block = block
        self.codebook_size = inner.codebook_size
        self.name = f"{inner.name}-vbr{block}"

    def counts_of(self, codes: np.ndarray) -> np.ndarray:
        """Per-block stage counts of one chunk's ``(K, N)`` codes; ``ValueError`` unless absent
        codes are a suffix of every frame and one count holds per block."""
        arr = np.asarray(codes)
        if arr.ndim != 2 or arr.shape[0] > MAX_DELTA + 1:
            raise ValueError(
                f"VBR codes must be (K, N) with K <= {MAX_DELTA + 1}, got shape {arr.shape}"
            )
        sent = arr != -1
        counts = sent.sum(axis=0)
        if arr.shape[1] and (
            counts.min() < 1 or (sent[1:] & ~sent[:-1]).any() or (arr < -1).any()
        ):
            raise ValueError(
                "VBR codes must send stage 1 in every frame and mark only each frame's last "
                "stages as absent (-1)"
            )
        starts = _block_starts(arr.shape[1], self.block)
        per_block = counts[starts]
        if not np.array_equal(frame_counts(per_block, arr.shape[1], self.block), counts):
            raise ValueError(f"VBR codes must keep one stage count per block of {self.block} frames")
        return per_block.astype(np.int64)

    def encode(self, codes: np.ndarray) -> bytes:
        """Code one chunk's ``(K, N)`` codes (``-1`` = absent)."""
        arr = np.asarray(codes)
        per_block = self.counts_of(arr)
        coder = constriction.stream.stack.AnsCoder(_INITIAL_STATE)
        if per_block.size:
            coder.encode_reverse((_deltas(per_block) + MAX_DELTA).astype(np.int32), _count_model())
        side = coder.get_compressed().astype(">u4").tobytes()
        counts = frame_counts(per_block, arr.shape[1], self.block)
        if counts.size == 0:
            body = self.inner.encode(np.zeros((arr.shape[0], 0), dtype=np.int64))
        else:
            body = self.inner.encode_ragged(arr, counts)
        return _LEN.pack(len(side)) + side + body

    def decode(self, data: bytes, n_stages: int, n_frames: int) -> np.ndarray:
        """Decode one chunk: ``(n_stages, n_frames)`` int64 codes, ``-1`` where absent.

        Raises:
            PayloadError: the side information or the codes are malformed or do not fit.
        """
        for name, value in (("n_stages", n_stages), ("n_frames", n_frames)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        n_stages, n_frames = int(n_stages), int(n_frames)
        per_block, body = read_block_counts(data, n_stages, n_frames, self.block)
        if n_frames == 0:
            return self.inner.decode(body, n_stages, 0)
        return self.inner.decode_ragged(body, n_stages, frame_counts(per_block, n_frames, self.block))
