"""``benchmarks/phase_fidelity.py``: phase scores of codecs on dev segments, tables and plot."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf
import torch
from _support import import_benchmark, tiny_config

from cplxcodec.models import ComplexCodec, save_model
from cplxcodec.signals import speech_like

SR = 16000


@pytest.fixture(scope="module")
def phase_mod():
    return import_benchmark("phase_fidelity")


def _identity(x, sr, kbps):
    return np.asarray(x, dtype=np.float32).copy(), kbps


def _scramble_above_2k(x, sr, kbps):
    """Keeps every magnitude and the phase below 2 kHz; random phase above."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(x.size, 1 / sr)
    rng = np.random.default_rng(0)
    hi = f > 2000
    spec[hi] = np.abs(spec[hi]) * np.exp(2j * np.pi * rng.random(int(hi.sum())))
    return np.fft.irfft(spec, n=x.size).astype(np.float32), kbps


def test_scores_separate_kept_from_scrambled_phase(phase_mod) -> None:
    segs = [speech_like(1.5, SR, seed=s) for s in (1, 2)]
    kept, edges = phase_mod.measure("same", _identity, segs, SR, [6.0], gl_iters=8, progress=False)
    lost, _ = phase_mod.measure("hi", _scramble_above_2k, segs, SR, [6.0], 8, progress=False)
    (k,), (s,) = kept, lost
    assert len(k.scores) == 2 and k.mean("phase_error") < 0.01
    # the anchor re-estimates phase from magnitudes: far worse than the untouched signal
    assert k.gl_mean > 10 * k.mean("phase_error")
    assert k.mean("magnitude_error") < 0.01 < s.mean("magnitude_error")  # STFT frames smear
    bands = s.band_mean
    low = edges[1:] <= 2000
    high = edges[:-1] >= 2000
    assert np.nanmax(bands[low]) < 0.1 < 0.5 < np.nanmin(bands[high])
    table = phase_mod.band_table([k, s], edges)
    assert "2k–4k" in table and "| hi | 6 |" in table
    summary = phase_mod.summary_table([k, s])
    assert summary.count("\n") == 3 and "| same | 6 | 0.00" in summary


def test_main_writes_tables_json_and_plot_and_rejects_bad_input(phase_mod, tmp_path, capsys):
    (tmp_path / "dev").mkdir()
    with (tmp_path / "dev.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "speaker"])
        for i in range(2):
            sf.write(tmp_path / f"dev/a{i}.flac", speech_like(1.0, SR, seed=i), SR)
            w.writerow([f"dev/a{i}.flac", "a"])
    torch.manual_seed(0)
    path = save_model(ComplexCodec(tiny_config(name="tiny-phase")).eval(), tmp_path / "m.pt")
    data = ["--data", str(tmp_path / "dev.csv"), "--no-progress", "--gl-iters", "4"]
    args = ["--model", str(path), "--baselines", "", *data]
    out = {k: tmp_path / f"pf.{k}" for k in ("md", "json", "png")}
    assert (
        phase_mod.main(
            [*args, "--twin", str(path), "--kbps", "6", "--out-md", str(out["md"]),
             "--out-json", str(out["json"]), "--plot", str(out["png"])]
        )  # fmt: skip
        == 0
    )
    md = out["md"].read_text()
    assert "| cplxcodec | 6 |" in md and "| cplxcodec-twin | 6 |" in md and "per octave band" in md
    payload = json.loads(out["json"].read_text())
    assert [r["codec"] for r in payload["rows"]] == ["cplxcodec", "cplxcodec-twin"]
    assert len(payload["rows"][0]["scores"]) == payload["segments"] >= 1
    assert out["png"].read_bytes()[:4] == b"\x89PNG"
    assert phase_mod.main([*args, "--every", "0"]) == 2
    assert phase_mod.main(["--model", "none", "--baselines", "", *data]) == 2
    assert phase_mod.main(["--model", "none", "--baselines", "nope", *data]) == 2
    assert phase_mod.main(["--model", str(tmp_path / "missing.pt"), *data]) == 1
    err = capsys.readouterr().err
    assert "cannot load model" in err and "unknown baseline" in err and "nothing to measure" in err
