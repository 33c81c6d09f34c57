"""The evaluation driver with a stand-in codec."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf

from cplxcodec.analysis import (
    Baseline,
    CodecLike,
    EvalRecord,
    EvalResult,
    evaluate,
    find_audio_files,
    si_sdr,
)
from cplxcodec.signals import chirp, speech_like

SR = 16000


def _cheap(ref: np.ndarray, dec: np.ndarray, sr: int) -> dict[str, float]:
    return {"si_sdr": si_sdr(ref, dec), "nan_metric": math.nan}


def test_fake_codec_satisfies_protocol(fake_codec) -> None:
    assert isinstance(fake_codec, CodecLike)
    assert not isinstance(object(), CodecLike)
    with pytest.raises(TypeError, match="roundtrip"):
        evaluate(object(), [np.zeros(10)], [6], sample_rate=SR, progress=False)


def test_records_aggregate_and_json_roundtrip(fake_codec) -> None:
    items = {"speech": speech_like(1.0, SR), "chirp": chirp(1.0, SR)}
    res = evaluate(fake_codec, items, [6, 12], metrics_fn=_cheap, progress=False)
    assert len(res.records) == 4 and res.sample_rate == SR
    assert res.items() == ["speech", "chirp"] and res.codecs() == ["cplxcodec"]
    assert fake_codec.calls == [6, 12, 6, 12]
    agg = res.aggregate()["cplxcodec"]
    expected = np.mean([r.metrics["si_sdr"] for r in res.records if r.kbps == 12])
    assert agg[12.0]["si_sdr"] == pytest.approx(expected)
    assert agg[12.0]["actual_kbps"] == pytest.approx(12.6)
    assert math.isnan(agg[6.0]["nan_metric"])
    rates, quality = res.rd_curve("cplxcodec", "si_sdr")
    assert rates.tolist() == pytest.approx([6.3, 12.6])
    assert quality[1] > quality[0]  # the fake codec is better at more kbps
    text = res.to_json()
    d = json.loads(text)  # strict JSON: NaN became null
    assert d["records"][0]["metrics"]["nan_metric"] is None
    back = EvalResult.from_json(text)
    assert back.aggregate()["cplxcodec"][12.0]["si_sdr"] == pytest.approx(expected)


def test_bd_rates_between_codecs() -> None:
    recs = []
    for codec, scale in (("a", 1.0), ("b", 0.7)):
        for k, q in ((3, 1.5), (6, 2.5), (12, 3.3), (24, 4.0)):
            recs.append(EvalRecord("x", codec, k, k * scale, {"pesq_wb": q}))
    res = EvalResult(recs, SR, [3, 6, 12, 24])
    assert res.bd_rates("a")["b"] == pytest.approx(-30.0, abs=1e-9)
    # a request that an anchor runs at a rate it already has (clamped) adds no point
    recs.append(EvalRecord("x", "a", 2, 3.0, {"pesq_wb": 1.5}))
    res = EvalResult(recs, SR, [2, 3, 6, 12, 24])
    assert res.rd_curve("a", "pesq_wb")[0].tolist() == [3.0, 6.0, 12.0, 24.0]
    assert res.bd_rates("a", method="pchip")["b"] == pytest.approx(-30.0, abs=1e-9)
    assert res.bd_rates("b")["a"] == pytest.approx(100 * (1 / 0.7 - 1), abs=1e-9)


def test_unavailable_baseline_is_skipped_with_warning(fake_codec) -> None:
    class Missing(Baseline):
        name = "missing"
        tools = ("cplxcodec-no-such-tool-xyz",)

        def _roundtrip(self, tmp, x, sr, kbps):  # pragma: no cover - never reached
            raise AssertionError

    with pytest.warns(UserWarning, match="skipping baseline"):
        res = evaluate(fake_codec, [speech_like(0.5, SR)], [6], baselines=[Missing()],
                       metrics_fn=_cheap, progress=False)
    assert "missing" in res.skipped and res.codecs() == ["cplxcodec"]


def test_files_are_read_mono_and_resampled(tmp_path, fake_codec) -> None:
    stereo = np.stack([speech_like(1.0, 22050), speech_like(1.0, 22050, seed=1)], axis=1)
    sf.write(tmp_path / "b.wav", stereo, 22050)
    (tmp_path / "sub").mkdir()
    sf.write(tmp_path / "sub" / "a.flac", stereo[:, 0], 22050)
    (tmp_path / "notes.txt").write_text("not audio")
    files = find_audio_files(tmp_path)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["b.wav", "sub/a.flac"]
    res = evaluate(fake_codec, files, [6], metrics_fn=_cheap, progress=False)
    assert res.sample_rate == fake_codec.sample_rate
    assert len(res.records) == 2


def test_real_metrics_improve_with_rate(fake_codec) -> None:
    res = evaluate(fake_codec, [speech_like(1.5, SR)], [3, 12], progress=False)
    agg = res.aggregate()["cplxcodec"]
    assert agg[12.0]["pesq_wb"] > agg[3.0]["pesq_wb"]
    assert agg[12.0]["mel_distance"] < agg[3.0]["mel_distance"]


def test_bad_arguments(fake_codec) -> None:
    with pytest.raises(ValueError, match="empty"):
        evaluate(fake_codec, [np.zeros(10)], [], progress=False)
    with pytest.raises(ValueError, match="positive"):
        evaluate(fake_codec, [np.zeros(10)], [0], progress=False)
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate(None, [np.zeros(10)], [6], baselines=[], progress=False)

    class Rateless:
        def roundtrip(self, wav, sample_rate, kbps):
            return wav, kbps

    with pytest.raises(ValueError, match="sample_rate"):
        evaluate(Rateless(), [np.zeros(10)], [6], progress=False)
    res = evaluate(Rateless(), [speech_like(0.5, SR)], [6], sample_rate=SR, metrics_fn=_cheap,
                   progress=False)
    assert res.records[0].metrics["si_sdr"] > 100
