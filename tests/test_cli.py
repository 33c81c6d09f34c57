"""The ``cplxcodec encode`` / ``decode`` commands: round trips over formats, rates and channel
counts, bad input files, corrupted ``.cplx`` files and overwrite rules.

Commands run in-process through :func:`cplxcodec.cli.main` (one subprocess test checks
``python -m cplxcodec`` and cross-process determinism). The model is a tiny untrained codec saved
to a temporary model file and passed with ``--model``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from _support import one_torch_thread, record_refinement_weights, tiny_config

from cplxcodec.audio import load_audio, save_audio
from cplxcodec.bitstream import (
    CodeEntropyModel,
    CplxHeader,
    RawCodeCoder,
    VariableStageCoder,
    decode_payload,
    pack,
    unpack,
)
from cplxcodec.cli import entry_point, file_info, main
from cplxcodec.models import (
    ComplexCodec,
    load_model,
    pretrained_path,
    save_model,
)
from cplxcodec.signals import speech_like

REPO = Path(__file__).resolve().parents[1]


def _tiny(seed: int) -> ComplexCodec:
    torch.manual_seed(seed)
    cfg = tiny_config(name="tiny-cli")
    return ComplexCodec(cfg).eval()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: on a shared 2-core machine this is several times faster."""
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, _one_thread) -> Path:
    """A model file with (unconditional) entropy tables: small, so it loads fast."""
    m = _tiny(seed=3)
    wav = torch.from_numpy(speech_like(4.0, 16000, seed=40))[None, None]
    m.entropy_model = CodeEntropyModel.fit([m.encode(wav, 12)[0].numpy()], 1024, conditional=False)
    return save_model(m, tmp_path_factory.mktemp("models") / "tiny.pt")


@pytest.fixture(scope="module")
def other_model_file(tmp_path_factory, _one_thread) -> Path:
    return save_model(_tiny(seed=4), tmp_path_factory.mktemp("other") / "other.pt")


@pytest.fixture(scope="module")
def cplx_file(tmp_path_factory, model_file) -> Path:
    folder = tmp_path_factory.mktemp("cplx")
    save_audio(folder / "in.wav", speech_like(0.8, 16000, seed=5), 16000)
    assert main(["encode", str(folder / "in.wav"), str(folder / "a.cplx"), "--kbps", "6",
                 "--model", str(model_file), "--quiet", "--cbr"]) == 0  # fmt: skip
    return folder / "a.cplx"


def encode(src, dst, model_file, *extra: str) -> int:
    return main(["encode", str(src), str(dst), "--kbps", "6", "--model", str(model_file), *extra])


def decode(src, dst, model_file=None, *extra: str) -> int:
    args = ["decode", str(src), str(dst), *extra]
    return main(args + (["--model", str(model_file)] if model_file else []))


def assert_clean_error(code: int, capsys, *words: str) -> str:
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith("cplxcodec: error: ") and "Traceback" not in err
    for w in words:
        assert w.lower() in err.lower(), err
    return err


# --------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg"])
@pytest.mark.parametrize("sr", [8000, 44100, 48000])
def test_formats_and_rates_decode_at_original_rate_and_length(tmp_path, model_file, ext, sr):
    src = tmp_path / f"in{ext}"
    save_audio(
        src, speech_like(0.3, sr, seed=1), sr, subtype="VORBIS" if ext == ".ogg" else "PCM_16"
    )
    wav_in, _ = load_audio(src)
    assert encode(src, tmp_path / "x.cplx", model_file, "--quiet") == 0
    assert decode(tmp_path / "x.cplx", tmp_path / "out.wav", model_file, "--quiet") == 0
    info = sf.info(str(tmp_path / "out.wav"))
    assert (info.samplerate, info.frames, info.channels) == (sr, wav_in.shape[1], 1)
    header, _ = unpack((tmp_path / "x.cplx").read_bytes())
    assert (header.sample_rate, header.num_samples) == (sr, wav_in.shape[1])


