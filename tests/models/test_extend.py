"""Residual-VQ stages added after training (:mod:`cplxcodec.models.extend`), and the CLI.

An extended model must keep everything the original had (encoder, decoder, the first ``K``
codebooks: a ``K``-stage code decodes to the same audio), fit its new codebooks so that each one
lowers the latent error on the fitting data, use them in variable-rate files where the budget
allows, and round-trip through model files and ``.cplx`` files.
"""

from __future__ import annotations

import _support
import numpy as np
import pytest
import torch
from _support import one_torch_thread

from cplxcodec.cli import main as cli_main
from cplxcodec.models import ComplexCodec, fit_entropy_model, load_model, save_model
from cplxcodec.models.extend import MAX_STAGES, extend_stages, latent_rows
from cplxcodec.signals import speech_like


def _waves(seeds, seconds: float = 1.0) -> list[np.ndarray]:
    return [speech_like(seconds, 16000, seed=s).astype(np.float32) for s in seeds]


@pytest.fixture(scope="module")
def tiny() -> ComplexCodec:
    torch.manual_seed(0)
    model = ComplexCodec(_support.tiny_config(name="tiny-ext", codebook_size=32, n_stages=3))
    with torch.no_grad():
        wav = torch.from_numpy(np.stack(_waves((30, 31)))).unsqueeze(1)
        model.quantizer.train()(model.encode_latent(model.analysis(wav)))
    return model.eval()


@pytest.fixture(scope="module")
def extended(tiny):
    with one_torch_thread():
        return extend_stages(tiny, _waves((40, 41, 42)), 2, beam=2, progress=False)


def test_new_stages_lower_the_error_and_keep_the_old_model(tiny, extended) -> None:
    model, report = extended
    assert model.n_stages == tiny.n_stages + 2
    assert model.config.n_stages == tiny.config.n_stages + 2
    assert len(report.errors) == 3 and len(report.usage) == 2
    assert report.errors[0] > report.errors[1] > report.errors[2] > 0.0
    assert all(0.5 < u <= 1.0 for u in report.usage)
    old, new = tiny.state_dict(), model.state_dict()
    for name, value in old.items():  # everything the original had is unchanged
        assert torch.equal(new[name], value), name
    wav = torch.from_numpy(_waves((50,))[0])[None, None]
    kbps = tiny.config.kbps(tiny.n_stages)
    with one_torch_thread():
        codes = tiny.encode(wav, kbps, beam=2)
        assert torch.equal(model.encode(wav, kbps, beam=2), codes)
        assert torch.equal(model.decode(codes), tiny.decode(codes))
        # the extension's own top rate: more stages, smaller latent error on unseen audio
        deep = model.encode(wav, model.config.kbps(model.n_stages), beam=2)
        z = model.latent(wav)
        err_old = (z - model.quantizer.decode(codes)).abs().pow(2).sum()
        err_new = (z - model.quantizer.decode(deep)).abs().pow(2).sum()
    assert deep.shape[1] == model.n_stages
    assert float(err_new) < float(err_old)


def test_latent_rows_are_the_encoder_latents(tiny) -> None:
    waves = _waves((60,), seconds=0.5)
    rows = latent_rows(tiny, waves, progress=False)
    z = tiny.latent(torch.from_numpy(waves[0])[None, None])
    assert rows.shape == (z.shape[-1], 2 * tiny.config.latent_dim)
    assert torch.equal(rows[:, 0], z[0, 0].real)


def test_extension_is_deterministic_and_leaves_the_global_generator(tiny) -> None:
    rows = latent_rows(tiny, _waves((40, 41)), progress=False)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, _ = extend_stages(tiny, rows, 1, beam=1, progress=False, seed=5)
    assert torch.equal(torch.random.get_rng_state(), before)
    b, _ = extend_stages(tiny, rows, 1, beam=1, progress=False, seed=5)
    assert torch.equal(a.quantizer.stages[-1].embed, b.quantizer.stages[-1].embed)


