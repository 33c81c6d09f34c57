"""Variable stage allocation in the payload: block counts as side information."""

from __future__ import annotations

import numpy as np
import pytest

from cplxcodec.bitstream import (
    CodeEntropyModel,
    PayloadError,
    RawCodeCoder,
    decode_payload,
    encode_payload,
)
from cplxcodec.bitstream.tables import validate_table
from cplxcodec.bitstream.vbr import (
    COUNT_PRECISION,
    MAX_DELTA,
    VBR_BLOCK,
    VariableStageCoder,
    count_bits,
    count_delta_table,
    parse_vbr_name,
)
from cplxcodec.quantization import block_bounds

V, K = 64, 6


def _ragged(rng: np.random.Generator, n: int, chunk: int = 0, block: int = VBR_BLOCK) -> np.ndarray:
    """(K, n) codes with one random stage count per block (blocks restart at ``chunk``)."""
    blocks = block_bounds(n, block, chunk)
    per_block = rng.integers(1, K + 1, size=int(blocks.max()) + 1 if n else 0)
    counts = per_block[blocks]
    codes = rng.integers(0, V, size=(K, n))
    codes[np.arange(K)[:, None] >= counts[None, :]] = -1
    return codes


@pytest.fixture(scope="module")
def entropy_model() -> CodeEntropyModel:
    rng = np.random.default_rng(0)
    train = [(rng.integers(0, V, size=(K, 400)) ** 2) // V for _ in range(3)]  # skewed
    return CodeEntropyModel.fit(train, V, precision=12)


def test_count_table_is_valid_and_symmetric() -> None:
    table = count_delta_table()
    validate_table(table, COUNT_PRECISION, 2 * MAX_DELTA + 1)
    assert np.array_equal(table, table[::-1])
    assert table[MAX_DELTA] == table.max()
    assert count_bits(np.array([6, 6, 6])) < count_bits(np.array([6, 1, 12]))
    assert count_bits(np.zeros(0, dtype=int)) == 0.0


def test_names() -> None:
    assert parse_vbr_name("conditional-vbr4") == ("conditional", 4)
    assert parse_vbr_name("none-vbr12") == ("none", 12)
    for name in ("conditional", "none", "none-vbr", "none-vbr0", "-vbr4"):
        assert parse_vbr_name(name) is None
    assert VariableStageCoder(RawCodeCoder(V)).name == "none-vbr4"


@pytest.mark.parametrize("inner_kind", ["raw", "entropy"])
@pytest.mark.parametrize("n,chunk", [(1, 0), (37, 0), (101, 30), (64, 16)])
def test_roundtrip(inner_kind: str, n: int, chunk: int, entropy_model: CodeEntropyModel) -> None:
    rng = np.random.default_rng(n + chunk)
    inner = RawCodeCoder(V) if inner_kind == "raw" else entropy_model
    coder = VariableStageCoder(inner)
    codes = np.stack([_ragged(rng, n, chunk), _ragged(rng, n, chunk)])  # two channels
    data = encode_payload(coder, codes, chunk)
    assert encode_payload(coder, codes, chunk) == data  # deterministic
    back = decode_payload(coder, data, 2, K, n, chunk)
    assert np.array_equal(back, codes)


def test_fewer_stages_cost_fewer_bytes() -> None:
    rng = np.random.default_rng(3)
    coder = VariableStageCoder(RawCodeCoder(V))
    codes = rng.integers(0, V, size=(K, 400))
    few = codes.copy()
    few[2:, :200] = -1  # the first 200 frames send two stages only
    assert len(coder.encode(few)) < len(coder.encode(codes)) - 200 * 4 * 6 // 8 + 50


def test_encoder_rejects_codes_without_block_structure() -> None:
    coder = VariableStageCoder(RawCodeCoder(V))
    codes = np.zeros((K, 8), dtype=np.int64)
    bad = codes.copy()
    bad[3:, 1] = -1  # frame 1 differs from frame 0 of its block
    with pytest.raises(ValueError, match="one stage count per block of 4"):
        coder.encode(bad)
    gap = codes.copy()
    gap[2, :] = -1
    with pytest.raises(ValueError, match="absent"):
        coder.encode(gap)
    first = codes.copy()
    first[:, :4] = -1
    with pytest.raises(ValueError, match="stage 1"):
        coder.encode(first)
    with pytest.raises(ValueError, match="VBR block"):
        VariableStageCoder(RawCodeCoder(V), 0)


def test_damaged_chunks_raise_payload_errors(entropy_model: CodeEntropyModel) -> None:
    rng = np.random.default_rng(4)
    codes = _ragged(rng, 50)
    for inner in (RawCodeCoder(V), entropy_model):
        coder = VariableStageCoder(inner)
        data = coder.encode(codes)
        for cut in (0, 3, 4, 9, len(data) - 1):
            with pytest.raises(PayloadError):
                coder.decode(data[:cut], K, 50)
        with pytest.raises(PayloadError):
            coder.decode(data + b"\0\0\0\0", K, 50)
        with pytest.raises(PayloadError):
            coder.decode(data, K, 80)  # more frames than were coded
        # random damage: a clear PayloadError or codes in range, never anything else
        for _ in range(40):
            broken = bytearray(data)
            pos = int(rng.integers(0, len(broken)))
            broken[pos] ^= 1 << int(rng.integers(0, 8))
            try:
                out = coder.decode(bytes(broken), K, 50)
            except PayloadError:
                continue
            assert out.shape == (K, 50) and out.min() >= -1 and out.max() < V


def test_side_information_is_near_its_ideal_length() -> None:
    rng = np.random.default_rng(5)
    codes = _ragged(rng, 400)
    per_block = (codes != -1).sum(0)[::VBR_BLOCK]
    coder = VariableStageCoder(RawCodeCoder(V))
    data = coder.encode(codes)
    side_bytes = int.from_bytes(data[:4], "big")
    assert count_bits(per_block) <= 8 * side_bytes <= count_bits(per_block) + 96


def test_a_header_claiming_huge_frame_counts_is_refused_before_any_allocation() -> None:
    """Found in review: the block count was built as an array of n_frames / 4 entries before
    the size check, so a corrupt header claiming 2**48 frames asked numpy for terabytes."""
    rng = np.random.default_rng(6)
    coder = VariableStageCoder(RawCodeCoder(V))
    data = coder.encode(_ragged(rng, 40))
    for frames in (10**9, 2**48):
        with pytest.raises(PayloadError, match="too short"):
            coder.decode(data, K, frames)


def test_ragged_inputs_are_checked_alike_by_both_coders(entropy_model: CodeEntropyModel) -> None:
    codes = np.zeros((K, 8), dtype=np.int64)
    for inner in (RawCodeCoder(V), entropy_model):
        with pytest.raises(ValueError, match=r"counts \(N,\)"):
            inner.encode_ragged(codes, np.ones(7, dtype=int))
        with pytest.raises(ValueError, match=r"stage counts must lie in \[1, 6\]"):
            inner.encode_ragged(codes, np.full(8, K + 1))
        with pytest.raises(PayloadError, match=r"values in \[1, 6\]"):
            inner.decode_ragged(b"", K, np.zeros(8, dtype=int))
