"""CodeEntropyModel: round trips, rate close to entropy, conditional mode, determinism."""

from __future__ import annotations

import json

import constriction
import numpy as np
import pytest

from cplxcodec.bitstream import (
    BitstreamError,
    CodeEntropyModel,
    PayloadError,
    RawCodeCoder,
    constriction_categorical,
)


def entropy_bits(probs: np.ndarray) -> float:
    nz = probs[probs > 0]
    return float(-(nz * np.log2(nz)).sum())


def test_round_trip_uniform_random_codes() -> None:
    rng = np.random.default_rng(0)
    train = [rng.integers(0, 512, (4, 400)) for _ in range(3)]
    model = CodeEntropyModel.fit(train, 512)
    codes = rng.integers(0, 512, (4, 777))
    data = model.encode(codes)
    out = model.decode(data, 4, 777)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, codes)


def test_skewed_codes_cost_less_than_raw_and_close_to_entropy(skewed) -> None:
    probs, make = skewed
    model = CodeEntropyModel.fit([make(8, 2000) for _ in range(8)], 256, precision=16)
    codes = make(8, 4000)
    data = model.encode(codes)
    np.testing.assert_array_equal(model.decode(data, 8, 4000), codes)
    coded = 8 * len(data) / codes.size
    raw = 8 * len(RawCodeCoder(256).encode(codes)) / codes.size
    ideal = entropy_bits(probs)
    assert raw == 8.0
    assert coded < 0.9 * raw
    # Within 3 % of the source entropy, and ANS overhead over the table's ideal length tiny.
    assert coded < 1.03 * ideal, (coded, ideal)
    assert 8 * len(data) < model.bits(codes) + 96


def test_conditional_mode_beats_unconditional_on_correlated_codes(correlated) -> None:
    train = [correlated(4, 3000) for _ in range(4)]
    auto = CodeEntropyModel.fit(train, 256, n_buckets=16)
    flat = CodeEntropyModel.fit(train, 256, conditional=False)
    assert auto.name == "conditional" and flat.name == "categorical"
    assert all(s.bucket_map is not None for s in auto.stages[1:])
    codes = correlated(4, 3000)
    data = auto.encode(codes)
    np.testing.assert_array_equal(auto.decode(data, 4, 3000), codes)
    assert len(data) < 0.85 * len(flat.encode(codes))
    assert auto.bits(codes) < 0.85 * flat.bits(codes)


def test_conditional_mode_is_rejected_on_independent_stages(skewed) -> None:
    _, make = skewed
    model = CodeEntropyModel.fit([make(4, 3000) for _ in range(4)], 256, n_buckets=16)
    assert model.name == "categorical"
    assert all(s.bucket_map is None for s in model.stages)
    forced = CodeEntropyModel.fit([make(4, 3000) for _ in range(4)], 256, conditional=True)
    assert forced.name == "conditional"
    held_out = make(4, 3000)
    assert model.bits(held_out) < forced.bits(held_out)


@pytest.mark.parametrize("conditional", [False, True])
def test_every_symbol_is_encodable_even_if_never_seen(conditional: bool) -> None:
    rng = np.random.default_rng(1)
    train = [rng.integers(0, 4, (3, 500))]  # only symbols 0..3 of 64 ever seen
    model = CodeEntropyModel.fit(train, 64, conditional=conditional)
    codes = np.stack([np.arange(64), np.arange(64)[::-1], (np.arange(64) * 5) % 64])
    np.testing.assert_array_equal(model.decode(model.encode(codes), 3, 64), codes)
    for stage in model.stages:
        assert stage.tables.min() >= 1
        assert np.all(stage.tables.sum(axis=1) == 1 << model.precision)


def test_encoding_is_deterministic_across_calls_and_reloads(correlated) -> None:
    model = CodeEntropyModel.fit([correlated(3, 2000)], 256)
    codes = correlated(3, 500)
    first = model.encode(codes)
    assert model.encode(codes) == first
    reloaded = CodeEntropyModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert reloaded.encode(codes) == first
    assert reloaded.checksum() == model.checksum()
    np.testing.assert_array_equal(reloaded.decode(first, 3, 500), codes)


def test_to_dict_holds_only_integers(correlated) -> None:
    model = CodeEntropyModel.fit([correlated(3, 2000)], 256, conditional=True)

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        else:
            assert isinstance(node, (int, str)) and not isinstance(node, bool), node

    walk(model.to_dict())


def test_fewer_stages_than_fitted_use_a_prefix_of_the_tables(correlated) -> None:
    model = CodeEntropyModel.fit([correlated(4, 2000)], 256)
    codes = correlated(2, 300)
    np.testing.assert_array_equal(model.decode(model.encode(codes), 2, 300), codes)
    with pytest.raises(ValueError, match="1 to 4 stages"):
        model.encode(correlated(5, 10))


