"""CodecConfig validation and serialisation, nominal bitrates, and the name-keyed registry."""

from __future__ import annotations

import math

import pytest

from cplxcodec.models import CodecConfig, available_configs, get_config, register_config

ALL = available_configs()


def test_registry_lists_the_documented_configs() -> None:
    for name in ("speech16k", "speech16k-real", "speech16k-causal", "audio24k"):
        assert name in ALL
    assert ALL == sorted(ALL)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("target", [6.0, 12.0])
def test_nominal_bitrate_within_3_percent(name: str, target: float) -> None:
    cfg = get_config(name)
    k = cfg.stages_for_kbps(target)
    # recompute from first principles, not through cfg.kbps()
    nominal = cfg.sample_rate / cfg.hop_length * k * math.log2(cfg.codebook_size) / 1000.0
    assert abs(nominal - target) <= 0.03 * target, (name, k, nominal)
    assert 1 <= k <= cfg.n_stages
    assert cfg.kbps(k) == pytest.approx(nominal)


@pytest.mark.parametrize("name", ALL)
def test_supported_kbps_lists_one_rate_per_stage(name: str) -> None:
    cfg = get_config(name)
    rates = cfg.supported_kbps
    assert len(rates) == cfg.n_stages
    assert all(b > a for a, b in zip(rates, rates[1:]))
    for k, r in enumerate(rates, start=1):
        assert cfg.stages_for_kbps(r) == k


@pytest.mark.parametrize("bad", [7.3, 0.4, 100.0, 25.0])
def test_unsupported_bitrate_error_lists_supported_ones(bad: float) -> None:
    cfg = get_config("speech16k")
    with pytest.raises(ValueError, match="not supported") as err:
        cfg.stages_for_kbps(bad)
    msg = str(err.value)
    assert "supported" in msg and "speech16k" in msg
    listed = msg.split("supported:")[1]
    for k in (1, 6, 12):
        assert f"{cfg.supported_kbps[k - 1]:g}" in listed


@pytest.mark.parametrize("name", ["speech16k", "speech16k-paper", "audio24k", "audio44k"])
@pytest.mark.parametrize("kbps", [6, 12])
def test_code_rate_sits_just_under_the_advertised_bitrate(name: str, kbps: int) -> None:
    """The hop leaves ~2.4 % headroom: codes + a 142-byte header on 10 s stay under nominal."""
    cfg = get_config(name)
    code_kbps = cfg.kbps(cfg.stages_for_kbps(kbps))
    assert 0.97 * kbps <= code_kbps < kbps
    assert code_kbps + 142 * 8 / 10.0 / 1000 <= kbps