def test_roundtrip_prints_summary_and_multichannel_keeps_channels(tmp_path, model_file, capsys):
    wav = np.stack([speech_like(0.5, 16000, seed=c) for c in range(3)])
    save_audio(tmp_path / "in.flac", wav, 16000)
    assert encode(tmp_path / "in.flac", tmp_path / "x.cplx", model_file) == 0
    out = capsys.readouterr().out
    assert "3 ch" in out and "kbps" in out
    assert decode(tmp_path / "x.cplx", tmp_path / "out.flac", model_file) == 0
    y, sr = load_audio(tmp_path / "out.flac")
    assert sr == 16000 and y.shape == wav.shape


def test_silence_and_one_sample_files_are_valid(tmp_path, model_file):
    save_audio(tmp_path / "silence.wav", np.zeros(8000, np.float32), 16000)
    save_audio(tmp_path / "one.wav", np.array([0.5], np.float32), 44100)
    for name, n in (("silence", 8000), ("one", 1)):
        assert (
            encode(tmp_path / f"{name}.wav", tmp_path / f"{name}.cplx", model_file, "--quiet") == 0
        )
        assert decode(tmp_path / f"{name}.cplx", tmp_path / f"{name}_out.wav", model_file) == 0
        assert sf.info(str(tmp_path / f"{name}_out.wav")).frames == n