def test_constriction_cdf_is_exactly_the_integer_table() -> None:
    """Steer the ANS decoder to every CDF boundary: it must switch symbol exactly there."""
    precision = 12
    table = np.array([1, 2, 3, 100, 1, 4096 - 107 - 1, 1], dtype=np.int64)
    table[5] = (1 << precision) - (table.sum() - table[5])
    model = constriction_categorical(table, precision)
    cdf = np.concatenate([[0], np.cumsum(table)]) << (24 - precision)
    for s in range(table.size):
        for quantile in (cdf[s], cdf[s + 1] - 1):
            coder = constriction.stream.stack.AnsCoder(np.array([quantile, 1], dtype=np.uint32))
            assert coder.decode(model) == s


def test_shipped_model_size_is_far_below_budget() -> None:
    """16 stages x 16 buckets x 2048 codes as JSON stays well under the 25 MB bundle budget."""
    table = [1 << 5] * 2048  # sums to 2**16
    stage = {"bucket_map": [i % 16 for i in range(2048)], "tables": [table] * 16}
    data = {
        "format": "cplxcodec.CodeEntropyModel", "version": 1, "codebook_size": 2048,
        "precision": 16, "stages": [{"bucket_map": [], "tables": [table]}] + [stage] * 15,
    }
    model = CodeEntropyModel.from_dict(data)
    assert model.n_stages == 16
    assert len(json.dumps(model.to_dict())) < 5_000_000


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="x"), "not a CodeEntropyModel"),
        (lambda d: d["stages"][0]["tables"][0].__setitem__(0, 0), "below 1"),
        (lambda d: d["stages"][0]["tables"][0].__setitem__(0, 5), "sums to"),
        (lambda d: d["stages"][1].update(bucket_map=[99] * 64), "bucket_map"),
        (lambda d: d["stages"][0].update(bucket_map=[0] * 64), "stage 0"),
    ],
)
def test_from_dict_rejects_invalid_tables(correlated, mutate, message: str) -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 64, (2, 2000))
    codes[1] = (codes[0] * 3) % 64
    data = CodeEntropyModel.fit([codes], 64, conditional=True, n_buckets=4).to_dict()
    mutate(data)
    with pytest.raises(ValueError, match=message):
        CodeEntropyModel.from_dict(data)


def test_garbage_payload_fails_cleanly_or_decodes_in_range(correlated) -> None:
    """Contract: PayloadError, or codes of the requested shape inside [0, V)."""
    model = CodeEntropyModel.fit([correlated(3, 2000)], 256)
    rng = np.random.default_rng(5)
    outcomes = {"error": 0, "codes": 0}
    for n_bytes in range(0, 64):
        data = rng.integers(0, 256, n_bytes, dtype=np.uint8).tobytes()
        for n_frames in (0, 1, 7, 40):
            try:
                out = model.decode(data, 3, n_frames)
            except PayloadError:
                outcomes["error"] += 1
            else:
                outcomes["codes"] += 1
                assert out.shape == (3, n_frames)
                assert out.min(initial=0) >= 0 and out.max(initial=0) < 256
    assert outcomes["error"] > 0


def test_corrupted_valid_payload_is_mostly_detected(correlated) -> None:
    model = CodeEntropyModel.fit([correlated(3, 2000)], 256)
    data = bytearray(model.encode(correlated(3, 200)))
    detected = 0
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x10
        try:
            model.decode(bytes(bad), 3, 200)
        except PayloadError:
            detected += 1
    assert detected > 0.9 * len(data)


def test_lying_frame_count_is_refused_without_decoding() -> None:
    rng = np.random.default_rng(0)
    model = CodeEntropyModel.fit([rng.integers(0, 256, (2, 1000))], 256)
    with pytest.raises(PayloadError, match="cannot hold"):
        model.decode(b"\x00\x00\x00\x00\x00\x00\x00\x01", 2, 10**12)


def test_decode_errors_are_bitstream_errors() -> None:
    assert issubclass(PayloadError, BitstreamError)
    rng = np.random.default_rng(0)
    model = CodeEntropyModel.fit([rng.integers(0, 16, (1, 100))], 16)
    with pytest.raises(PayloadError, match="whole number of words"):
        model.decode(b"\x01\x02\x03", 1, 1)
    with pytest.raises(PayloadError):
        model.decode(b"\x00\x00\x00\x05\x00\x00\x00\x00", 1, 1)  # ends in a zero word


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        (np.zeros((2, 3, 4), dtype=np.int64), "shape"),
        (np.full((1, 3), 16), r"\[0, 16\)"),
        (np.full((1, 3), -1), r"\[0, 16\)"),
        (np.zeros((1, 3)), "integers"),
    ],
)
def test_encode_rejects_invalid_codes(codes: np.ndarray, message: str) -> None:
    rng = np.random.default_rng(0)
    model = CodeEntropyModel.fit([rng.integers(0, 16, (1, 100))], 16)
    with pytest.raises(ValueError, match=message):
        model.encode(codes)
