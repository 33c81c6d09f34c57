"""Tests for the training data pipeline: file lists, sampling, crops, loudness, robustness."""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import jsonargparse
import numpy as np
import pytest
import pytorch_lightning as pl
import soundfile as sf
import torch

from cplxcodec.audio import AudioError
from cplxcodec.signals import noise, speech_like
from cplxcodec.training.data import (
    AudioDataModule,
    AudioEntry,
    DecodedAudioCache,
    EpochSampler,
    list_audio_files,
    sampling_probabilities,
)
from cplxcodec.training.transforms import gated_level_db, loudness_gain, normalize_loudness

SR = 16000


def _write(path: Path, x: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, sr, subtype=subtype)
    return path


def _dc(value: float, seconds: float) -> np.ndarray:
    """A constant signal: every crop of it tells which file it came from."""
    return np.full(int(round(seconds * SR)), value, dtype=np.float32)


def _speech_folder(root: Path, groups: dict[str, int], seconds: float = 0.6) -> Path:
    k = 0
    for g, n in groups.items():
        for i in range(n):
            _write(root / g / f"{i}.flac", speech_like(seconds, SR, seed=k))
            k += 1
    return root


def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _batches(dm: AudioDataModule, n: int) -> list[torch.Tensor]:
    it = iter(dm.train_dataloader())
    return [next(it) for _ in range(n)]


def _module(train: str | Path, **kw) -> AudioDataModule:
    kw.setdefault("batch_size", 4)
    kw.setdefault("train_samples_per_epoch", 64)
    dm = AudioDataModule(train=str(train), **kw)
    dm.setup("fit")
    return dm


def test_folder_source_batches_and_groups(tmp_path):
    root = _speech_folder(tmp_path / "data", {"spk_a": 2, "spk_b": 3})
    _write(root / "loose.wav", noise(0.5, SR, level=0.05))
    (root / "notes.txt").write_text("not audio")
    entries = list_audio_files(root)
    assert [e.group for e in entries] == ["", "spk_a", "spk_a", "spk_b", "spk_b", "spk_b"]
    dm = _module(root, segment_seconds=0.25)
    (b,) = _batches(dm, 1)
    assert b.shape == (4, 1, 4000) and b.dtype == torch.float32
    assert torch.isfinite(b).all() and b.abs().max() > 0


def test_csv_source_relative_paths_groups_and_resampling(tmp_path):
    for i in range(3):
        _write(tmp_path / "audio" / f"{i}.wav", speech_like(0.5, 22050, seed=i), sr=22050)
    rows = [{"path": f"../audio/{i}.wav", "speaker": "ab"[i % 2], "x": "1"} for i in range(3)]
    (tmp_path / "lists").mkdir()
    m = _csv(tmp_path / "lists" / "train.csv", rows)
    entries = list_audio_files(m, group_column="speaker")
    assert [e.group for e in entries] == ["a", "b", "a"]
    assert all(e.path.is_file() for e in entries)
    dm = _module(m, group_column="speaker", segment_seconds=0.2)
    assert dm.train_dataset is not None
    np.testing.assert_allclose(dm.train_dataset.probabilities, [0.25, 0.5, 0.25])
    (b,) = _batches(dm, 1)
    assert b.shape == (4, 1, 3200)


def test_csv_file_column_duplicates_and_missing_rows_warn(tmp_path):
    _write(tmp_path / "a.flac", speech_like(0.3, SR))
    rows = [
        {"file": "a.flac", "speaker": "s"},
        {"file": "a.flac", "speaker": "s"},
        {"file": "gone.flac", "speaker": "s"},
    ]
    m = _csv(tmp_path / "m.csv", rows)
    with pytest.warns(UserWarning) as rec:
        entries = list_audio_files(m, group_column="speaker")
    messages = " ".join(str(w.message) for w in rec)
    assert "1 duplicate" in messages and "gone.flac" in messages
    assert entries == [AudioEntry(tmp_path / "a.flac", "s")]