def test_python_m_cplxcodec_gives_identical_bytes(tmp_path, model_file, cplx_file):
    """Other processes (with another thread count) encode and decode to identical bytes."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "2"}
    src = cplx_file.parent / "in.wav"
    cmd = [sys.executable, "-m", "cplxcodec", "encode", str(src), str(tmp_path / "b.cplx"),
           "--kbps", "6", "--model", str(model_file), "--quiet", "--cbr"]  # fmt: skip
    subprocess.run(cmd, check=True, env=env, timeout=300)
    assert (tmp_path / "b.cplx").read_bytes() == cplx_file.read_bytes()
    # variable stage allocation (the default) too: same allocation, same bytes
    subprocess.run(cmd[:-1] + ["--force"], check=True, env=env, timeout=300)
    assert encode(src, tmp_path / "v.cplx", model_file, "--quiet") == 0
    assert (tmp_path / "b.cplx").read_bytes() == (tmp_path / "v.cplx").read_bytes()
    cmd = [sys.executable, "-m", "cplxcodec", "decode", str(cplx_file), str(tmp_path / "b.wav"),
           "--model", str(model_file), "--quiet"]  # fmt: skip
    subprocess.run(cmd, check=True, env=env, timeout=300)
    assert decode(cplx_file, tmp_path / "a.wav", model_file, "--quiet") == 0
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def test_entry_point_exits_non_zero_on_errors(tmp_path, model_file, cplx_file, monkeypatch, capsys):
    (tmp_path / "bad.cplx").write_bytes(cplx_file.read_bytes()[:-7])
    argv = ["cplxcodec", "decode", str(tmp_path / "bad.cplx"), str(tmp_path / "bad.wav")]
    monkeypatch.setattr(sys, "argv", [*argv, "--model", str(model_file)])
    with pytest.raises(SystemExit) as info:
        entry_point()
    assert info.value.code == 1
    assert_clean_error(1, capsys, "truncated")
    assert not (tmp_path / "bad.wav").exists()
    monkeypatch.setattr(sys, "argv", ["cplxcodec", "frobnicate"])
    with pytest.raises(SystemExit) as info:
        entry_point()
    assert info.value.code == 2 and "unknown command" in capsys.readouterr().err


# --------------------------------------------------------------------------------- bad input audio
def _write_bad_inputs(folder: Path) -> dict[str, Path]:
    sf.write(str(folder / "empty.wav"), np.zeros((0, 1), np.float32), 16000)
    nan = speech_like(0.2, 16000)
    nan[100] = np.nan
    sf.write(str(folder / "nan.wav"), nan, 16000, subtype="FLOAT")
    inf = speech_like(0.2, 16000)
    inf[5] = -np.inf
    sf.write(str(folder / "inf.wav"), inf, 16000, subtype="FLOAT")
    (folder / "random.wav").write_bytes(np.random.default_rng(0).bytes(5000))
    (folder / "text.flac").write_text("not audio")
    return {
        "empty": folder / "empty.wav", "nan": folder / "nan.wav", "inf": folder / "inf.wav",
        "random": folder / "random.wav", "text": folder / "text.flac",
        "missing": folder / "missing.wav", "folder": folder,
    }  # fmt: skip


@pytest.mark.parametrize(
    "case, words",
    [
        ("empty", ["empty"]),
        ("nan", ["non-finite"]),
        ("inf", ["non-finite"]),
        ("random", ["cannot read"]),
        ("text", ["cannot read"]),
        ("missing", ["not found"]),
        ("folder", ["not a regular file"]),
    ],
)
def test_bad_audio_input_is_a_clean_error(tmp_path, model_file, capsys, case, words):
    src = _write_bad_inputs(tmp_path)[case]
    code = encode(src, tmp_path / "out.cplx", model_file)
    assert_clean_error(code, capsys, *words)
    assert not (tmp_path / "out.cplx").exists()


def test_bad_bitrate_and_model_are_clean_errors(tmp_path, model_file, capsys):
    save_audio(tmp_path / "in.wav", speech_like(0.2, 16000), 16000)
    code = main(["encode", str(tmp_path / "in.wav"), str(tmp_path / "o.cplx"), "--kbps", "7.3",
                 "--model", str(model_file)])  # fmt: skip
    assert_clean_error(code, capsys, "not supported")
    assert_clean_error(
        encode(tmp_path / "in.wav", tmp_path / "o.cplx", "no-such"), capsys, "unknown"
    )
    code = encode(tmp_path / "in.wav", tmp_path / "o.cplx", tmp_path / "none.pt")
    assert_clean_error(code, capsys, "not found")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert_clean_error(
        encode(tmp_path / "in.wav", tmp_path / "o.cplx", tmp_path / "junk.pt"), capsys
    )
    assert not (tmp_path / "o.cplx").exists()


def test_beam_option_selects_the_search_width(tmp_path, model_file, capsys):
    """``--beam B`` writes what ``compress(..., beam=B)`` writes; the default is ENCODE_BEAM."""
    from cplxcodec.models import ENCODE_BEAM, load_model

    x = speech_like(0.6, 16000, seed=8)
    save_audio(tmp_path / "in.wav", x, 16000)
    wav, sr = load_audio(tmp_path / "in.wav")
    model = load_model(model_file)
    for extra, beam in (((), ENCODE_BEAM), (("--beam", "1"), 1), (("--beam", "3"), 3)):
        out = tmp_path / f"b{beam}.cplx"
        assert encode(tmp_path / "in.wav", out, model_file, "--quiet", *extra) == 0
        assert out.read_bytes() == model.compress(wav, sr, 6, beam=beam, progress=False)
        assert decode(out, tmp_path / f"b{beam}.wav", model_file, "--quiet") == 0
    for bad in ("0", "-2", "x"):
        with pytest.raises(SystemExit) as exc:
            encode(tmp_path / "in.wav", tmp_path / "bad.cplx", model_file, "--beam", bad)
        assert exc.value.code == 2
        assert "positive integer" in capsys.readouterr().err
    assert not (tmp_path / "bad.cplx").exists()


def test_refine_option_refines_the_codes(tmp_path, model_file, capsys):
    """``--refine N`` writes what ``compress(..., refine=N)`` writes; ``--refine`` alone uses the
    library's default count; 0 (the default) is off; negative counts are refused."""
    from cplxcodec.models import load_model

    x = speech_like(0.6, 16000, seed=9)
    save_audio(tmp_path / "in.wav", x, 16000)
    wav, sr = load_audio(tmp_path / "in.wav")
    model = load_model(model_file)
    out = tmp_path / "r3.cplx"
    assert encode(tmp_path / "in.wav", out, model_file, "--quiet", "--refine", "3") == 0
    assert out.read_bytes() == model.compress(wav, sr, 6, refine=3, progress=False)
    assert decode(out, tmp_path / "r3.wav", model_file, "--quiet") == 0
    assert encode(tmp_path / "in.wav", tmp_path / "r0.cplx", model_file, "--quiet") == 0
    assert (tmp_path / "r0.cplx").read_bytes() == model.compress(wav, sr, 6, progress=False)
    for bad in ("-1", "x"):
        with pytest.raises(SystemExit) as exc:
            encode(tmp_path / "in.wav", tmp_path / "bad.cplx", model_file, "--refine", bad)
        assert exc.value.code == 2
        assert "non-negative integer" in capsys.readouterr().err
    assert not (tmp_path / "bad.cplx").exists()


