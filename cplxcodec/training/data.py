"""Training data: audio file lists, random-crop and fixed-clip datasets, and ``AudioDataModule``.

Sources. ``train``/``val`` are each a folder (searched recursively for ``.wav``/``.flac``/``.ogg``,
hidden files skipped, sorted; the *group* of a file is its first-level sub-folder, so
``root/<speaker>/.../x.flac`` is balanced by speaker) or a CSV manifest (a path column, ``path``
or else ``file`` unless ``path_column`` says otherwise, relative paths resolved against the CSV's
folder; the group is the ``group_column`` value, or one group for all when it is ``None``).
Duplicate paths (first row kept) and missing files are dropped with a warning; nothing left is an
error at ``setup``.

Training items. An epoch is ``train_samples_per_epoch`` random crops of ``segment_seconds``.
Item ``i`` of epoch ``e`` is a pure function of ``(seed, rank, e * train_samples_per_epoch + i)``:
its numpy Generator is seeded from that triple (a ``SeedSequence``), it draws a file (each group
equally likely, then a file within it, uniformly or by length), a crop start (uniform), and the
augmentation. So batches do not depend on ``num_workers``, on worker scheduling or on the cache,
different DDP ranks draw different crops, and a resumed run (Lightning calls ``set_epoch``)
continues the same sequence. Files shorter than the segment are zero-padded at a random offset;
files shorter than ``min_seconds`` are redrawn. An unreadable file (:class:`AudioError`) is
skipped with a warning naming it and another file is drawn from the same stream; if every file
is unusable, :class:`AudioError` is raised.

Each decoded file is mono-downmixed, resampled (soxr) and loudness-normalised once, then kept in
a per-worker LRU cache bounded by ``cache_mb`` (so the total is ``cache_mb`` x workers x ranks).

Validation items are fixed: up to ``val_max_files`` files (round-robin over groups, so every
group is present), each the first ``val_seconds`` of the clip, zero-padded when shorter (``None``:
whole clips, batch size 1). They are decoded once at ``setup`` and are the same every epoch.

Trainer. The train loader uses :class:`EpochSampler` (a finite sampler of global item indices),
not a ``DistributedSampler``. Recommended: ``Trainer(use_distributed_sampler=False)``: every rank
then draws ``train_samples_per_epoch`` crops of its own per epoch and evaluates the whole
validation set. With the default ``True`` it still works: Lightning wraps the sampler and
shards its indices, so ranks see disjoint crops and ``train_samples_per_epoch`` counts all ranks.
"""

from __future__ import annotations

import csv
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import soundfile as sf
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from cplxcodec.audio import AUDIO_EXTENSIONS, AudioError, load_audio
from cplxcodec.training.transforms import augment_gain_polarity, normalize_loudness

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

_TRAIN_STREAM = 0x7261696E  # separates the training item streams from any other use of `seed`
_MAX_DRAWS = 1000


@dataclass(frozen=True)
class AudioEntry:
    """One audio file of a data source and its sampling group (speaker, corpus...)."""

    path: Path
    group: str


