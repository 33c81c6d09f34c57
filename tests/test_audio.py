"""Tests for cplxcodec.audio: round trips, resampling, and every AudioError rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from cplxcodec.audio import AudioError, check_audio, load_audio, resample, save_audio
from cplxcodec.signals import chirp, harmonic_tone, noise, speech_like


def _stereo(seconds: float, sr: int) -> np.ndarray:
    return np.stack([speech_like(seconds, sr, seed=1), 0.5 * chirp(seconds, sr, 100.0, sr / 4)])


@pytest.mark.parametrize("sr", [8000, 16000, 44100])
@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("ext", [".wav", ".flac"])
def test_round_trip_pcm16(tmp_path, sr, channels, ext):
    x = np.stack([speech_like(0.3, sr, seed=c) for c in range(channels)])
    path = save_audio(tmp_path / f"a{ext}", x, sr)
    y, sr2 = load_audio(path)
    assert sr2 == sr
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.max(np.abs(y - x)) <= 1.0 / 32768 + 1e-7  # one 16-bit quantisation step


def test_round_trip_float_is_exact_and_1d_becomes_one_channel(tmp_path):
    x = noise(0.2, 16000, seed=3, level=0.3)
    y, _ = load_audio(save_audio(tmp_path / "f.wav", x, 16000, subtype="FLOAT"))
    assert y.shape == (1, x.size)
    np.testing.assert_array_equal(y[0], x)


def test_round_trip_torch_tensor_and_ogg(tmp_path):
    x = torch.from_numpy(harmonic_tone(0.5, 16000))
    y, sr = load_audio(save_audio(tmp_path / "t.ogg", x, 16000, subtype="VORBIS"))
    assert sr == 16000 and y.shape == (1, x.numel())
    # lossy codec: close in energy, not sample-exact
    assert abs(np.std(y) / float(x.std()) - 1.0) < 0.1


def test_mono_downmix_is_channel_mean(tmp_path):
    x = _stereo(0.25, 16000)
    path = save_audio(tmp_path / "s.wav", x, 16000, subtype="FLOAT")
    y, _ = load_audio(path, mono=True)
    assert y.shape == (1, x.shape[1])
    np.testing.assert_allclose(y[0], x.mean(axis=0), atol=1e-7)


def test_load_resamples(tmp_path):
    x = _stereo(0.5, 44100)
    path = save_audio(tmp_path / "s.flac", x, 44100)
    y, sr = load_audio(path, sample_rate=16000)
    assert sr == 16000 and y.shape == (2, math.floor(x.shape[1] * 16000 / 44100 + 0.5))


@pytest.mark.parametrize(("sr_in", "sr_out"), [(16000, 24000), (44100, 16000), (22050, 8000)])
@pytest.mark.parametrize("n", [4000, 4001, 12345])
def test_resample_length(sr_in, sr_out, n):
    y = resample(noise(n / sr_in, sr_in, level=0.1), sr_in, sr_out)
    assert y.dtype == np.float32 and y.shape == (math.floor(n * sr_out / sr_in + 0.5),)


@pytest.mark.parametrize(("sr_in", "sr_out"), [(16000, 24000), (48000, 16000), (16000, 11025)])
def test_resample_preserves_tone_frequency(sr_in, sr_out):
    f0 = 1234.5
    t = np.arange(sr_in) / sr_in
    x = (0.5 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)
    y = resample(x, sr_in, sr_out)
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size), n=8 * y.size))
    f_peak = np.argmax(spec) * sr_out / (8 * y.size)
    assert abs(f_peak - f0) < 2.0
    mid = y[y.size // 4 : 3 * y.size // 4]
    assert abs(np.sqrt(np.mean(mid**2)) - 0.5 / np.sqrt(2)) < 0.01  # amplitude kept


def test_resample_is_deterministic_and_channelwise():
    x = _stereo(0.3, 16000)
    a, b = resample(x, 16000, 22050), resample(x, 16000, 22050)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a[1], resample(x[1], 16000, 22050), atol=1e-6)


def test_resample_same_rate_is_a_copy():
    x = noise(0.1, 16000)
    y = resample(x, 16000, 16000)
    np.testing.assert_array_equal(x, y)
    y[0] += 1.0
    assert x[0] != y[0]


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="not found.*nope.wav"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="not a regular file"):
        load_audio(tmp_path)


def test_random_bytes_named_wav(tmp_path):
    path = tmp_path / "garbage.wav"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioError, match="cannot read audio file .*garbage.wav"):
        load_audio(path)


@pytest.mark.parametrize("how", ["header_only", "zero_bytes"])
def test_empty_file(tmp_path, how):
    path = tmp_path / "empty.wav"
    if how == "header_only":
        sf.write(path, np.zeros(0, dtype=np.float32), 16000)
        with pytest.raises(AudioError, match="empty audio file.*empty.wav"):
            load_audio(path)
    else:
        path.write_bytes(b"")
        with pytest.raises(AudioError, match="empty.wav"):
            load_audio(path)


def test_truncated_flac(tmp_path):
    path = tmp_path / "cut.flac"
    sf.write(path, speech_like(2.0, 16000), 16000, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match="cut.flac"):
        load_audio(path)


def test_nan_samples_in_float_wav(tmp_path):
    x = speech_like(0.5, 16000)
    x[1600] = np.nan
    x[2000] = np.inf
    x[3000] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan.wav: 3 non-finite .*sample 1600 \(0.1000 s\)"):
        load_audio(path)


def test_check_audio_rules():
    check_audio(np.zeros(100, dtype=np.float32), "silence")  # silence is valid
    check_audio(np.zeros((2, 100)), "stereo silence")
    with pytest.raises(AudioError, match="x: expected a \\(T,\\) or \\(C, T\\).*3 dimensions"):
        check_audio(np.zeros((1, 2, 3)), "x")
    with pytest.raises(AudioError, match="transpose"):
        check_audio(np.zeros((1000, 2)), "y")
    with pytest.raises(AudioError, match="empty"):
        check_audio(np.zeros((1, 0)), "z")
    with pytest.raises(AudioError, match="real numbers"):
        check_audio(np.zeros(10, dtype=np.complex64), "c")
    x = np.zeros((2, 50), dtype=np.float32)
    x[1, 7] = -np.inf
    with pytest.raises(AudioError, match="1 non-finite.*channel 1, sample 7"):
        check_audio(torch.from_numpy(x), "t")


def test_save_refuses_overwrite_and_creates_dirs(tmp_path):
    x = speech_like(0.1, 16000)
    path = save_audio(tmp_path / "deep" / "er" / "a.wav", x, 16000)
    assert path.exists()
    with pytest.raises(AudioError, match="already exists"):
        save_audio(path, 0.5 * x, 16000)
    save_audio(path, 0.5 * x, 16000, overwrite=True)
    y, _ = load_audio(path)
    np.testing.assert_allclose(y[0], 0.5 * x, atol=1.0 / 32768)
    assert [p.name for p in path.parent.iterdir()] == ["a.wav"]  # no temporary left over


def test_save_rejects_bad_input(tmp_path):
    x = speech_like(0.1, 16000)
    with pytest.raises(AudioError, match="unsupported extension"):
        save_audio(tmp_path / "a.mp4", x, 16000)
    with pytest.raises(AudioError, match="not valid for OGG"):
        save_audio(tmp_path / "a.ogg", x, 16000)
    bad = x.copy()
    bad[3] = np.nan
    with pytest.raises(AudioError, match="non-finite"):
        save_audio(tmp_path / "n.wav", bad, 16000)
    assert not (tmp_path / "n.wav").exists()


def test_save_clips_with_warning_or_raises(tmp_path):
    x = np.array([0.0, 1.5, -2.0, 0.5], dtype=np.float32)
    with pytest.warns(UserWarning, match="clipping 2 sample"):
        path = save_audio(tmp_path / "c.wav", x, 16000)
    y, _ = load_audio(path)
    np.testing.assert_allclose(y[0], [0.0, 1.0, -1.0, 0.5], atol=1.0 / 32768)
    with pytest.raises(AudioError, match="outside"):
        save_audio(tmp_path / "d.wav", x, 16000, clip=False)
    # float files keep out-of-range values
    y, _ = load_audio(save_audio(tmp_path / "e.wav", x, 16000, subtype="FLOAT"))
    np.testing.assert_array_equal(y[0], x)