@pytest.mark.parametrize("bad", [0, -6, float("nan"), float("inf"), "6", None])
def test_non_positive_or_non_numeric_bitrate_is_rejected(bad) -> None:
    with pytest.raises(ValueError, match="positive number"):
        get_config("speech16k").stages_for_kbps(bad)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"freq_strides": (3, 4)}, "even"),
        ({"freq_strides": (1, 4)}, "even"),
        ({"freq_strides": (8, 8, 8), "channels": (8, 8, 8)}, "divisible by prod"),
        ({"channels": (16,)}, "one entry per level"),
        ({"dec_channels": (16,)}, "dec_channels"),
        ({"hop_length": 300}, "at most n_fft/2"),
        ({"hop_length": 0}, "positive"),
        ({"sample_rate": -16000}, "positive"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"channels": (18, 32)}, "attn_heads"),
        ({"dec_channels": (24, 50)}, "attn_heads"),
        ({"codebook_size": 1}, "codebook_size"),
        ({"n_stages": 0}, "n_stages"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"activation": "relu"}, "activation"),
        ({"kind": "quaternion"}, "kind"),
        ({"quantizer_dropout": 1.5}, "quantizer_dropout"),
        ({"quantizer_dropout_stages": ()}, "quantizer_dropout_stages"),
        ({"quantizer_dropout_stages": (0, 6)}, r"quantizer_dropout_stages.*\[1, 12\]"),
        ({"quantizer_dropout_stages": (6, 13)}, "quantizer_dropout_stages"),
        ({"quantizer_dropout_stages": (6.0,)}, "quantizer_dropout_stages"),
    ],
)
def test_invalid_settings_name_the_problem(changes: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CodecConfig(**changes)


def test_default_and_registered_configs_are_valid() -> None:
    CodecConfig().validate()
    for name in ALL:
        get_config(name).validate()


def test_from_dict_rejects_unknown_keys_and_non_mappings() -> None:
    d = get_config("speech16k").to_dict()
    with pytest.raises(ValueError, match=r"unknown codec config keys: \['bogus', 'n_stage'\]"):
        CodecConfig.from_dict({**d, "bogus": 1, "n_stage": 3})
    with pytest.raises(TypeError, match="mapping"):
        CodecConfig.from_dict([("n_stages", 3)])
    with pytest.raises(ValueError, match="even"):
        CodecConfig.from_dict({**d, "freq_strides": [5, 4]})


@pytest.mark.parametrize("name", ALL)
def test_dict_round_trip(name: str) -> None:
    cfg = get_config(name)
    d = cfg.to_dict()
    assert all(not isinstance(v, tuple) for v in d.values())  # plain JSON/YAML types
    back = CodecConfig.from_dict(d)
    assert back == cfg
    assert back.name == name


def test_from_dict_coerces_lists_to_tuples() -> None:
    cfg = CodecConfig.from_dict({"channels": [8, 16], "freq_strides": [8, 4], "dilations": [1]})
    assert cfg.channels == (8, 16) and cfg.freq_strides == (8, 4) and cfg.dilations == (1,)


def test_get_config_unknown_name_lists_available() -> None:
    with pytest.raises(KeyError, match="speech16k"):
        get_config("no-such-model")


def test_get_config_returns_a_fresh_copy() -> None:
    a = get_config("speech16k")
    a.n_stages = 3
    a.extra["x"] = 1
    b = get_config("speech16k")
    assert b.n_stages == 12 and b.extra == {}
    assert b.name == "speech16k"


def test_duplicate_registration_is_an_error() -> None:
    with pytest.raises(ValueError, match="already registered"):

        @register_config("speech16k")
        def _again() -> CodecConfig:  # pragma: no cover - never registered
            return CodecConfig()

    assert get_config("speech16k").channels == (16, 32)


def test_variants_differ_from_speech16k_only_where_documented() -> None:
    base = get_config("speech16k").to_dict()
    real = get_config("speech16k-real").to_dict()
    causal = get_config("speech16k-causal").to_dict()
    assert {k for k in base if base[k] != real[k]} == {"name", "kind"}
    assert {k for k in base if base[k] != causal[k]} == {"name", "causal"}
    assert real["kind"] == "real" and causal["causal"] is True


def test_derived_sizes() -> None:
    cfg = get_config("speech16k")
    assert cfg.n_bins == 256
    assert cfg.bottleneck_bins == 256 // (8 * 4)
    assert cfg.frame_rate == pytest.approx(16000 / 164)
    assert cfg.bits_per_code == 10.0
    assert cfg.decoder_channels == (24, 48)
    assert CodecConfig(channels=(8, 16), freq_strides=(8, 4)).decoder_channels == (8, 16)


def test_weighted_dropout_stages_round_trip_and_old_files_load() -> None:
    cfg = CodecConfig(quantizer_dropout_stages=[6, 6, 12])
    assert cfg.quantizer_dropout_stages == (6, 6, 12)
    d = cfg.to_dict()
    assert d["quantizer_dropout_stages"] == [6, 6, 12]
    assert CodecConfig.from_dict(d) == cfg
    # a model file written before the field existed has no key: the uniform default
    del d["quantizer_dropout_stages"]
    assert CodecConfig.from_dict(d).quantizer_dropout_stages is None