def list_audio_files(
    source: str | Path, group_column: str | None = None, path_column: str | None = None
) -> list[AudioEntry]:
    """The files of a folder or CSV manifest (rules in the module docstring).

    Raises:
        FileNotFoundError: ``source`` does not exist.
        ValueError: no files, missing columns, or no listed file exists.
    """
    src = Path(source).expanduser()
    if src.is_dir():
        files = sorted(
            p
            for p in src.rglob("*")
            if p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".") and p.is_file()
        )
        if not files:
            raise ValueError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) found under {src}")
        return [
            AudioEntry(p, p.relative_to(src).parts[0] if p.parent != src else "") for p in files
        ]
    if not src.is_file():
        raise FileNotFoundError(f"data source not found: {src} (expected a folder or a CSV file)")
    with open(src, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    col = path_column or next((c for c in ("path", "file") if c in columns), None)
    if col is None or col not in columns:
        raise ValueError(f"{src}: no path column {path_column or 'path/file'!r}; has {columns}")
    if group_column is not None and group_column not in columns:
        raise ValueError(f"{src}: no group column {group_column!r}; has {columns}")
    entries: dict[Path, AudioEntry] = {}
    missing: list[Path] = []
    n_dup = 0
    for row in rows:
        p = Path(row[col] or "")
        p = p if p.is_absolute() else src.parent / p
        if p in entries:
            n_dup += 1
        elif not p.is_file():
            missing.append(p)
        else:
            entries[p] = AudioEntry(p, (row[group_column] or "") if group_column else "")
    if n_dup:
        warnings.warn(f"{src}: ignored {n_dup} duplicate row(s) (first kept)", stacklevel=2)
    if missing:
        warnings.warn(
            f"{src}: ignored {len(missing)} listed file(s) that do not exist, e.g. {missing[0]}",
            stacklevel=2,
        )
    if not entries:
        raise ValueError(f"{src}: the manifest lists no existing audio file ({len(rows)} rows)")
    return list(entries.values())


def sampling_probabilities(
    entries: list[AudioEntry], balance_groups: bool, lengths: np.ndarray | None = None
) -> np.ndarray:
    """Probability of drawing each file: ``P(i) = P(group) P(i | group)``.

    With ``balance_groups`` every group has ``P(group) = 1/G``, else groups weigh by their file
    count (or total length). Within a group files are uniform, or proportional to ``lengths``.
    """
    w = np.ones(len(entries)) if lengths is None else np.asarray(lengths, dtype=np.float64)
    if w.shape != (len(entries),) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("lengths must be non-negative, one per file, and not all zero")
    if not balance_groups:
        return w / w.sum()
    groups = np.array([e.group for e in entries])
    p = np.zeros(len(entries))
    names = [g for g in np.unique(groups) if w[groups == g].sum() > 0]
    for g in names:
        m = groups == g
        p[m] = w[m] / w[m].sum() / len(names)
    return p


class DecodedAudioCache:
    """LRU map ``key -> np.ndarray`` whose arrays total at most ``budget_mb`` MiB."""

    def __init__(self, budget_mb: float) -> None:
        self.budget = int(budget_mb * 2**20)
        self.used = 0
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> np.ndarray | None:
        x = self._items.get(key)
        if x is not None:
            self._items.move_to_end(key)
        return x

    def put(self, key: str, x: np.ndarray) -> None:
        if key in self._items or x.nbytes > self.budget:
            return
        while self._items and self.used + x.nbytes > self.budget:
            self.used -= self._items.popitem(last=False)[1].nbytes
        self._items[key] = x
        self.used += x.nbytes


class _Decoder:
    """Decodes a file to mono float32 ``(T,)`` at ``sample_rate``, loudness-normalised, cached."""

    def __init__(self, sample_rate: int, loudness_db: float | None, cache_mb: float) -> None:
        self.sample_rate = sample_rate
        self.loudness_db = loudness_db
        self.cache = DecodedAudioCache(cache_mb)

    def __call__(self, path: Path) -> np.ndarray:
        x = self.cache.get(str(path))
        if x is None:
            x = load_audio(path, self.sample_rate, mono=True)[0][0]
            if self.loudness_db is not None:
                x = normalize_loudness(x, self.sample_rate, self.loudness_db)
            self.cache.put(str(path), x)
        return x


class RandomCropDataset(Dataset[torch.Tensor]):
    """Random ``(1, segment)`` float32 crops; item ``index`` depends only on seed, rank, index.

    ``len()`` is the epoch length; any non-negative ``index`` is valid (:class:`EpochSampler`
    yields ``epoch * len + i``).
    """

    def __init__(
        self,
        entries: list[AudioEntry],
        probabilities: np.ndarray,
        *,
        sample_rate: int,
        segment_samples: int,
        samples_per_epoch: int,
        seed: int = 0,
        rank: int = 0,
        min_samples: int = 0,
        loudness_db: float | None = -23.0,
        augment: bool = False,
        cache_mb: float = 512.0,
    ) -> None:
        self.entries = entries
        self.probabilities = np.asarray(probabilities, dtype=np.float64)
        self._cdf = np.cumsum(self.probabilities)
        self.segment_samples, self.samples_per_epoch = segment_samples, samples_per_epoch
        self.seed, self.rank, self.min_samples, self.augment = seed, rank, min_samples, augment
        self.decode = _Decoder(sample_rate, loudness_db, cache_mb)
        self.skipped: set[int] = set()  # files found unusable (per worker process)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def _skip(self, i: int, reason: str | None) -> None:
        self.skipped.add(i)
        if reason is not None:
            warnings.warn(f"skipping a training file, drawing another: {reason}", stacklevel=3)
        if self.probabilities[list(self.skipped)].sum() >= self._cdf[-1] - 1e-9:
            raise AudioError(
                f"all {len(self.skipped)} training files that can be drawn are unreadable or "
                f"shorter than min_seconds ({self.min_samples} samples); last: {reason}"
            )

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, _TRAIN_STREAM, self.rank, int(index)])
        for _ in range(_MAX_DRAWS):
            i = min(
                int(np.searchsorted(self._cdf, rng.random() * self._cdf[-1], "right")),
                len(self.entries) - 1,
            )
            if i in self.skipped:
                continue
            try:
                x = self.decode(self.entries[i].path)
            except AudioError as err:
                self._skip(i, str(err))
                continue
            if x.size < max(self.min_samples, 1):
                self._skip(i, None)
                continue
            return torch.from_numpy(self._crop(x, rng)[None])
        raise AudioError(f"no usable training file in {_MAX_DRAWS} draws for item {index}")

    def _crop(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = self.segment_samples
        if x.size >= n:
            start = int(rng.integers(0, x.size - n + 1))
            out = x[start : start + n].astype(np.float32, copy=True)
        else:
            out = np.zeros(n, dtype=np.float32)
            off = int(rng.integers(0, n - x.size + 1))
            out[off : off + x.size] = x
        return augment_gain_polarity(out, rng) if self.augment else out


class EpochSampler(Sampler[int]):
    """Yields ``epoch * n + i`` for ``start <= i < n``; the epoch advances after each pass.

    ``set_epoch`` (called by Lightning each epoch, also through its distributed wrapper) pins the
    epoch, so a resumed run reproduces the item stream. ``start`` skips the first items of the
    *next* pass only (then it is reset to 0): a run resumed mid-epoch continues with the item
    after the last one trained on. ``len()`` is always the full epoch ``n``.
    """

    def __init__(self, samples_per_epoch: int, epoch: int = 0, start: int = 0) -> None:
        if not 0 <= start <= samples_per_epoch:
            raise ValueError(f"start must lie in [0, {samples_per_epoch}], got {start}")
        self.samples_per_epoch, self.epoch, self.start = samples_per_epoch, epoch, start

    def __len__(self) -> int:
        return self.samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        base = self.epoch * self.samples_per_epoch
        skip, self.start = self.start, 0
        self.epoch += 1
        return iter(range(base + skip, base + self.samples_per_epoch))


class ClipDataset(Dataset[torch.Tensor]):
    """Fixed validation clips ``(1, T)`` decoded once (rules in the module docstring)."""

    def __init__(
        self,
        entries: list[AudioEntry],
        *,
        sample_rate: int,
        clip_samples: int | None,
        max_files: int | None = None,
        loudness_db: float | None = -23.0,
    ) -> None:
        decode = _Decoder(sample_rate, loudness_db, cache_mb=0.0)
        self.clips: list[torch.Tensor] = []
        self.paths: list[Path] = []
        for e in _round_robin(entries):
            if max_files is not None and len(self.clips) >= max_files:
                break
            try:
                x = decode(e.path)
            except AudioError as err:
                warnings.warn(f"skipping a validation file: {err}", stacklevel=2)
                continue
            if clip_samples is not None:
                x = np.pad(x[:clip_samples], (0, max(0, clip_samples - x.size)))
            self.clips.append(torch.from_numpy(np.ascontiguousarray(x, np.float32)[None]))
            self.paths.append(e.path)
        if not self.clips:
            raise AudioError(f"none of the {len(entries)} validation files could be read")

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.clips[index]


def _round_robin(entries: list[AudioEntry]) -> list[AudioEntry]:
    """Entries reordered as first file of each group, then second of each group, ..."""
    by_group: dict[str, list[AudioEntry]] = {}
    for e in entries:
        by_group.setdefault(e.group, []).append(e)
    lists = [by_group[g] for g in sorted(by_group)]
    return [ls[k] for k in range(max(map(len, lists))) for ls in lists if k < len(ls)]


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
            self.val_dataset = ClipDataset(
                list_audio_files(self.val_source, h.group_column, h.path_column),
                sample_rate=self.sample_rate,
                clip_samples=None
                if h.val_seconds is None
                else int(round(h.val_seconds * self.sample_rate)),
                max_files=h.val_max_files,
                loudness_db=h.loudness_db,
            )

        if stage == "test" and self.test_dataset is None:
            if not h.test:
                raise ValueError(
                    "AudioDataModule: no test source; set data.test to a folder or CSV"
                )
            self.test_dataset = ClipDataset(
                list_audio_files(h.test, h.group_column, h.path_column),
                sample_rate=self.sample_rate,
                clip_samples=None
                if h.val_seconds is None
                else int(round(h.val_seconds * self.sample_rate)),
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
        h = self.hparams
        return DataLoader(
            self.val_dataset,  # type: ignore[arg-type]
            batch_size=1 if h.val_seconds is None else (h.val_batch_size or self.batch_size),
            shuffle=False,
            pin_memory=h.pin_memory,
            generator=torch.Generator().manual_seed(h.seed),  # keeps torch's global RNG intact
        )

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
        h = self.hparams
        return DataLoader(
            self.test_dataset,  # type: ignore[arg-type]
            batch_size=1 if h.val_seconds is None else (h.val_batch_size or self.batch_size),
            shuffle=False,
            pin_memory=h.pin_memory,
            generator=torch.Generator().manual_seed(h.seed),  # keeps torch's global RNG intact
        )


def _lengths(entries: list[AudioEntry]) -> np.ndarray:
    """Durations in seconds from the file headers; 0 (never drawn) for unreadable files."""
    out = np.zeros(len(entries))
    for k, e in enumerate(entries):
        try:
            info = sf.info(str(e.path))
            out[k] = info.frames / info.samplerate
        except (sf.LibsndfileError, RuntimeError) as err:
            warnings.warn(f"skipping a training file: cannot read {e.path}: {err}", stacklevel=3)
    if not out.any():
        raise AudioError(f"none of the {len(entries)} training files has a readable length")
    return out