def test_empty_or_bad_sources_fail_at_setup(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no audio files"):
        AudioDataModule(train=str(tmp_path / "empty")).setup("fit")
    with pytest.raises(FileNotFoundError, match="not found"):
        AudioDataModule(train=str(tmp_path / "nowhere.csv")).setup("fit")
    (tmp_path / "header.csv").write_text("path,speaker\n")
    with pytest.raises(ValueError, match="no existing audio file"):
        AudioDataModule(train=str(tmp_path / "header.csv")).setup("fit")
    (tmp_path / "cols.csv").write_text("name\nx.wav\n")
    with pytest.raises(ValueError, match="no path column"):
        list_audio_files(tmp_path / "cols.csv")
    _write(tmp_path / "x.wav", speech_like(0.2, SR))
    (tmp_path / "ok.csv").write_text("path\nx.wav\n")
    with pytest.raises(ValueError, match="no group column 'speaker'"):
        list_audio_files(tmp_path / "ok.csv", group_column="speaker")
    with pytest.raises(ValueError, match="batch_size"):
        AudioDataModule(train=str(tmp_path), batch_size=0)


@pytest.mark.parametrize("balance", [True, False])
def test_group_balancing_with_skewed_file_counts(tmp_path, balance):
    # group "few": 1 file (value 0.1); group "many": 9 files (values 0.2...).
    _write(tmp_path / "few" / "0.wav", _dc(0.1, 0.2))
    for i in range(9):
        _write(tmp_path / "many" / f"{i}.wav", _dc(0.2 + 0.05 * i, 0.2))
    dm = _module(
        tmp_path,
        segment_seconds=0.05,
        loudness_db=None,
        balance_groups=balance,
        batch_size=50,
        train_samples_per_epoch=600,
    )
    first = torch.cat(_batches(dm, 12))[:, 0, 0].numpy()
    frac_few = float(np.mean(np.abs(first - 0.1) < 0.01))
    expected = 0.5 if balance else 0.1
    assert abs(frac_few - expected) < 4 * math.sqrt(expected * (1 - expected) / first.size)
    # within the big group, files are uniform: all nine appear
    assert len(np.unique(np.round(first[first > 0.15], 2))) == 9


def test_length_weighting():
    e = [AudioEntry(Path(f"{i}"), g) for i, g in enumerate("aab")]
    p = sampling_probabilities(e, balance_groups=True, lengths=np.array([1.0, 3.0, 5.0]))
    np.testing.assert_allclose(p, [0.125, 0.375, 0.5])
    p = sampling_probabilities(e, balance_groups=False, lengths=np.array([1.0, 3.0, 4.0]))
    np.testing.assert_allclose(p, [0.125, 0.375, 0.5])
    np.testing.assert_allclose(sampling_probabilities(e, balance_groups=False), [1 / 3] * 3)


def test_length_weighted_module_reads_lengths(tmp_path):
    _write(tmp_path / "g" / "short.wav", _dc(0.1, 0.25))
    _write(tmp_path / "g" / "long.wav", _dc(0.1, 0.75))
    dm = _module(tmp_path, length_weighted=True)
    assert dm.train_dataset is not None
    np.testing.assert_allclose(dm.train_dataset.probabilities, [0.75, 0.25])  # long, short


def test_gated_level_matches_sine_rms_and_ignores_pauses():
    t = np.arange(SR) / SR
    sine = 0.3 * np.sin(2 * np.pi * 440 * t)
    assert abs(gated_level_db(sine, SR) - 20 * np.log10(0.3 / np.sqrt(2))) < 0.05
    x = speech_like(2.0, SR)
    padded = np.concatenate([np.zeros(SR), x, np.zeros(2 * SR)])
    assert abs(gated_level_db(padded, SR) - gated_level_db(x, SR)) < 1.0
    plain = 10 * np.log10(np.mean(padded**2) / np.mean(x.astype(np.float64) ** 2))
    assert plain < -3.5  # what an ungated RMS would have done
    assert gated_level_db(np.zeros(SR), SR) == -math.inf


@pytest.mark.parametrize("start_db", [-38.0, -15.0])
def test_loudness_normalisation_hits_target(tmp_path, start_db):
    x = speech_like(1.0, SR, seed=4)
    x = x * 10 ** ((start_db - gated_level_db(x, SR)) / 20)
    _write(tmp_path / "s.wav", x, subtype="FLOAT")
    dm = _module(tmp_path, segment_seconds=1.0, loudness_db=-23.0, batch_size=2)
    (b,) = _batches(dm, 1)
    assert abs(gated_level_db(b[0, 0].numpy(), SR) - (-23.0)) < 1.0
    # stationary input: the plain RMS of the output is the target too (independent measure)
    y = normalize_loudness(noise(1.0, SR, level=0.01), SR, target_db=-23.0)
    assert abs(20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2))) + 23.0) < 1.0


