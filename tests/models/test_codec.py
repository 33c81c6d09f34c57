"""The codec's signal path: shapes and dtypes, the codes API, bad input, causality, the real twin.

Untrained models are enough here (their quantizers are k-means initialised on one signal where
codes must be informative); training behaviour is in ``test_overfit.py``.
"""

from __future__ import annotations

import _support
import numpy as np
import pytest
import torch

from cplxcodec.audio import AudioError
from cplxcodec.models import CodecConfig, CodecOutput, ComplexCodec, get_config
from cplxcodec.signals import chirp, noise, speech_like


def tiny_config(**overrides) -> CodecConfig:
    return _support.tiny_config(**{"name": "tiny-codec", **overrides})


def _wave(seconds: float, sample_rate: int = 16000, batch: int = 1, seed: int = 0) -> torch.Tensor:
    x = np.stack([speech_like(seconds, sample_rate, seed=seed + b) for b in range(batch)])
    return torch.from_numpy(x).unsqueeze(1)


def _init_quantizer(model: ComplexCodec, wav: torch.Tensor) -> ComplexCodec:
    """k-means-initialise every stage on ``wav``'s latents (otherwise codes are near-constant)."""
    with torch.no_grad():
        model.quantizer.train()(model.encode_latent(model.analysis(wav)))
    return model.eval()


CONFIGS = {
    "speech16k": lambda: get_config("speech16k"),
    "audio24k": lambda: get_config("audio24k"),
    "speech16k-causal": lambda: get_config("speech16k-causal"),
    "speech16k-real": lambda: get_config("speech16k-real"),
    "tiny": tiny_config,
}


@pytest.fixture(scope="module")
def tiny() -> ComplexCodec:
    torch.manual_seed(0)
    model = ComplexCodec(tiny_config())
    return _init_quantizer(model, _wave(1.0, batch=2))