def test_bad_extensions_are_refused(tiny) -> None:
    rows = latent_rows(tiny, _waves((40,)), progress=False)
    with pytest.raises(ValueError, match="positive integer"):
        extend_stages(tiny, rows, 0)
    with pytest.raises(ValueError, match=f"exceed the {MAX_STAGES}"):
        extend_stages(tiny, rows, MAX_STAGES)
    with pytest.raises(ValueError, match="cannot fit codebooks"):
        extend_stages(tiny, rows[:10], 1)
    with pytest.raises(ValueError, match="latent rows must be"):
        extend_stages(tiny, rows[:, :4], 1)
    bad = _waves((40,))[0].copy()
    bad[100] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        extend_stages(tiny, [bad], 1)
    with pytest.raises(ValueError, match="at least one waveform"):
        extend_stages(tiny, [], 1)


def test_variable_files_use_the_new_stages_and_decode_exactly(extended, tmp_path) -> None:
    model, _ = extended
    with one_torch_thread():
        fit_entropy_model(model, _waves((40, 41)), progress=False, beam=2)
        path = save_model(model, tmp_path / "ext.pt")
        loaded = load_model(path)
        assert loaded.n_stages == model.n_stages and loaded.checksum() == model.checksum()
        # a loud burst next to near-silence: the burst's blocks want more than the nominal 3
        x = np.concatenate([_waves((70,), 1.0)[0], 0.001 * _waves((71,), 1.0)[0]])
        kbps = model.config.kbps(3)
        data = loaded.compress(x, 16000, kbps, progress=False, beam=2)
        y1, _ = loaded.decompress(data)
        y2, _ = load_model(path).decompress(data)
        codes = loaded.encode(torch.from_numpy(x)[None, None], kbps, beam=2, vbr=True)
        constant = loaded.compress(x, 16000, kbps, progress=False, beam=2, vbr=False)
    assert torch.equal(y1, y2)
    counts = (codes != -1).sum(1)
    assert int(counts.max()) > 3  # the new stages are sent where the audio is busy
    # no larger than the constant-rate file (on so short a file the framing exceeds the headroom)
    assert len(data) <= 1.02 * len(constant)


def test_cli_extend_writes_a_loadable_model(tiny, tmp_path, capsys) -> None:
    import soundfile as sf

    src = tmp_path / "src.pt"
    save_model(tiny, src)
    data = tmp_path / "audio"
    data.mkdir()
    for i, w in enumerate(_waves((80, 81, 82), seconds=1.5)):
        sf.write(data / f"{i}.wav", w, 16000)
    out = tmp_path / "out.pt"
    args = ["train", "extend", "--model", str(src), "--out", str(out), "--data", str(data)]
    args += ["--stages", "1", "--seconds", "4", "--entropy-seconds", "2", "--beam", "1"]
    with one_torch_thread():
        assert cli_main(args) == 0
        printed = capsys.readouterr().out
        assert "wrote" in printed and "usage of the new stages" in printed
        model = load_model(out)
        assert model.n_stages == tiny.n_stages + 1
        assert model.entropy_model is not None and model.entropy_model.n_stages == 4
        ext = model.card["extension"]
        assert ext["stages"] == [3, 4] and ext["from_checksum"] == tiny.checksum()
        assert cli_main(args) == 2  # exists: refused without --force
        assert "exists" in capsys.readouterr().err
        missing = ["train", "extend", "--model", str(tmp_path / "nope.pt"), "--out"]
        assert cli_main([*missing, str(tmp_path / "x.pt"), "--data", str(data)]) == 2
        assert "not found" in capsys.readouterr().err


def test_codec_speed_times_a_model_file(extended, tmp_path, capsys) -> None:
    model, _ = extended
    path = save_model(model, tmp_path / "ext.pt")
    speed = _support.import_benchmark("codec_speed")
    kbps = model.config.kbps(3)
    args = f"--model {path} --kbps {kbps} --seconds 0.5 --repeats 1 --beams 1 --vbr --no-encodec"
    with one_torch_thread():
        assert speed.main([*args.split(), "--no-dac", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert f"tiny-ext ({model.n_stages} stages) @ {kbps:g} kbps, beam 1, vbr" in out