def test_refine_stoi_weight_option(tmp_path, model_file, monkeypatch, capsys):
    """``--refine-stoi-weight W`` writes what ``compress(..., refine=N, stoi_weight=W)`` writes
    (the weight reaches refinement's loss); it needs ``--refine``; negative, infinite and
    non-numeric weights are refused before any work."""
    import cplxcodec.models.refine as refine_module
    from cplxcodec.models import load_model

    x = speech_like(0.6, 16000, seed=9)
    save_audio(tmp_path / "in.wav", x, 16000)
    wav, sr = load_audio(tmp_path / "in.wav")
    model = load_model(model_file)
    weights = record_refinement_weights(monkeypatch)
    out = tmp_path / "w.cplx"
    assert encode(tmp_path / "in.wav", out, model_file, "--quiet", "--refine", "2",
                  "--refine-stoi-weight", "0.5") == 0  # fmt: skip
    assert weights and set(weights) == {0.5}
    expected = model.compress(wav, sr, 6, refine=2, stoi_weight=0.5, progress=False)
    assert out.read_bytes() == expected
    weights.clear()
    rc = encode(tmp_path / "in.wav", tmp_path / "d.cplx", model_file, "--quiet", "--refine", "2")
    assert rc == 0
    assert set(weights) == {refine_module.REFINE_STOI_WEIGHT}
    capsys.readouterr()
    for extra, why in (
        (["--refine-stoi-weight", "1"], "needs --refine"),
        (["--refine", "2", "--refine-stoi-weight", "-1"], "finite number >= 0"),
        (["--refine", "2", "--refine-stoi-weight", "inf"], "finite number >= 0"),
        (["--refine", "2", "--refine-stoi-weight", "x"], "number >= 0"),
    ):
        with pytest.raises(SystemExit) as exc:
            encode(tmp_path / "in.wav", tmp_path / "bad.cplx", model_file, *extra)
        assert exc.value.code == 2
        assert why in capsys.readouterr().err
    assert not (tmp_path / "bad.cplx").exists()