def test_loudness_caps_silence_near_silence_and_peaks(tmp_path):
    _write(tmp_path / "zero.wav", np.zeros(SR, dtype=np.float32))
    dm = _module(tmp_path, segment_seconds=0.5, batch_size=2)
    (b,) = _batches(dm, 1)
    assert torch.count_nonzero(b) == 0  # silence stays silent
    assert loudness_gain(noise(1.0, SR, level=1e-4), SR) == 1.0  # -80 dB: below the gate
    quiet = noise(1.0, SR, level=1e-3)  # -60 dB: boosted by the +20 dB cap only
    assert abs(gated_level_db(normalize_loudness(quiet, SR), SR) - (-40.0)) < 0.5
    clicks = np.zeros(SR, dtype=np.float32)
    clicks[::4000] = 0.5  # very low level, high peak
    y = normalize_loudness(clicks, SR, target_db=-10.0, max_gain_db=60.0)
    assert 0.98 < np.max(np.abs(y)) <= 0.99 + 1e-6


def test_short_files_are_padded_and_min_seconds_skips(tmp_path):
    _write(tmp_path / "short.wav", _dc(0.25, 0.1))
    dm = _module(tmp_path, segment_seconds=0.5, loudness_db=None)
    (b,) = _batches(dm, 1)
    nz = (b[:, 0].abs() > 0).sum(dim=1)
    assert torch.all(nz == 1600) and b.shape[-1] == 8000
    starts = [int(torch.nonzero(r[0])[0]) for r in b]
    assert len(set(starts)) > 1  # random placement
    _write(tmp_path / "long.wav", _dc(0.5, 1.0))
    dm = _module(tmp_path, segment_seconds=0.5, loudness_db=None, min_seconds=0.2)
    vals = torch.cat(_batches(dm, 4))[:, 0, 0]
    assert torch.allclose(vals, torch.full_like(vals, 0.5), atol=1e-3)


def test_corrupt_file_is_skipped_with_warning_naming_it(tmp_path):
    _speech_folder(tmp_path / "d", {"good": 3})
    (tmp_path / "d" / "bad").mkdir()
    (tmp_path / "d" / "bad" / "broken.wav").write_bytes(np.random.bytes(3000))
    dm = _module(tmp_path / "d", segment_seconds=0.2)
    with pytest.warns(UserWarning, match="skipping a training file.*broken.wav"):
        batches = _batches(dm, 3)
    assert all(b.shape == (4, 1, 3200) and torch.isfinite(b).all() for b in batches)
    assert all(b.abs().amax(dim=-1).min() > 0 for b in batches)  # every item real speech


