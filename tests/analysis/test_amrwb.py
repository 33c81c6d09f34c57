"""AMR-WB through the system libraries (skipped where libvo-amrwbenc / libopencore-amrwb are
missing; `.ci/run` installs them)."""

from __future__ import annotations

import numpy as np
import pytest

from cplxcodec.analysis import BaselineUnavailable, get_baseline, si_sdr
from cplxcodec.analysis.amrwb import (
    AMRWB_FRAME,
    AMRWB_MAGIC,
    AMRWB_MODES_KBPS,
    amrwb_missing,
    decode_awb,
    encode_awb,
)
from cplxcodec.signals import speech_like

needs_libs = pytest.mark.skipif(
    bool(amrwb_missing()), reason=f"missing {', '.join(amrwb_missing())}"
)
#: storage-format frame size in bytes (header byte included) of each mode, from RFC 4867
FRAME_BYTES = (18, 24, 33, 37, 41, 47, 51, 59, 61)


def _pcm(seconds: float = 1.0, seed: int = 3) -> np.ndarray:
    x = speech_like(seconds, 16000, seed=seed)
    return np.round(np.clip(x, -1, 1) * 32767).astype(np.int16)


@needs_libs
@pytest.mark.parametrize("mode", range(len(AMRWB_MODES_KBPS)))
def test_every_mode_writes_storage_format_frames(mode: int) -> None:
    pcm = _pcm(0.5)  # 8000 samples = 25 frames
    data = encode_awb(pcm, mode)
    n_frames = -(-pcm.size // AMRWB_FRAME)
    assert data.startswith(AMRWB_MAGIC)
    assert len(data) == len(AMRWB_MAGIC) + n_frames * FRAME_BYTES[mode]
    assert (data[len(AMRWB_MAGIC)] >> 3) & 0x0F == mode  # frame type of the first header
    y = decode_awb(data)
    assert y.dtype == np.int16 and y.size == n_frames * AMRWB_FRAME


@needs_libs
def test_roundtrip_is_deterministic_and_follows_the_waveform() -> None:
    pcm = _pcm(1.0)
    data = encode_awb(pcm, 2)
    assert encode_awb(pcm, 2) == data
    y = decode_awb(data)
    assert np.array_equal(decode_awb(data), y)
    # more bits, closer waveform (after the codec's delay is removed by the baseline)
    base = get_baseline("amrwb")
    x = pcm.astype(np.float32) / 32768.0
    low = si_sdr(x, base.roundtrip(x, 16000, 6.6)[0])
    high = si_sdr(x, base.roundtrip(x, 16000, 23.85)[0])
    assert 3.0 < low < high


@needs_libs
def test_corrupt_files_are_refused_with_the_offset() -> None:
    data = encode_awb(_pcm(0.2), 0)
    with pytest.raises(ValueError, match="magic"):
        decode_awb(data[len(AMRWB_MAGIC) :])
    with pytest.raises(ValueError, match="truncated in the frame at byte"):
        decode_awb(data[:-5])
    bad = bytearray(data)
    bad[len(AMRWB_MAGIC) + 18] = 12 << 3  # frame type 12 is reserved
    with pytest.raises(ValueError, match="invalid AMR-WB frame type 12 at byte 27"):
        decode_awb(bytes(bad))
    assert decode_awb(AMRWB_MAGIC).size == 0


@needs_libs
def test_sid_and_no_data_frames_decode_to_one_frame_each() -> None:
    no_data, lost, sid = bytes([15 << 3 | 4]), bytes([14 << 3]), bytes([9 << 3 | 4]) + bytes(5)
    y = decode_awb(bytearray(AMRWB_MAGIC + no_data + lost + sid))  # any bytes-like input
    assert y.size == 3 * AMRWB_FRAME
    with pytest.raises(ValueError, match="truncated in the frame at byte 11"):
        decode_awb(AMRWB_MAGIC + no_data + lost + sid[:3])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="mode must be 0-8"):
        encode_awb(_pcm(0.1), 9)
    with pytest.raises(ValueError, match="int16"):
        encode_awb(np.zeros(320, np.float32), 0)


def test_missing_library_names_the_debian_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    import cplxcodec.analysis.baselines as baselines

    monkeypatch.setattr(baselines, "amrwb_missing", lambda: ["libvo-amrwbenc.so.0"])
    base = get_baseline("amrwb")
    assert not base.available()
    with pytest.raises(BaselineUnavailable, match="apt-get install libvo-amrwbenc0"):
        base.roundtrip(np.zeros(1600, np.float32), 16000, 6)