def test_files_use_variable_allocation_unless_cbr(tmp_path, model_file, capsys):
    """By default ``encode`` writes what ``compress(..., vbr=True)`` writes (variable stage
    allocation; ``info`` says so; it decodes); ``--cbr`` what ``compress(..., vbr=False)`` does."""
    from cplxcodec.models import load_model

    x = speech_like(1.2, 16000, seed=11)
    x[6000:12000] = 0.0  # a pause
    save_audio(tmp_path / "in.wav", x, 16000)
    wav, sr = load_audio(tmp_path / "in.wav")
    model = load_model(model_file)
    out = tmp_path / "v.cplx"
    assert encode(tmp_path / "in.wav", out, model_file, "--quiet") == 0
    assert out.read_bytes() == model.compress(wav, sr, 6, vbr=True, progress=False)
    cbr = tmp_path / "c.cplx"
    assert encode(tmp_path / "in.wav", cbr, model_file, "--quiet", "--cbr") == 0
    assert cbr.read_bytes() == model.compress(wav, sr, 6, vbr=False, progress=False)
    assert unpack(cbr.read_bytes())[0].entropy in ("categorical", "conditional", "none")
    assert decode(out, tmp_path / "v.wav", model_file, "--quiet") == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "variable stage allocation:" in text and "-vbr4" in text
    info = file_info(out.read_bytes())
    # the side information's counts, read without a model, are those the codes decode with
    header, payload = unpack(out.read_bytes())
    inner = RawCodeCoder(1024) if header.entropy.startswith("none") else model.entropy_model
    codes = decode_payload(
        VariableStageCoder(inner), payload, 1, header.n_stages, header.frame_count,
        header.chunk_frames,
    )  # fmt: skip
    assert info["mean_stages"] == pytest.approx(float((codes != -1).sum(1).mean()))
    assert info["code_kbps"] == pytest.approx(
        info["mean_stages"] * 10 * info["frame_count"] / info["seconds"] / 1000
    )


# --------------------------------------------------------------------------------- overwriting
def test_refuses_to_overwrite_without_force(tmp_path, model_file, cplx_file, capsys):
    src = cplx_file.parent / "in.wav"
    out = tmp_path / "x.cplx"
    out.write_bytes(b"keep me")
    assert_clean_error(encode(src, out, model_file), capsys, "--force")
    assert out.read_bytes() == b"keep me"
    assert encode(src, out, model_file, "--force", "--quiet", "--cbr") == 0
    assert out.read_bytes() == cplx_file.read_bytes()

    wav_out = tmp_path / "y.wav"
    wav_out.write_bytes(b"keep me too")
    assert_clean_error(decode(out, wav_out, model_file), capsys, "--force")
    assert wav_out.read_bytes() == b"keep me too"
    assert decode(out, wav_out, model_file, "--force", "--quiet") == 0
    assert sf.info(str(wav_out)).frames == 12800


# --------------------------------------------------------------------------------- bad .cplx files
def _repack(data: bytes, **changes) -> bytes:
    header, payload = unpack(data)
    return pack(CplxHeader(**{**header.__dict__, **changes}), payload)


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda d: d[:5], ["truncated"]),
        (lambda d: d[: len(d) // 2], ["truncated"]),
        (lambda d: d[:100] + bytes([d[100] ^ 4]) + d[101:], ["crc"]),
        (lambda d: d[:-10] + bytes([d[-10] ^ 1]) + d[-9:], ["crc"]),
        (lambda d: b"OggS" + d[4:], ["not a .cplx file"]),
        (lambda d: d[:4] + bytes([9]) + d[5:], ["version 9", "upgrade"]),
        (lambda d: b"", ["truncated"]),
        (lambda d: _repack(d, model_checksum="ab" * 8), ["checksum"]),
        (lambda d: _repack(d, frame_count=3), ["inconsistent"]),
    ],
)
def test_corrupt_cplx_is_a_clean_error(tmp_path, model_file, cplx_file, capsys, mutate, words):
    (tmp_path / "bad.cplx").write_bytes(mutate(cplx_file.read_bytes()))
    code = decode(tmp_path / "bad.cplx", tmp_path / "out.wav", model_file)
    assert_clean_error(code, capsys, *words)
    assert not (tmp_path / "out.wav").exists()


def test_decode_with_the_wrong_model_is_a_clean_error(
    tmp_path, other_model_file, cplx_file, capsys
):
    code = decode(cplx_file, tmp_path / "out.wav", other_model_file)
    assert_clean_error(code, capsys, "tiny-cli", "load that model")


def test_decode_of_an_unknown_model_name_is_a_clean_error(tmp_path, cplx_file, capsys):
    data = cplx_file.read_bytes()
    for name, words in (("tiny-cli", ["not a bundled model", "--model"]),
                        ("no-such-model", ["not a bundled model"]),
                        ("../../etc/model.pt", ["not a bundled model"])):  # fmt: skip
        (tmp_path / "x.cplx").write_bytes(_repack(data, model_name=name))
        assert_clean_error(decode(tmp_path / "x.cplx", tmp_path / "o.wav"), capsys, *words)