# ------------------------------------------------------------------------------ shapes, dtypes
@pytest.mark.parametrize("name", list(CONFIGS))
def test_shapes_and_dtypes_through_forward_encode_decode(name: str) -> None:
    cfg = CONFIGS[name]()
    model = ComplexCodec(cfg).eval()
    sr, hop, k_all = cfg.sample_rate, cfg.hop_length, cfg.n_stages
    wav = _wave(0.25, sr, batch=2)
    t = wav.shape[-1]
    n = t // hop + 1
    with torch.no_grad():
        out = model(wav)
    assert isinstance(out, CodecOutput)
    assert out.wav.shape == (2, 1, t) and out.wav.dtype == torch.float32
    assert out.spec.shape == out.spec_hat.shape == (2, 1, cfg.n_fft // 2, n)
    assert out.spec.dtype == out.spec_hat.dtype == torch.complex64
    assert out.codes.shape == (2, k_all, n) and out.codes.dtype == torch.int64
    assert out.commit_loss.shape == () and torch.isfinite(out.commit_loss)
    assert out.usage.shape == out.perplexity.shape == (k_all,)
    assert out.n_active.tolist() == [k_all, k_all]
    assert torch.isfinite(out.wav).all()

    c6, c12 = model.encode(wav, 6, beam=1), model.encode(wav, 12, beam=1)
    assert c6.shape == (2, cfg.stages_for_kbps(6), n) and c6.dtype == torch.int64
    assert c12.shape == (2, cfg.stages_for_kbps(12), n)
    assert int(c12.min()) >= 0 and int(c12.max()) < cfg.codebook_size
    assert torch.equal(c12[:, : c6.shape[1]], c6)  # greedy residual VQ: lower rate is a prefix
    assert torch.equal(c12, out.codes)  # eval forward quantizes like greedy encode
    b6 = model.encode(wav, 6)  # default: beam search (ENCODE_BEAM)
    assert b6.shape == c6.shape and b6.dtype == torch.int64
    assert int(b6.min()) >= 0 and int(b6.max()) < cfg.codebook_size

    y = model.decode(c6, length=t)
    assert y.shape == (2, 1, t) and y.dtype == torch.float32 and torch.isfinite(y).all()
    assert model.decode(c6).shape == (2, 1, (n - 1) * hop)

    if cfg.kind == "complex":
        assert any(p.is_complex() for p in model.parameters())
        assert model.encode_latent(model.analysis(wav)).dtype == torch.complex64
    else:
        assert not any(p.is_complex() for p in model.parameters())
        z = model.encode_latent(model.analysis(wav))
        assert z.dtype == torch.complex64 and z.shape == (2, cfg.latent_dim, n)


def test_properties_mirror_the_config(tiny) -> None:
    cfg = tiny.config
    assert tiny.sample_rate == cfg.sample_rate and tiny.n_stages == cfg.n_stages
    assert tiny.codebook_size == cfg.codebook_size and tiny.frame_rate == 100.0
    assert tiny.min_length() == cfg.n_fft // 2 + 1


def test_default_constructor_builds_a_valid_model() -> None:
    model = ComplexCodec()
    assert model.config == CodecConfig()
    assert model.num_parameters() > 0


# ------------------------------------------------------------------------------ stages
def test_every_number_of_stages_decodes(tiny) -> None:
    wav = _wave(0.5, seed=7)
    t = wav.shape[-1]
    codes = tiny.quantizer.encode(tiny.encode_latent(tiny.analysis(wav)))
    assert codes.shape[1] == tiny.n_stages
    for k in range(1, tiny.n_stages + 1):
        y = tiny.decode(codes[:, :k], length=t)
        assert y.shape == (1, 1, t) and torch.isfinite(y).all()
        with torch.no_grad():
            fwd = tiny(wav, n_stages=k)
        assert torch.equal(fwd.codes, codes[:, :k])
        torch.testing.assert_close(fwd.wav, y, rtol=1e-4, atol=1e-5)


def test_encode_with_kbps_matches_stage_count(tiny) -> None:
    wav = _wave(0.3)
    for k in (1, 5, 12):
        kbps = tiny.config.kbps(k)
        assert tiny.encode(wav, kbps).shape[1] == k


def test_unsupported_kbps_is_rejected_with_the_supported_list(tiny) -> None:
    with pytest.raises(ValueError, match="supported: .*kbps"):
        tiny.encode(_wave(0.3), 7.5)


def _level_sensitivity(model: ComplexCodec, gain: float = 0.25) -> float:
    """``|z(x) - z(g x)|² / |z(x) - z(0)|²``: 0 for a level-invariant encoder, about
    ``(1 - g**alpha)²`` for one that is homogeneous in the compressed spectrum (biases cancel)."""
    wav = _wave(0.5)
    with torch.no_grad():
        z1, z2, z0 = (model.encode_latent(model.analysis(w)) for w in (wav, wav * gain, wav * 0))
    return float((z1 - z2).abs().square().mean() / (z1 - z0).abs().square().mean())


@pytest.mark.parametrize("kind", ["complex", "real"])
def test_encoder_latent_carries_the_input_level(kind: str) -> None:
    """A codec must transmit loudness: x and x/4 may not map to the same latent.

    Without attention the encoder is positively homogeneous up to its biases, so the
    input-dependent part of the latent scales like the compressed spectrum, by
    0.25**alpha ≈ 0.66 (sensitivity ≈ 0.11). Fully whitening per-frame norms on the signal path
    made it level-invariant (≈ 1e-5).
    """
    torch.manual_seed(0)
    model = ComplexCodec(tiny_config(kind=kind, attn_layers=0)).eval()
    assert _level_sensitivity(model) > 0.05
    # with attention (pre-norm residual blocks, level-free at initialisation) still visible
    full = ComplexCodec(get_config("speech16k" if kind == "complex" else "speech16k-real"))
    assert _level_sensitivity(full.eval()) > 1e-3


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_samples_are_rejected(tiny, bad: float) -> None:
    wav = _wave(0.3)
    wav[0, 0, 1234] = bad
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        tiny.encode(wav, 6)
    with pytest.raises(ValueError, match="NaN or infinite"):
        tiny(wav)


def test_silence_gives_finite_output_and_gradients(tiny) -> None:
    wav = torch.zeros(1, 1, 8000)
    codes = tiny.encode(wav, 6)
    y = tiny.decode(codes, length=8000)
    assert y.shape == (1, 1, 8000) and torch.isfinite(y).all()
    model = ComplexCodec(tiny_config()).train()
    out = model(torch.zeros(2, 1, 8000))
    assert torch.isfinite(out.wav).all() and torch.isfinite(out.spec_hat).all()
    (out.wav.square().mean() + out.commit_loss).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("length", [1, 100, 256])
def test_too_short_audio_is_padded_by_encode(tiny, length: int) -> None:
    wav = _wave(0.1)[..., :length]
    codes = tiny.encode(wav, 6)
    assert codes.shape == (1, 6, tiny.min_length() // tiny.config.hop_length + 1)
    y = tiny.decode(codes, length=length)
    assert y.shape == (1, 1, length) and torch.isfinite(y).all()
    with pytest.raises(ValueError, match="too short"):
        tiny(wav)


@pytest.mark.parametrize(
    ("wav", "error", "match"),
    [
        (torch.zeros(2, 16000), ValueError, r"\(B, 1, T\)"),
        (torch.zeros(1, 2, 16000), ValueError, "mono"),
        (torch.zeros(16000), ValueError, r"\(B, 1, T\)"),
        (torch.zeros(1, 1, 1, 16000), ValueError, r"\(B, 1, T\)"),
        (torch.zeros(1, 1, 0), ValueError, "empty"),
        (torch.zeros(1, 1, 1000, dtype=torch.int16), TypeError, "floating-point"),
        (torch.zeros(1, 1, 1000, dtype=torch.complex64), TypeError, "real"),
        (np.zeros((1, 1, 1000), dtype=np.float32), TypeError, "torch.Tensor"),
    ],
)
def test_wrong_input_is_a_clear_error(tiny, wav, error, match) -> None:
    with pytest.raises(error, match=match):
        tiny.encode(wav, 6)
    with pytest.raises(error, match=match):
        tiny(wav)


@pytest.mark.parametrize(
    ("codes", "error", "match"),
    [
        (torch.zeros(6, 10, dtype=torch.long), ValueError, r"\(B, K, N\)"),
        (torch.zeros(1, 13, 10, dtype=torch.long), ValueError, "stages"),
        (torch.full((1, 2, 10), 1024, dtype=torch.long), ValueError, r"\[0, 1024\)"),
        (torch.full((1, 2, 10), -1, dtype=torch.long), ValueError, r"\[0, 1024\)"),
        (torch.zeros(1, 2, 10), TypeError, "integer"),
    ],
)
def test_bad_codes_are_a_clear_error(tiny, codes, error, match) -> None:
    with pytest.raises(error, match=match):
        tiny.decode(codes)


def test_compress_resamples_other_rates_and_returns_the_input_rate_and_length() -> None:
    model = ComplexCodec(get_config("speech16k")).eval()
    x8 = speech_like(0.5, 8000)
    data = model.compress(x8, 8000, 6)
    y, sr = model.decompress(data)
    assert sr == 8000 and tuple(y.shape) == (1, 4000) and y.dtype == torch.float32
    assert torch.isfinite(y).all()
    stereo = np.stack([chirp(0.3, 44100), noise(0.3, 44100)])
    y2, sr2 = model.decompress(model.compress(stereo, 44100, 12))
    assert sr2 == 44100 and tuple(y2.shape) == (2, stereo.shape[1])
    with pytest.raises(AudioError):
        model.compress(np.zeros((1, 2, 100), np.float32), 16000, 6)


# ------------------------------------------------------------------------------ causality
def _codes_latent_output(model: ComplexCodec, wav: torch.Tensor):
    with torch.no_grad():
        z = model.encode_latent(model.analysis(wav))
    codes = model.quantizer.encode(z)
    return codes, z, model.decode(codes, length=wav.shape[-1])


def test_causal_model_ignores_future_samples() -> None:
    cfg = get_config("speech16k-causal")
    torch.manual_seed(0)
    wav = _wave(0.6, seed=3)
    model = _init_quantizer(ComplexCodec(cfg), wav)
    hop, n_fft = cfg.hop_length, cfg.n_fft
    t0 = 6400  # change everything from frame 40 on
    other = wav.clone()
    other[..., t0:] = torch.from_numpy(noise(0.6, seed=5, level=0.3)[: wav.shape[-1] - t0])
    safe_frames = t0 // hop - -(-n_fft // hop)  # frames whose STFT window ends before t0
    safe_samples = t0 - 2 * n_fft  # samples made only from those frames

    c1, z1, y1 = _codes_latent_output(model, wav)
    c2, z2, y2 = _codes_latent_output(model, other)
    assert torch.equal(c1[..., :safe_frames], c2[..., :safe_frames])
    torch.testing.assert_close(z1[..., :safe_frames], z2[..., :safe_frames], rtol=0, atol=1e-6)
    torch.testing.assert_close(y1[..., :safe_samples], y2[..., :safe_samples], rtol=0, atol=1e-6)
    # the change does reach the later frames and samples
    assert not torch.equal(c1[..., t0 // hop + 2 :], c2[..., t0 // hop + 2 :])
    assert (y1[..., t0:] - y2[..., t0:]).abs().max() > 1e-3

    # the same weights without causality see the future: the check above can fail
    acausal = ComplexCodec(get_config("speech16k"))
    acausal.load_state_dict(model.state_dict())
    acausal.eval()
    _, za, ya = _codes_latent_output(acausal, wav)
    _, zb, yb = _codes_latent_output(acausal, other)
    assert (za[..., :safe_frames] - zb[..., :safe_frames]).abs().max() > 1e-4
    assert (ya[..., :safe_samples] - yb[..., :safe_samples]).abs().max() > 1e-5


# ------------------------------------------------------------------------------ real twin
TWIN_CONFIGS = {
    "speech16k": lambda: get_config("speech16k"),
    "audio24k": lambda: get_config("audio24k"),
    "speech16k-causal": lambda: get_config("speech16k-causal"),
    # single-head tiny model: widths are free integers (4 heads would round them to 4 or 8)
    "tiny": lambda: tiny_config(attn_heads=1),
}


@pytest.mark.parametrize("name", list(TWIN_CONFIGS))
def test_real_twin_parameter_count_within_10_percent(name: str) -> None:
    cfg = TWIN_CONFIGS[name]()
    complex_model = ComplexCodec(cfg)
    real_model = ComplexCodec(CodecConfig.from_dict({**cfg.to_dict(), "kind": "real"}))
    pc, pr = complex_model.num_parameters(), real_model.num_parameters()
    assert abs(pr - pc) <= 0.10 * pc, (pc, pr)
    # num_parameters counts a complex parameter twice
    plain = sum(p.numel() for p in complex_model.parameters())
    n_complex = sum(p.numel() for p in complex_model.parameters() if p.is_complex())
    assert n_complex > 0 and pc == plain + n_complex
    assert real_model.num_parameters() == sum(p.numel() for p in real_model.parameters())


def test_registered_real_twin_matches_speech16k() -> None:
    pc = ComplexCodec(get_config("speech16k")).num_parameters()
    pr = ComplexCodec(get_config("speech16k-real")).num_parameters()
    assert abs(pr - pc) <= 0.10 * pc
