"""``cplxcodec eval`` / ``cplxcodec report`` command functions with a stand-in codec."""

from __future__ import annotations

import json

import pytest
import soundfile as sf

from cplxcodec.analysis.commands import eval_main, report_main
from cplxcodec.signals import speech_like


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    sf.write(d / "one.wav", speech_like(1.5, 22050, seed=1), 22050)
    sf.write(d / "two.flac", speech_like(1.5, 16000, seed=2), 16000)
    return d


def test_eval_writes_json(tmp_path, data_dir, fake_codec, capsys) -> None:
    out = tmp_path / "res" / "eval.json"
    rc = eval_main(["--data", str(data_dir), "--kbps", "6", "12", "--limit", "1",
                    "--json", str(out), "--no-progress"], codec=fake_codec)
    assert rc == 0
    d = json.loads(out.read_text())
    assert len(d["records"]) == 2 and d["sample_rate"] == 16000
    assert d["records"][0]["item"].endswith("one.wav")
    assert {"pesq_wb", "stoi", "si_sdr"} <= set(d["records"][0]["metrics"])
    assert "cplxcodec" in capsys.readouterr().out
    # the output exists now: refused without --force
    rc = eval_main(["--data", str(data_dir), "--json", str(out), "--no-progress"],
                   codec=fake_codec)
    assert rc == 2 and "--force" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--data", "{tmp}/nowhere"], "data folder not found"),
        (["--data", "{tmp}/empty"], "no audio files"),
        (["--data", "{data}", "--baselines", "mp3"], "unknown baseline"),
        (["--data", "{data}", "--limit", "0"], "--limit"),
    ],
)
def test_eval_bad_input_exits_2(tmp_path, data_dir, fake_codec, capsys, extra, message) -> None:
    (tmp_path / "empty").mkdir()
    args = [a.format(tmp=tmp_path, data=data_dir) for a in extra]
    rc = eval_main([*args, "--json", str(tmp_path / "o.json"), "--no-progress"], codec=fake_codec)
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


def test_model_is_required_and_load_failure_exits_1(tmp_path, data_dir, capsys) -> None:
    assert eval_main(["--data", str(data_dir), "--json", str(tmp_path / "o.json")]) == 2
    assert "--model is required" in capsys.readouterr().err
    rc = eval_main(["--model", "cplxcodec-no-such-model", "--data", str(data_dir),
                    "--json", str(tmp_path / "o.json")])
    assert rc == 1
    assert "cannot load model" in capsys.readouterr().err


def test_report_writes_html(tmp_path, data_dir, fake_codec, capsys) -> None:
    out = tmp_path / "report.html"
    rc = report_main(["--data", str(data_dir), "--kbps", "6", "12", "--limit", "1",
                      "--out", str(out), "--json", str(tmp_path / "r.json"), "--gl-iters", "4",
                      "--no-progress"], codec=fake_codec)
    assert rc == 0, capsys.readouterr().err
    html = out.read_text()
    for section in ("summary", "metrics", "rd-curves", "codebook-usage", "phase-fidelity",
                    "spectrograms"):
        assert f'<section id="{section}">' in html
    # the fake codec's stage 3 is stuck on two codes at both rates
    assert html.count("Collapsed stages: [3]") == 2
    assert html.count('id="spectrograms-') == 2
    assert json.loads((tmp_path / "r.json").read_text())["kbps"] == [6.0, 12.0]
