"""``benchmarks/stage_sweep.py``: quality against RVQ stages and the unquantized ceiling."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf
import torch
from _support import import_benchmark, tiny_config

from cplxcodec.models import ComplexCodec, save_model
from cplxcodec.signals import speech_like

SR = 16000


@pytest.fixture(scope="module")
def sweep_mod():
    return import_benchmark("stage_sweep")


@pytest.fixture(scope="module")
def model() -> ComplexCodec:
    torch.manual_seed(0)
    m = ComplexCodec(tiny_config(name="tiny-sweep"))
    wav = torch.from_numpy(speech_like(2.0, SR, seed=7))[None, None]
    with torch.no_grad():  # k-means-initialise every stage (otherwise codes are near-constant)
        m.quantizer.train()(m.encode_latent(m.analysis(wav)))
    return m.eval()


def test_full_stage_row_matches_the_file_path(sweep_mod, model) -> None:
    segs = [speech_like(1.5, SR, seed=s) for s in (1, 2)]
    result = sweep_mod.sweep(model, segs, [1, 12], progress=False)
    assert list(result) == ["1", "12", "none"]
    assert all(np.isfinite(v) for row in result.values() for v in row.values())
    # 12 stages decoded in one pass score as compress → decompress of a real .cplx file
    ref = [sweep_mod.quality_metrics(x, model.roundtrip(x, SR, 12.0)[0], SR) for x in segs]
    assert result["12"]["si_sdr"] == pytest.approx(np.mean([r["si_sdr"] for r in ref]), abs=0.05)
    # and the rows differ: one stage is not the unquantized latent
    assert result["1"]["mel_distance"] != pytest.approx(result["none"]["mel_distance"])


def test_main_prints_the_table_and_rejects_bad_input(sweep_mod, model, tmp_path, capsys) -> None:
    (tmp_path / "dev").mkdir()
    with (tmp_path / "dev.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "speaker"])
        for i in range(2):
            sf.write(tmp_path / f"dev/a{i}.flac", speech_like(1.0, SR, seed=i), SR)
            w.writerow([f"dev/a{i}.flac", "a"])
    path = save_model(model, tmp_path / "m.pt")
    md = tmp_path / "sweep.md"
    args = ["--model", str(path), "--data", str(tmp_path / "dev.csv"), "--no-progress"]
    assert sweep_mod.main([*args, "--stages", "2", "99", "--out-md", str(md)]) == 0
    text = md.read_text()
    assert "none (no quantizer)" in text and "| 12 | 12.00 |" in text  # 99 capped at 12 stages
    assert sweep_mod.main([*args, "--every", "0"]) == 2
    assert sweep_mod.main(["--model", str(tmp_path / "missing.pt"), "--no-progress"]) == 1
    assert "cannot load model" in capsys.readouterr().err
