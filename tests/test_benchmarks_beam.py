"""``benchmarks/beam_search.py``: beam widths on dev segments through the real file path."""

from __future__ import annotations

import csv
import json
import re

import pytest
import soundfile as sf
import torch
from _support import import_benchmark, tiny_config

from cplxcodec.models import ComplexCodec, save_model
from cplxcodec.signals import speech_like

SR = 16000


@pytest.fixture(scope="module")
def beam_mod():
    return import_benchmark("beam_search")


def _corpus(tmp_path, n: int = 2):
    (tmp_path / "dev").mkdir()
    with (tmp_path / "dev.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "speaker"])
        for i in range(n):
            sf.write(tmp_path / f"dev/a{i}.flac", speech_like(1.0, SR, seed=i), SR)
            w.writerow([f"dev/a{i}.flac", "a"])
    return tmp_path / "dev.csv"


def _cfg():
    # fewer codewords than training frames, so that every stage's codebook is non-trivial
    return tiny_config(name="tiny-beam", codebook_size=32, n_stages=4)


def _trained_tiny(tmp_path):
    """A tiny codec whose codebooks are k-means initialised on speech-like latents."""
    torch.manual_seed(0)
    model = ComplexCodec(_cfg())
    model.quantizer.train()
    wav = torch.from_numpy(speech_like(2.0, SR, seed=9))[None, None]
    with torch.no_grad():
        model.quantizer(model.encode_latent(model.analysis(wav)))
    return save_model(model.eval(), tmp_path / "m.pt")


def test_wider_beam_lowers_latent_error_and_table_reports_it(beam_mod, tmp_path, capsys):
    data = _corpus(tmp_path)
    path = _trained_tiny(tmp_path)
    out_md, out_json = tmp_path / "b.md", tmp_path / "b.json"
    kbps = _cfg().kbps(3)
    argv = ["--model", str(path), "--data", str(data), "--every", "1", "--beams", "1,4"]
    argv += ["--kbps", str(kbps), "--no-progress", "--out-md", str(out_md)]
    assert beam_mod.main([*argv, "--out-json", str(out_json)]) == 0
    payload = json.loads(out_json.read_text())
    rows = {r["beam"]: r["scores"] for r in payload["rows"]}
    assert set(rows) == {1, 4} and all(len(s) == 1 for s in rows.values())  # one 2 s segment
    greedy, beamed = rows[1][0], rows[4][0]
    assert beamed["latent_error"] < greedy["latent_error"]
    assert beamed["search_s_per_10s"] > 0 and greedy["kbps"] > 0
    md = out_md.read_text()
    assert md.count("\n") == 4  # header, rule and the 2 rows
    # the beam-4 row shows its PESQ change against beam 1
    assert re.search(rf"\| {kbps:g} \| 4 \| [0-9.]+ \| [0-9.]+ \([+-][0-9.]+\) \|", md)
    assert "network encode" in capsys.readouterr().out


def test_bad_input_exits_2_with_a_message(beam_mod, tmp_path, capsys):
    data = _corpus(tmp_path)
    assert beam_mod.main(["--model", str(tmp_path / "missing.pt"), "--data", str(data)]) == 2
    assert "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        beam_mod.main(["--data", str(data), "--beams", "0,2"])
    assert "positive" in capsys.readouterr().err
