"""Fixtures for the training tests: a generated corpus and tiny-model CLI configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import yaml
from _support import one_torch_thread

from cplxcodec.signals import chirp, harmonic_tone, speech_like

SR = 16000

#: A codec small enough for a training step in well under a second on a busy CPU (4 stages of
#: 32 codes at 250 frames/s: 1.25 kbps per stage).
TINY = {
    "n_fft": 128,
    "hop_length": 64,
    "channels": [8, 8],
    "dec_channels": [8, 8],
    "freq_strides": [4, 4],
    "res_blocks": 1,
    "attn_layers": 1,
    "attn_heads": 2,
    "attn_window": 8,
    "latent_dim": 8,
    "codebook_size": 32,
    "n_stages": 4,
}


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One torch thread for every test here, session fixtures included (results are compared
    bitwise, and CPU reductions depend on the thread count): on an oversubscribed 2-core machine
    two threads are also several times slower (:class:`cplxcodec.training.TorchThreads`)."""
    with one_torch_thread():
        yield


def _write(path: Path, x: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, SR)
    return path


def make_corpus(root: Path) -> Path:
    """``root/train/<speaker>/*.wav`` (2 speakers x 2 files) and ``root/val/*.wav`` (2 files)."""
    rng = np.random.default_rng(1)
    for s in range(2):
        for i in range(2):
            x = speech_like(1.2, SR, seed=int(rng.integers(1 << 30)))
            _write(root / "train" / f"spk{s}" / f"u{i}.wav", x)
    _write(root / "val" / "a.wav", speech_like(0.6, SR, seed=7))
    _write(root / "val" / "b.wav", 0.3 * harmonic_tone(0.6, SR) + 0.2 * chirp(0.6, SR))
    return root


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A fresh generated corpus (see :func:`make_corpus`)."""
    return make_corpus(tmp_path / "corpus")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One 4-step CLI training run of the tiny model, checkpoints every 2 steps (shared).

    Returns ``{"root", "corpus", "config", "ckpt"}`` (``ckpt`` is the checkpoint folder).
    """
    from cplxcodec.training import train_main

    root = tmp_path_factory.mktemp("trained")
    corpus = make_corpus(root / "corpus")
    config = write_config(root / "a.yaml", tiny_config(root / "a", corpus))
    assert train_main(["fit", "--config", str(config)]) == 0
    return {"root": root, "corpus": corpus, "config": config, "ckpt": root / "a" / "ckpt"}


@pytest.fixture
def tiny() -> dict[str, Any]:
    """``model_overrides`` of the tiny codec."""
    return dict(TINY)


@pytest.fixture
def make_config(tmp_path: Path, corpus: Path):
    """``make_config(name, steps=4, every=2, section__key=value...) -> Path`` of a YAML file.

    Outputs (CSV logs, checkpoints) go to ``tmp_path / name``.
    """

    def make(name: str = "run", **kwargs: Any) -> Path:
        cfg = tiny_config(tmp_path / name, corpus, **kwargs)
        return write_config(tmp_path / f"{name}.yaml", cfg)

    return make


def tiny_config(
    out: Path, corpus: Path, *, steps: int = 4, every: int = 2, **extra: Any
) -> dict[str, Any]:
    """A LightningCLI config dict for the tiny model on ``corpus`` (outputs under ``out``)."""
    cfg: dict[str, Any] = {
        "seed_everything": 0,
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "max_steps": steps,
            "max_epochs": -1,
            "val_check_interval": every,
            "check_val_every_n_epoch": None,
            "num_sanity_val_steps": 0,
            "log_every_n_steps": 1,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": {
                "class_path": "pytorch_lightning.loggers.CSVLogger",
                "init_args": {"save_dir": str(out), "name": "csv", "version": "v"},
            },
            "callbacks": [
                {
                    "class_path": "pytorch_lightning.callbacks.ModelCheckpoint",
                    "init_args": {
                        "dirpath": str(out / "ckpt"),
                        "filename": "step{step:04d}",
                        "auto_insert_metric_name": False,
                        "every_n_train_steps": every,
                        "save_top_k": -1,
                        "save_last": True,
                    },
                },
                {
                    "class_path": "cplxcodec.training.TrainingSpeed",
                    "init_args": {"every_n_steps": 2},
                },
            ],
        },
        "model": {
            "model": "speech16k",
            "model_overrides": TINY,
            "lr": 3e-3,
            "warmup_steps": 2,
            "max_steps_schedule": 20,
            "val_metrics_clips": 1,
            "media_every_n_val": 0,
        },
        "data": {
            "train": str(corpus / "train"),
            "val": str(corpus / "val"),
            "segment_seconds": 0.25,
            "batch_size": 4,
            "num_workers": 0,
            "train_samples_per_epoch": 12,
            "val_seconds": 0.5,
            "val_max_files": 2,
            "cache_mb": 16,
        },
    }
    for key, value in extra.items():
        section, _, name = key.partition("__")
        if value is None:
            cfg[section].pop(name, None)
        else:
            cfg[section][name] = value
    return cfg


def write_config(path: Path, cfg: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path
