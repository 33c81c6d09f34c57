"""STFT/iSTFT perfect reconstruction and power-law compression."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cplxcodec.functional import istft, num_frames, power_compress, power_decompress, stft
from cplxcodec.signals import chirp, speech_like


@pytest.mark.parametrize("n_fft,hop", [(512, 160), (640, 160), (320, 80), (1024, 256)])
def test_istft_stft_is_identity(n_fft, hop):
    x = torch.from_numpy(speech_like(0.73, 16000)).view(1, 1, -1).repeat(2, 2, 1)
    x[1, 1] = torch.from_numpy(chirp(0.73, 16000))
    spec = stft(x, n_fft, hop)
    assert spec.shape == (2, 2, n_fft // 2 + 1, num_frames(x.shape[-1], hop))
    assert spec.dtype == torch.complex64
    y = istft(spec, n_fft, hop, length=x.shape[-1])
    assert (y - x).abs().max() < 1e-5


@settings(max_examples=25, deadline=None)
@given(length=st.integers(min_value=300, max_value=4000), seed=st.integers(0, 10_000))
def test_stft_round_trip_property(length, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 1, length, generator=g) * 0.3
    y = istft(stft(x, 512, 128), 512, 128, length=length)
    assert (y - x).abs().max() < 1e-5


def test_stft_is_energy_normalised():
    x = torch.randn(1, 1, 16000)
    for n_fft in (256, 1024):
        spec = stft(x, n_fft, n_fft // 4)
        per_bin = spec[..., 1:-1, 2:-2].abs().square().mean()
        # E|X|^2 = (1/n) * sum(hann^2) = 3/8 for unit-variance white noise, whatever n_fft
        assert per_bin.item() == pytest.approx(0.375, rel=0.05)


def test_stft_errors():
    with pytest.raises(ValueError, match="too short"):
        stft(torch.zeros(1, 1, 100), 512, 128)
    with pytest.raises(ValueError, match=r"\(B, C, T\)"):
        stft(torch.zeros(1, 1000), 512, 128)
    with pytest.raises(TypeError, match="real"):
        stft(torch.zeros(1, 1, 1000, dtype=torch.cfloat), 512, 128)
    with pytest.raises(ValueError, match="bins"):
        istft(torch.zeros(1, 1, 100, 5, dtype=torch.cfloat), 512, 128)


@settings(max_examples=30, deadline=None)
@given(alpha=st.floats(0.1, 1.0), seed=st.integers(0, 1000))
def test_power_compression_round_trip_keeps_phase(alpha, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.complex(torch.randn(64, generator=g), torch.randn(64, generator=g)) * 3
    y = power_compress(x, alpha)
    torch.testing.assert_close(y.abs(), x.abs() ** alpha, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(torch.angle(y), torch.angle(x), rtol=0, atol=1e-5)
    torch.testing.assert_close(power_decompress(y, alpha), x, rtol=1e-3, atol=1e-5)


def test_power_compression_finite_gradient_at_zero():
    x = torch.zeros(4, dtype=torch.cdouble, requires_grad=True)
    power_compress(x, 0.3).abs().sum().backward()
    assert torch.isfinite(torch.view_as_real(x.grad)).all()
    assert torch.equal(
        power_compress(torch.zeros(3, dtype=torch.cfloat)), torch.zeros(3, dtype=torch.cfloat)
    )
    with pytest.raises(ValueError, match="alpha"):
        power_compress(x, 1.5)
    with pytest.raises(TypeError, match="complex"):
        power_compress(torch.zeros(3))
