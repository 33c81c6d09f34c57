"""`cplxcodec train` end to end on a tiny model: fit, exact resume, bad data, export."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cplxcodec.models import load_model
from cplxcodec.signals import speech_like
from cplxcodec.training import export_checkpoint, train_main


def _ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _losses(csv_path: Path) -> dict[int, float]:
    """``{global step: train/loss}`` from a CSVLogger metrics file."""
    out = {}
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("train/loss"):
                out[int(row["step"])] = float(row["train/loss"])
    return out


def _assert_same_tree(a, b, where: str = "") -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), f"differs at {where}"
    elif isinstance(a, dict):
        assert set(a) == set(b), f"keys differ at {where}"
        for k in a:
            _assert_same_tree(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"lengths differ at {where}"
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tree(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{a!r} != {b!r} at {where}"


def test_fit_writes_checkpoints_and_logs(trained_run):
    ckpt = trained_run["ckpt"]
    assert sorted(p.name for p in ckpt.iterdir()) == ["last.ckpt", "step0002.ckpt", "step0004.ckpt"]
    state = _ckpt(ckpt / "last.ckpt")
    assert state["global_step"] == 4
    assert state["hyper_parameters"]["model_overrides"]["n_stages"] == 4
    # EMA codebooks and the quantizer's initialisation flags are part of the checkpoint.
    assert any(k.startswith("codec.quantizer.") for k in state["state_dict"])
    assert len(state["cplxcodec_rng"]["torch"]) == 1
    # 3 batches per epoch: after 4 steps the stream is at item 4 of epoch 1.
    assert state["AudioDataModule"] == {"epoch": 1, "items": 4}
    losses = _losses(trained_run["root"] / "a" / "csv" / "v" / "metrics.csv")
    assert sorted(losses) == [0, 1, 2, 3] or sorted(losses) == [1, 2, 3, 4]
    assert all(np.isfinite(v) for v in losses.values())
    with open(trained_run["root"] / "a" / "csv" / "v" / "metrics.csv", newline="") as f:
        speed = [r for r in csv.DictReader(f) if r.get("perf/steps_per_sec")]
    assert [int(r["step"]) for r in speed] == [2, 4]  # TrainingSpeed every 2 steps
    assert all(float(r["perf/cpu_sec_per_step"]) > 0 for r in speed)


def _config_copy(config: Path, new_out: Path) -> Path:
    """The YAML ``config`` with its output folder moved to ``new_out``."""
    old_out = config.with_suffix("")  # trained_run writes a.yaml for outputs in a/
    text = config.read_text().replace(str(old_out), str(new_out))
    path = new_out.with_suffix(".yaml")
    path.write_text(text)
    return path


def test_resume_from_last_continues_exactly(trained_run, tmp_path):
    """4 steps straight == 2 steps, checkpoint, ``--ckpt_path last`` for 2 more steps.

    The checkpoint is mid-epoch (3 batches per epoch), a validation runs right after it, and
    the resumed steps cross the epoch end: model (with EMA codebooks), optimizer, scheduler,
    data position and random state must all carry over for the results to be bitwise equal.
    """
    config = _config_copy(trained_run["config"], tmp_path / "b")
    (tmp_path / "b" / "ckpt").mkdir(parents=True)
    shutil.copy(trained_run["ckpt"] / "step0002.ckpt", tmp_path / "b" / "ckpt" / "last.ckpt")
    assert train_main(["fit", "--config", str(config), "--ckpt_path", "last"]) == 0
    straight = _ckpt(trained_run["ckpt"] / "step0004.ckpt")
    resumed = _ckpt(tmp_path / "b" / "ckpt" / "step0004.ckpt")
    assert resumed["global_step"] == straight["global_step"] == 4
    for key in ("state_dict", "optimizer_states", "lr_schedulers", "AudioDataModule"):
        _assert_same_tree(straight[key], resumed[key], key)
    # The resumed run logged only the steps after the checkpoint, with the same losses.
    before = _losses(trained_run["root"] / "a" / "csv" / "v" / "metrics.csv")
    after = _losses(tmp_path / "b" / "csv" / "v" / "metrics.csv")
    assert len(after) == 2 and set(after) < set(before)
    for step, value in after.items():
        assert value == before[step], f"loss at step {step}: {value} != {before[step]}"


def test_resume_from_a_file_uses_the_configured_model_arguments(trained_run, tmp_path):
    """An explicit checkpoint file + changed arguments: the new ones train, with a warning.

    (Plain LightningCLI would replace them by the checkpoint's hyperparameters, silently.)
    """
    config = _config_copy(trained_run["config"], tmp_path / "c")
    start = trained_run["ckpt"] / "step0002.ckpt"
    argv = ["fit", "--config", str(config), "--ckpt_path", str(start), "--model.lr", "0.0123",
            "--model.loss_weights", '{"complex_spec": 7.0}']  # fmt: skip
    with pytest.warns(UserWarning, match=r"differ from the checkpoint's.*loss_weights.*lr"):
        assert train_main(argv) == 0
    resumed = _ckpt(tmp_path / "c" / "ckpt" / "last.ckpt")
    assert resumed["global_step"] == 4
    assert resumed["hyper_parameters"]["lr"] == pytest.approx(0.0123)
    assert resumed["hyper_parameters"]["loss_weights"] == {"complex_spec": 7.0}


def test_corrupt_training_file_is_skipped(make_config, corpus):
    bad = corpus / "train" / "spkbad" / "broken.wav"
    bad.parent.mkdir()
    bad.write_bytes(b"RIFF\x00\x01 this is not audio" * 10)
    config = make_config("bad", steps=2)
    # Also: with no last.ckpt yet, ``--ckpt_path last`` starts from scratch.
    with pytest.warns(UserWarning, match="skipping a training file.*broken.wav"):
        assert train_main(["fit", "--config", str(config), "--ckpt_path", "last"]) == 0
    assert _ckpt(config.with_suffix("") / "ckpt" / "last.ckpt")["global_step"] == 2


def test_bad_arguments_return_an_error_code(make_config, capsys):
    assert train_main(["fit", "--config", str(make_config()), "--model.optimizer", "sgd"]) != 0
    assert train_main(["nonsense"]) != 0
    assert train_main(["export", "--ckpt", "missing.ckpt", "--out", "x.pt"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_export_loads_without_lightning_and_decodes(trained_run, tmp_path):
    out = export_checkpoint(
        trained_run["ckpt"] / "last.ckpt",
        tmp_path / "model.pt",
        entropy_audio=trained_run["corpus"] / "train",
        entropy_seconds=2.0,
    )
    model = load_model(out)
    assert model.card["steps"] == 4 and model.card["entropy_seconds"] == 2.0
    assert model.card["data"] == str(trained_run["corpus"] / "train")
    assert model.entropy_model is not None
    state = _ckpt(trained_run["ckpt"] / "last.ckpt")["state_dict"]
    for name, value in model.state_dict().items():
        assert torch.equal(value, state[f"codec.{name}"]), name
    wav = torch.from_numpy(speech_like(0.5, 16000))[None, None]
    codes = model.encode(wav, kbps=model.config.kbps(2))
    assert codes.shape[:2] == (1, 2) and int(codes.min()) >= 0
    decoded = model.decode(codes, length=wav.shape[-1])
    assert decoded.shape == wav.shape and torch.isfinite(decoded).all()
    # The command form refuses to overwrite without --force.
    args = [
        "export",
        "--ckpt",
        str(trained_run["ckpt"] / "last.ckpt"),
        "--out",
        str(out),
        "--entropy-seconds",
        "0",
    ]
    assert train_main(args) == 2
    assert train_main([*args, "--force"]) == 0
    assert load_model(out).entropy_model is None
