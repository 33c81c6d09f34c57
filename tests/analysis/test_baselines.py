"""Classical baselines through their command-line tools (skipped where a tool is missing)."""

from __future__ import annotations

import numpy as np
import pytest

from cplxcodec.analysis import (
    BASELINES,
    Baseline,
    BaselineUnavailable,
    available_baselines,
    estimate_delay,
    get_baseline,
    si_sdr,
)
from cplxcodec.signals import noise, speech_like

SR = 16000
REQUEST = {"opus": 12.0, "amrwb": 12.0, "speex": 12.0, "codec2": 3.2}
WAVEFORM_CODECS = {"opus", "amrwb", "speex"}


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_roundtrip_two_seconds(name: str) -> None:
    baseline = get_baseline(name)
    if not baseline.available():
        pytest.skip(f"{name}: missing {', '.join(baseline.missing())}")
    x = speech_like(2.0, SR, seed=1)
    kbps = REQUEST[name]
    decoded, actual = baseline.roundtrip(x, SR, kbps)
    assert decoded.dtype == np.float32 and decoded.shape == x.shape
    assert np.all(np.isfinite(decoded)) and np.abs(decoded).max() > 0.05
    nominal = baseline.select_rate(kbps)
    assert nominal <= kbps
    # file bitrate including the container; a 2 s file carries some header overhead
    assert 0.75 * nominal < actual < 1.3 * nominal
    if name in WAVEFORM_CODECS:  # waveform-matching and delay-compensated
        assert si_sdr(x, decoded) > 3.0


def test_baseline_at_another_sample_rate() -> None:
    baseline = get_baseline("opus")
    if not baseline.available():
        pytest.skip("opus-tools missing")
    x = speech_like(1.0, 22050)
    decoded, actual = baseline(x, 22050, 16)
    assert decoded.shape == x.shape and actual > 8
    assert si_sdr(x, decoded) > 5.0


@pytest.mark.parametrize(
    "name, kbps, expected",
    [
        ("amrwb", 12.0, 8.85),
        ("amrwb", 24.0, 23.85),
        ("amrwb", 3.0, 6.6),
        ("speex", 12.0, 9.8),
        ("speex", 3.0, 3.95),
        ("codec2", 6.0, 3.2),
        ("codec2", 1.25, 1.2),
        ("opus", 3.0, 6.0),
        ("opus", 10.5, 10.5),
    ],
)
def test_rate_selection(name: str, kbps: float, expected: float) -> None:
    assert get_baseline(name).select_rate(kbps) == pytest.approx(expected)


def test_missing_tool_raises_baseline_unavailable() -> None:
    class Nope(Baseline):
        name = "nope"
        tools = ("cplxcodec-no-such-tool-xyz",)

        def _roundtrip(self, tmp, x, sr, kbps):  # pragma: no cover - never reached
            raise AssertionError

    b = Nope()
    assert not b.available() and b.missing() == ["cplxcodec-no-such-tool-xyz"]
    with pytest.raises(BaselineUnavailable, match="cplxcodec-no-such-tool-xyz"):
        b.roundtrip(np.zeros(100, np.float32), SR, 6)


def test_registry() -> None:
    assert set(available_baselines()) <= set(BASELINES)
    assert get_baseline(" Opus ").name == "opus"
    with pytest.raises(ValueError, match="unknown baseline"):
        get_baseline("mp3")
    with pytest.raises(ValueError, match="positive"):
        get_baseline("opus").select_rate(0)


def test_estimate_delay() -> None:
    x = speech_like(1.0, SR, seed=2).astype(np.float64)
    late = np.concatenate([np.zeros(123), x])
    assert estimate_delay(x, late, SR) == 123
    assert estimate_delay(x, x, SR) == 0
    # unrelated signal: no trustworthy peak, no shift
    assert estimate_delay(x, noise(1.0, SR, seed=9).astype(np.float64), SR) == 0