def test_all_files_bad_raise(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"RIFF0000WAVEjunk")
    (tmp_path / "b.flac").write_bytes(b"")
    dm = _module(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(AudioError, match="all 2 training files"):
            _batches(dm, 1)


def test_determinism_seed_epochs_rank_and_workers(tmp_path):
    root = _speech_folder(tmp_path, {"a": 2, "b": 2}, seconds=0.8)
    kw = dict(segment_seconds=0.1, augment=True, train_samples_per_epoch=8)
    one = _batches(_module(root, seed=3, **kw), 2)
    two = _batches(_module(root, seed=3, **kw), 2)
    other = _batches(_module(root, seed=4, **kw), 2)
    assert all(torch.equal(x, y) for x, y in zip(one, two))
    assert not torch.equal(one[0], other[0])
    dm = _module(root, seed=3, num_workers=2, **kw)
    loader = dm.train_dataloader()
    epoch0, epoch1 = list(loader), list(loader)
    assert all(torch.equal(x, y) for x, y in zip(one, epoch0))  # workers do not matter
    assert not torch.equal(epoch0[0], epoch1[0])  # new crops each epoch
    resumed = _module(root, seed=3, **kw).train_dataloader()
    resumed.sampler.set_epoch(1)  # what Lightning does on resume
    assert all(torch.equal(x, y) for x, y in zip(epoch1, resumed))
    ds = _module(root, seed=3, **kw).train_dataset
    assert ds is not None
    ds.rank = 1  # another DDP rank draws other crops
    assert not torch.equal(ds[0], one[0][0])


def test_augmentation_gain_range_and_polarity(tmp_path):
    _write(tmp_path / "dc.wav", _dc(0.2, 0.5))
    dm = _module(
        tmp_path,
        segment_seconds=0.05,
        loudness_db=None,
        augment=True,
        batch_size=32,
        train_samples_per_epoch=64,
    )
    v = torch.cat(_batches(dm, 2))[:, 0, 0].numpy() / 0.2
    assert (v > 0).any() and (v < 0).any()
    g = 20 * np.log10(np.abs(v))
    assert g.min() >= -6.0 - 0.01 and g.max() <= 3.0 + 0.01 and g.std() > 1.0


def test_validation_clips_fixed_and_round_robin(tmp_path):
    root = _speech_folder(tmp_path / "v", {"a": 3, "b": 1}, seconds=0.3)
    _write(root / "b" / "long.wav", speech_like(1.5, SR))
    (root / "a" / "1_bad.wav").write_bytes(b"nonsense")
    dm = AudioDataModule(
        train=str(root), val=str(root), val_seconds=1.0, val_max_files=5, val_batch_size=2
    )
    with pytest.warns(UserWarning, match="1_bad.wav"):
        dm.setup("validate")
    assert dm.val_dataset is not None
    names = [f"{p.parent.name}/{p.stem}" for p in dm.val_dataset.paths]
    assert names == ["a/0", "b/0", "a/1", "b/long", "a/2"]  # round robin, bad file skipped
    b1 = [b.clone() for b in dm.val_dataloader()]
    b2 = list(dm.val_dataloader())
    assert [b.shape for b in b1] == [(2, 1, SR), (2, 1, SR), (1, 1, SR)]
    assert all(torch.equal(x, y) for x, y in zip(b1, b2))
    assert torch.count_nonzero(b1[0][0, 0, int(0.31 * SR) :]) == 0  # 0.3 s clip, padded
    whole = AudioDataModule(train=str(root), val=str(root), val_seconds=None)
    with pytest.warns(UserWarning, match="1_bad.wav"):
        lens = sorted(b.shape[-1] for b in whole.val_dataloader())
    assert lens == [int(0.3 * SR)] * 4 + [int(1.5 * SR)]
    assert AudioDataModule(train=str(root)).val_dataloader() == []


def test_cache_is_lru_within_budget():
    c = DecodedAudioCache(budget_mb=3 * 4096 / 2**20)  # room for three 1024-sample arrays
    for k in "abc":
        c.put(k, np.zeros(1024, dtype=np.float32))
    assert c.get("a") is not None  # a becomes most recent
    c.put("d", np.zeros(1024, dtype=np.float32))
    assert c.get("b") is None and c.get("a") is not None and len(c) == 3
    c.put("huge", np.zeros(10_000, dtype=np.float32))
    assert c.get("huge") is None and c.used <= c.budget


def test_epoch_sampler_indices():
    s = EpochSampler(3)
    assert list(s) == [0, 1, 2] and list(s) == [3, 4, 5] and len(s) == 3
    s.set_epoch(5)
    assert list(s) == [15, 16, 17]


def test_lightningcli_style_config(tmp_path):
    _speech_folder(tmp_path, {"a": 1})
    parser = jsonargparse.ArgumentParser()
    parser.add_argument("--data", type=pl.LightningDataModule)
    cfg = parser.parse_object(
        {
            "data": {
                "class_path": "cplxcodec.training.data.AudioDataModule",
                "init_args": {"train": str(tmp_path), "batch_size": 2, "loudness_db": None},
            }
        }
    )
    dm = parser.instantiate(cfg).data
    assert isinstance(dm, AudioDataModule) and dm.batch_size == 2
    assert dm.hparams.loudness_db is None


class _Probe(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.seen: list[torch.Tensor] = []

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        self.seen.append(batch.clone())
        return (self.w * batch).pow(2).mean() + self.w**2

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        assert batch.ndim == 3 and batch.shape[1] == 1

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_trainer_fit_sees_fresh_crops_each_epoch(tmp_path):
    root = _speech_folder(tmp_path / "d", {"a": 2}, seconds=0.5)
    dm = AudioDataModule(
        train=str(root),
        val=str(root),
        segment_seconds=0.1,
        batch_size=2,
        train_samples_per_epoch=4,
        val_seconds=0.2,
    )
    model = _Probe()
    trainer = pl.Trainer(
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        default_root_dir=tmp_path,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's advice about num_workers
        trainer.fit(model, datamodule=dm)
    assert len(model.seen) == 4
    expected = [dm.train_dataset[i] for i in range(8)]  # epoch 1 continues at index 4
    got = [item for b in model.seen for item in b]
    assert all(torch.equal(x, y) for x, y in zip(got, expected))
