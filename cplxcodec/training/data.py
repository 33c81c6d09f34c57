"""``AudioDataModule``: the LightningDataModule that trains codecs on folders or CSV manifests.

Sources. ``train``/``val``/``test`` are each a folder or a CSV manifest, listed by
:func:`~cplxcodec.training.sources.list_audio_files` (rules in :mod:`cplxcodec.training.sources`;
the group of a file is its first-level sub-folder or its ``group_column`` value). Nothing left
after dropping duplicates and missing files is an error at ``setup``.

Training items. An epoch is ``train_samples_per_epoch`` random crops of ``segment_seconds``
(:class:`~cplxcodec.training.datasets.RandomCropDataset`). Item ``i`` of epoch ``e`` is a pure
function of ``(seed, rank, e * train_samples_per_epoch + i)``: it draws a file (each group
equally likely with ``balance_groups``, then a file within it, uniformly or by length), a crop
start (uniform), and the augmentation. So batches do not depend on ``num_workers``, on worker
scheduling or on the cache, different DDP ranks draw different crops, and a resumed run
(Lightning calls ``set_epoch``) continues the same sequence. Files shorter than the segment are
zero-padded at a random offset; files shorter than ``min_seconds`` are redrawn; unreadable files
are skipped with a warning (rules in :mod:`cplxcodec.training.datasets`).

Each decoded file is mono-downmixed, resampled (soxr) and loudness-normalised once, then kept in
a per-worker LRU cache bounded by ``cache_mb`` (so the total is ``cache_mb`` x workers x ranks).

Validation items are fixed: up to ``val_max_files`` files (round-robin over groups, so every
group is present), each the first ``val_seconds`` of the clip, zero-padded when shorter (``None``:
whole clips, batch size 1). They are decoded once at ``setup`` and are the same every epoch.
Test clips follow the same rules.

Trainer. The train loader uses :class:`~cplxcodec.training.datasets.EpochSampler` (a finite
sampler of global item indices), not a ``DistributedSampler``. Recommended:
``Trainer(use_distributed_sampler=False)``: every rank then draws ``train_samples_per_epoch``
crops of its own per epoch and evaluates the whole validation set. With the default ``True`` it
still works: Lightning wraps the sampler and shards its indices, so ranks see disjoint crops and
``train_samples_per_epoch`` counts all ranks.

The dataset classes and source helpers are re-exported here, where they were first defined.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from cplxcodec.training.datasets import (
    ClipDataset,
    DecodedAudioCache,
    EpochSampler,
    RandomCropDataset,
)
from cplxcodec.training.sources import (
    AudioEntry,
    _lengths,
    list_audio_files,
    sampling_probabilities,
)

__all__ = [
    "AudioDataModule",
    "AudioEntry",
    "ClipDataset",
    "DecodedAudioCache",
    "EpochSampler",
    "RandomCropDataset",
    "list_audio_files",
    "sampling_probabilities",
]


class AudioDataModule(pl.LightningDataModule):
    """Speech/audio data for codec training: random crops for training, fixed clips for validation.

    Every argument is a typed keyword usable from LightningCLI YAML (``class_path`` /
    ``init_args``); the rules are in the module docstring. Batches are float32 ``(B, 1, T)``.

    Args:
        train: training folder or CSV manifest.
        val: validation folder or CSV manifest; ``None``: no validation batches.
        sample_rate: rate of the batches in Hz (files are resampled with soxr on load).
        segment_seconds: length of a training crop.
        batch_size: training batch size (batches are full; ``drop_last``).
        num_workers: DataLoader worker processes for training (persistent when > 0).
        loudness_db: target gated level (dB re full scale, ~LUFS, see
            :mod:`cplxcodec.training.transforms`) per file, at most +20 dB of gain and no peak
            above 0.99; ``None`` leaves levels alone.
        balance_groups: each group equally likely, then a file within it.
        length_weighted: within a group (or overall), draw files in proportion to their length
            (read from the file headers at setup) instead of uniformly.
        group_column: CSV column naming the group (e.g. ``speaker``).
        path_column: CSV column with the file paths (default ``path``, else ``file``).
        augment: random gain in [-6, +3] dB and random polarity inversion on training crops.
        train_samples_per_epoch: training crops per epoch (per rank, see the module docstring).
        min_seconds: training files shorter than this are never used (shorter ones than the
            segment are zero-padded).
        val_max_files: at most this many validation files (``None``: all).
        val_seconds: validation clip length (``None``: whole clips, batch size 1).
        val_batch_size: validation batch size (``None``: ``batch_size``).
        cache_mb: memory budget of each worker's cache of decoded files, in MiB.
        pin_memory: DataLoader ``pin_memory`` (useful on GPU).
        seed: seed of all the sampling (see the module docstring).
        test: test folder or CSV manifest (clips as for validation); ``None``: no test set.
    """

    def __init__(
        self,
        train: str,
        val: str | None = None,
        sample_rate: int = 16000,
        segment_seconds: float = 1.0,
        batch_size: int = 16,
        num_workers: int = 0,
        loudness_db: float | None = -23.0,
        balance_groups: bool = True,
        length_weighted: bool = False,
        group_column: str | None = None,
        path_column: str | None = None,
        augment: bool = False,
        train_samples_per_epoch: int = 10000,
        min_seconds: float = 0.0,
        val_max_files: int | None = 100,
        val_seconds: float | None = 2.0,
        val_batch_size: int | None = None,
        cache_mb: float = 512.0,
        pin_memory: bool = False,
        seed: int = 0,
        test: str | None = None,
    ) -> None:
        super().__init__()
        checks = {
            "sample_rate": sample_rate > 0,
            "segment_seconds": segment_seconds > 0,
            "batch_size": batch_size > 0,
            "num_workers": num_workers >= 0,
            "train_samples_per_epoch": train_samples_per_epoch >= batch_size,
            "min_seconds": min_seconds >= 0,
            "cache_mb": cache_mb >= 0,
            "seed": seed >= 0,
            "val_max_files": val_max_files is None or val_max_files > 0,
            "val_seconds": val_seconds is None or val_seconds > 0,
            "val_batch_size": val_batch_size is None or val_batch_size > 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                f"AudioDataModule: invalid {', '.join(bad)} (rates, lengths, sizes must be "
                "positive, seed >= 0, train_samples_per_epoch >= batch_size)"
            )
        self.save_hyperparameters()
        self.train_source, self.val_source = train, val
        self.sample_rate, self.batch_size, self.num_workers = sample_rate, batch_size, num_workers
        self.segment_samples = int(round(segment_seconds * sample_rate))
        self.train_dataset: RandomCropDataset | None = None
        self.val_dataset: ClipDataset | None = None
        self.test_dataset: ClipDataset | None = None
        self._resume: dict[str, int] | None = None  # stream position from a checkpoint

    def setup(self, stage: str | None = None) -> None:
        """Read the sources (errors for empty/missing ones) and build the datasets."""
        h = self.hparams
        if stage in (None, "fit") and self.train_dataset is None:
            entries = list_audio_files(self.train_source, h.group_column, h.path_column)
            lengths = _lengths(entries) if h.length_weighted else None
            self.train_dataset = RandomCropDataset(
                entries,
                sampling_probabilities(entries, h.balance_groups, lengths),
                sample_rate=self.sample_rate,
                segment_samples=self.segment_samples,
                samples_per_epoch=h.train_samples_per_epoch,
                seed=h.seed,
                min_samples=int(round(h.min_seconds * self.sample_rate)),
                loudness_db=h.loudness_db,
                augment=h.augment,
                cache_mb=h.cache_mb,
            )
        if stage in (None, "fit", "validate") and self.val_source and self.val_dataset is None:
            self.val_dataset = self._clip_dataset(self.val_source)

        if stage == "test" and self.test_dataset is None:
            if not h.test:
                raise ValueError(
                    "AudioDataModule: no test source; set data.test to a folder or CSV"
                )
            self.test_dataset = self._clip_dataset(h.test)

    def _clip_dataset(self, source: str) -> ClipDataset:
        """Fixed clips of ``source`` for validation or test (``val_seconds``, ``val_max_files``)."""
        h = self.hparams
        seconds = h.val_seconds
        return ClipDataset(
            list_audio_files(source, h.group_column, h.path_column),
            sample_rate=self.sample_rate,
            clip_samples=None if seconds is None else int(round(seconds * self.sample_rate)),
            max_files=h.val_max_files,
            loudness_db=h.loudness_db,
        )

    def train_dataloader(self) -> DataLoader[torch.Tensor]:
        """Random crops ``(B, 1, T)``; the dataset is seeded with this process's global rank."""
        if self.train_dataset is None:
            self.setup("fit")
        assert self.train_dataset is not None
        self.train_dataset.rank = getattr(self.trainer, "global_rank", 0) or 0
        epoch, start = 0, 0
        if self._resume is not None:
            epoch, start = self._resume["epoch"], self._resume["items"]
            self._resume = None
        return DataLoader(
            self.train_dataset,
            batch_size=self.batch_size,
            sampler=EpochSampler(len(self.train_dataset), epoch=epoch, start=start),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.hparams.pin_memory,
            drop_last=True,
            # Worker seeds come from this generator, not from torch's global one, so building a
            # loader does not shift the model's random stream (exact resume).
            generator=torch.Generator().manual_seed(self.hparams.seed),
        )

    def val_dataloader(self) -> DataLoader[torch.Tensor] | list[torch.Tensor]:
        """Fixed clips ``(B, 1, T)`` in a fixed order; ``[]`` when there is no ``val`` source."""
        if self.val_source is None:
            return []
        if self.val_dataset is None:
            self.setup("validate")
        return self._clip_loader(self.val_dataset)

    def state_dict(self) -> dict[str, int]:
        """Position of the training stream, saved in Lightning checkpoints.

        ``{"epoch": e, "items": i}``: the next training item is item ``i`` of epoch ``e`` (items
        this rank has drawn and trained on, ``batches done this epoch x batch_size``, read from
        the trainer's loop counters, not from the prefetching loader). Empty without a trainer.
        """
        trainer = getattr(self, "trainer", None)
        if trainer is None or self.train_dataset is None:
            return {}
        epoch = int(trainer.current_epoch)
        items = int(trainer.fit_loop.epoch_loop.batch_progress.current.processed) * self.batch_size
        if items + self.batch_size > len(self.train_dataset):  # the epoch is done
            epoch, items = epoch + 1, 0
        return {"epoch": epoch, "items": items}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        """Resume the training stream at a position from :meth:`state_dict`.

        Exact when each rank has its own :class:`EpochSampler` (``use_distributed_sampler=False``
        on the Trainer); under Lightning's distributed sampler wrapper only the epoch is kept.
        """
        if state_dict:
            self._resume = {"epoch": int(state_dict["epoch"]), "items": int(state_dict["items"])}
            trainer = getattr(self, "trainer", None)
            connector = getattr(trainer, "_accelerator_connector", None)
            wrapped = getattr(connector, "use_distributed_sampler", False)
            if wrapped and getattr(trainer, "world_size", 1) > 1:
                self._resume["items"] = 0  # the wrapper needs full-length passes

    def test_dataloader(self) -> DataLoader[torch.Tensor]:
        """Fixed test clips ``(B, 1, T)`` (same clip rules as validation)."""
        if self.test_dataset is None:
            self.setup("test")
        return self._clip_loader(self.test_dataset)

    def _clip_loader(self, dataset: ClipDataset | None) -> DataLoader[torch.Tensor]:
        """Loader of validation or test clips: fixed order, ``val_batch_size`` (1 for whole clips)."""
        h = self.hparams
        return DataLoader(
            dataset,  # type: ignore[arg-type]
            batch_size=1 if h.val_seconds is None else (h.val_batch_size or self.batch_size),
            shuffle=False,
            pin_memory=h.pin_memory,
            generator=torch.Generator().manual_seed(h.seed),  # keeps torch's global RNG intact
        )
