"""Training and validation datasets: seeded random crops, fixed clips, and their sampler.

Training items. An epoch is ``samples_per_epoch`` random crops of ``segment_samples``. Item
``i`` of epoch ``e`` is a pure function of ``(seed, rank, e * samples_per_epoch + i)``: its numpy
Generator is seeded from that triple (a ``SeedSequence``), it draws a file (by the given
probabilities, see :func:`cplxcodec.training.sources.sampling_probabilities`), a crop start
(uniform), and the augmentation. So batches do not depend on ``num_workers``, on worker scheduling
or on the cache, different DDP ranks draw different crops, and a resumed run (Lightning calls
``set_epoch`` on :class:`EpochSampler`) continues the same sequence. Files shorter than the
segment are zero-padded at a random offset; files shorter than ``min_samples`` are redrawn. An
unreadable file (:class:`AudioError`) is skipped with a warning naming it and another file is
drawn from the same stream; if every file is unusable, :class:`AudioError` is raised.

Each decoded file is mono-downmixed, resampled (soxr) and loudness-normalised once, then kept in
a per-worker LRU cache bounded by ``cache_mb`` (so the total is ``cache_mb`` x workers x ranks).

Validation items are fixed: up to ``max_files`` files (round-robin over groups, so every group is
present), each the first ``clip_samples`` of the clip, zero-padded when shorter (``None``: whole
clips). They are decoded once, when the dataset is built, and are the same every epoch.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from cplxcodec.audio import AudioError, load_audio
from cplxcodec.training.sources import AudioEntry, _round_robin
from cplxcodec.training.transforms import augment_gain_polarity, normalize_loudness

__all__ = [
    "ClipDataset",
    "DecodedAudioCache",
    "EpochSampler",
    "RandomCropDataset",
]

_TRAIN_STREAM = 0x7261696E  # separates the training item streams from any other use of `seed`
_MAX_DRAWS = 1000


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
