"""Training callbacks and TensorBoard media: speed monitor, audio examples, spectrogram/phase images.

Figures are drawn with :class:`matplotlib.figure.Figure` on an Agg canvas (no ``pyplot``, no
global state) and logged as RGB images.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import time
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor

__all__ = [
    "MallocTuning",
    "TorchThreads",
    "TrainingSpeed",
    "figure_to_array",
    "log_media",
    "spectrogram_figure",
    "tune_malloc",
]

_N_FFT, _HOP = 512, 128
_FLOOR_DB = -80.0


class TorchThreads(pl.Callback):
    """Sets torch's intra-op thread count for the run (``torch.set_num_threads``) at setup.

    An application setting, made explicit in the training config rather than hidden in library
    code. On a shared, oversubscribed CPU machine one thread is much faster than two: measured
    for speech16k (batch 16 x 1 s) at load average 12 on 2 cores, 5.5 s/step with 1 thread
    against 20-57 s/step with 2, whose parallel regions (e.g. ``index_add_`` in the codebook
    updates, 0.15 s per call instead of 0.1 ms) wait on descheduled threads.

    Args:
        num_threads: threads for intra-op parallelism (``>= 1``).
    """

    def __init__(self, num_threads: int = 1) -> None:
        super().__init__()
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        self.num_threads = num_threads

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        torch.set_num_threads(self.num_threads)


# glibc's mallopt parameter numbers (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def _check_malloc_values(**values: int) -> None:
    for name, value in values.items():
        if not 0 <= value < 1 << 31:  # mallopt takes a C int
            raise ValueError(f"{name} must be in [0, 2**31), got {value}")


def tune_malloc(
    mmap_threshold: int = 32 << 20, trim_threshold: int = (1 << 31) - 1, top_pad: int = 64 << 20
) -> bool:
    """Make glibc's allocator keep and reuse freed memory; returns whether it was applied.

    By default glibc serves every block above a dynamic threshold (128 KiB to start) with a fresh
    ``mmap`` and returns it to the kernel on ``free``, so each large tensor a training step
    allocates is page-faulted in again, zero page by zero page: on the speech16k step that is
    most of ``aten::fill_`` and part of ``aten::copy_`` (a 10 MB padding buffer took 64 ms to
    fill instead of ~1 ms). Serving blocks up to ``mmap_threshold`` from the heap, trimming it
    only past ``trim_threshold`` and growing it by ``top_pad`` makes the step reuse warm pages:
    2.90-3.09 → 2.48-2.67 CPU-s per step on 1 thread (A/B of a speech16k training step, batch
    16 × 1 s).
    The price is a resident set that stays at its peak. No-op (``False``) off glibc or when
    ``CPLXCODEC_NO_MALLOC_TUNING`` is set.
    """
    _check_malloc_values(
        mmap_threshold=mmap_threshold, trim_threshold=trim_threshold, top_pad=top_pad
    )
    if os.environ.get("CPLXCODEC_NO_MALLOC_TUNING") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = [
        mallopt(_M_MMAP_THRESHOLD, mmap_threshold),
        mallopt(_M_TRIM_THRESHOLD, trim_threshold),
        mallopt(_M_TOP_PAD, top_pad),
    ]
    return all(r == 1 for r in done)


class MallocTuning(pl.Callback):
    """Applies :func:`tune_malloc` at setup: training steps reuse warm heap pages.

    An application setting like :class:`TorchThreads` (it changes the whole process's
    allocator), so it lives in the training config. ``applied`` says whether it took effect.
    """

    def __init__(
        self,
        mmap_threshold: int = 32 << 20,
        trim_threshold: int = (1 << 31) - 1,
        top_pad: int = 64 << 20,
    ) -> None:
        super().__init__()
        self.kwargs = dict(
            mmap_threshold=mmap_threshold, trim_threshold=trim_threshold, top_pad=top_pad
        )
        _check_malloc_values(**self.kwargs)
        self.applied = False

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.applied = tune_malloc(**self.kwargs)


class TrainingSpeed(pl.Callback):
    """Logs training speed every ``every_n_steps`` optimizer steps (global rank 0).

    ``perf/steps_per_sec``: optimizer steps per wall second between two logs, excluding time
    spent in validation; ``perf/audio_x_realtime``: seconds of training audio per wall second
    (batch x segment x steps); ``perf/cpu_sec_per_step``: CPU time of this process per step
    (all its threads), which on a shared machine says more than wall time. Written straight to
    the loggers (not through ``self.log``, whose step metrics would repeat between logs) and kept
    in :attr:`last`.
    """

    def __init__(self, every_n_steps: int = 50) -> None:
        super().__init__()
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.last: dict[str, float] = {}
        self._mark: tuple[float, float, int] | None = None
        self._paused = (0.0, 0.0)
        self._val_mark: tuple[float, float] | None = None

    def _reset(self, trainer: pl.Trainer) -> None:
        self._mark = (time.perf_counter(), time.process_time(), trainer.global_step)
        self._paused = (0.0, 0.0)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._reset(trainer)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._val_mark = (time.perf_counter(), time.process_time())

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._val_mark is not None:
            wall, cpu = self._paused
            self._paused = (
                wall + time.perf_counter() - self._val_mark[0],
                cpu + time.process_time() - self._val_mark[1],
            )
            self._val_mark = None

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self._mark is None:
            return
        wall0, cpu0, step0 = self._mark
        steps = trainer.global_step - step0
        if steps < self.every_n_steps:
            return
        wall = max(time.perf_counter() - wall0 - self._paused[0], 1e-9)
        cpu = time.process_time() - cpu0 - self._paused[1]
        logs = {"perf/steps_per_sec": steps / wall, "perf/cpu_sec_per_step": cpu / steps}
        sr = getattr(getattr(pl_module, "codec", None), "sample_rate", None)
        if isinstance(batch, Tensor) and sr:
            logs["perf/audio_x_realtime"] = steps / wall * batch.shape[0] * batch.shape[-1] / sr
        self.last = logs
        if trainer.global_rank == 0:
            for logger in trainer.loggers:
                logger.log_metrics(logs, step=trainer.global_step)
        self._reset(trainer)


def _stft(x: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    win = torch.hann_window(_N_FFT)
    return torch.stft(t, _N_FFT, _HOP, window=win, return_complex=True).numpy()


def spectrogram_figure(
    reference: np.ndarray, decoded: dict[str, np.ndarray], sample_rate: int
) -> Any:
    """Figure with one row per signal (reference first) and three columns.

    Columns: log magnitude (dB re the reference peak, floored at -80 dB); phase
    :math:`\\angle X` (cyclic colour map); phase error :math:`\\angle(\\hat X \\bar X)` against
    the reference, shown only where the reference is within 50 dB of its peak (elsewhere phase is
    meaningless). Returns a :class:`matplotlib.figure.Figure` (not registered with pyplot).
    """
    from matplotlib.figure import Figure

    ref = _stft(reference)
    peak = max(float(np.abs(ref).max()), 1e-8)
    rows = {"reference": ref, **{k: _stft(v) for k, v in decoded.items()}}
    fig = Figure(figsize=(12, 2.4 * len(rows)), dpi=72, layout="constrained")
    axes = fig.subplots(len(rows), 3, squeeze=False)
    extent = (0.0, len(reference) / sample_rate, 0.0, sample_rate / 2000.0)
    mask = 20 * np.log10(np.abs(ref) / peak + 1e-12) > -50.0
    for r, (name, spec) in enumerate(rows.items()):
        n = min(spec.shape[-1], ref.shape[-1])
        db = np.maximum(20 * np.log10(np.abs(spec[:, :n]) / peak + 1e-12), _FLOOR_DB)
        err = np.where(mask[:, :n], np.angle(spec[:, :n] * np.conj(ref[:, :n])), np.nan)
        panels = (
            (db, "magma", (_FLOOR_DB, 0.0), "magnitude (dB)"),
            (np.angle(spec[:, :n]), "twilight", (-np.pi, np.pi), "phase"),
            (err, "twilight", (-np.pi, np.pi), "phase error vs reference"),
        )
        for c, (img, cmap, (lo, hi), title) in enumerate(panels):
            ax = axes[r][c]
            im = ax.imshow(
                img,
                origin="lower",
                aspect="auto",
                cmap=cmap,
                vmin=lo,
                vmax=hi,
                extent=extent,
                interpolation="nearest",
            )
            ax.set_title(f"{name}: {title}", fontsize=9)
            ax.set_xlabel("s", fontsize=8)
            ax.set_ylabel("kHz", fontsize=8)
            ax.tick_params(labelsize=7)
            fig.colorbar(im, ax=ax)
    return fig


def figure_to_array(fig: Any) -> np.ndarray:
    """Render a Figure on an Agg canvas; returns ``(H, W, 3)`` uint8."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def log_media(
    module: pl.LightningModule, wav: Tensor, decoded: dict[float, Tensor], n_clips: int
) -> None:
    """Log audio and spectrogram/phase images of the first ``n_clips`` clips to TensorBoard.

    Only on global rank 0 and only for a :class:`~pytorch_lightning.loggers.TensorBoardLogger`;
    other loggers are ignored.
    """
    from pytorch_lightning.loggers import TensorBoardLogger

    if module.trainer.global_rank != 0:
        return
    writers = [lg.experiment for lg in module.loggers if isinstance(lg, TensorBoardLogger)]
    if not writers:
        return
    sr = module.codec.sample_rate
    step = module.global_step
    for i in range(min(n_clips, wav.shape[0])):
        ref = wav[i, 0].detach().float().cpu().numpy()
        dec = {f"{k:g}kbps": v[i, 0].detach().float().cpu().numpy() for k, v in decoded.items()}
        image = figure_to_array(spectrogram_figure(ref, dec, sr))
        for w in writers:
            w.add_audio(f"audio/clip{i}/reference", ref[None], step, sample_rate=sr)
            for name, x in dec.items():
                w.add_audio(f"audio/clip{i}/{name}", np.clip(x, -1, 1)[None], step, sample_rate=sr)
            w.add_image(f"spectra/clip{i}", image, step, dataformats="HWC")