@pytest.mark.skipif(pretrained_path("speech16k") is not None, reason="speech16k weights bundled")
def test_decode_of_a_registered_model_without_weights_is_a_clean_error(tmp_path, cplx_file, capsys):
    (tmp_path / "x.cplx").write_bytes(_repack(cplx_file.read_bytes(), model_name="speech16k"))
    code = decode(tmp_path / "x.cplx", tmp_path / "o.wav")
    assert_clean_error(code, capsys, "no bundled weights")


def test_missing_cplx_and_bad_output_extension(tmp_path, model_file, cplx_file, capsys):
    assert_clean_error(decode(tmp_path / "nope.cplx", tmp_path / "o.wav", model_file), capsys,
                       "not found")  # fmt: skip
    code = decode(cplx_file, tmp_path / "o.mp3", model_file)
    assert_clean_error(code, capsys, "unsupported extension")
    assert (
        load_model(model_file).checksum()[:16] == unpack(cplx_file.read_bytes())[0].model_checksum
    )


# --------------------------------------------------------------------------------- info
def test_info_shows_and_checks_files_without_a_model(tmp_path, cplx_file, capsys):
    import json

    data = cplx_file.read_bytes()
    header, payload = unpack(data)
    assert main(["info", str(cplx_file)]) == 0
    out = capsys.readouterr().out
    assert ".cplx format version 2" in out and "tiny-cli" in out and "nominal 6 kbps" in out
    assert f"{len(data)} bytes ({len(data) - len(payload)} of framing)" in out
    assert main(["info", str(cplx_file), "--json"]) == 0
    (rec,) = json.loads(capsys.readouterr().out)
    assert rec["model_name"] == "tiny-cli" and rec["bytes"] == len(data)
    assert rec["seconds"] == pytest.approx(0.8) and rec["frame_count"] == header.frame_count
    assert rec["actual_kbps"] == pytest.approx(len(data) * 8 / 0.8 / 1000)
    # fixed-width rate: 6 stages at 6 kbps x 10 bits per code, over the file's frames
    assert header.n_stages == 6
    assert rec["code_kbps"] == pytest.approx(header.frame_count * 60 / 0.8 / 1000)
    old = tmp_path / "old.cplx"  # a version-1 file reads the same
    old.write_bytes(pack(CplxHeader(**{**header.__dict__, "format_version": 1}), payload))
    assert main(["info", str(old), "--json"]) == 0
    (rec1,) = json.loads(capsys.readouterr().out)
    assert rec1["format_version"] == 1 and rec1["framing_bytes"] > rec["framing_bytes"]
    assert {k: v for k, v in rec1.items() if k not in ("file", "format_version", "bytes",
            "actual_kbps", "framing_bytes")} == {k: v for k, v in rec.items() if k not in (
            "file", "format_version", "bytes", "actual_kbps", "framing_bytes")}  # fmt: skip


def test_info_reports_every_bad_file_and_still_shows_the_good_ones(tmp_path, cplx_file, capsys):
    data = cplx_file.read_bytes()
    (tmp_path / "cut.cplx").write_bytes(data[:-3])
    (tmp_path / "flip.cplx").write_bytes(data[:-10] + bytes([data[-10] ^ 1]) + data[-9:])
    files = [tmp_path / "cut.cplx", cplx_file, tmp_path / "flip.cplx", tmp_path / "none.cplx"]
    code = main(["info", *map(str, files)])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    assert str(cplx_file) in captured.out and "cut.cplx" not in captured.out
    err = captured.err.lower()
    assert "cut.cplx: file is truncated" in err and "flip.cplx: payload crc32" in err
    assert "none.cplx: file not found" in err
