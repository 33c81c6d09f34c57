"""Fixtures of the analysis tests: a stand-in codec (the real model lives in cplxcodec.models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _support import one_torch_thread
from scipy import signal as sps


class FakeCodec:
    """Low-pass filters (zero phase) and adds a little noise: more kbps, wider band and less
    noise. ``encode`` returns seeded random codes with stage ``collapsed_stage`` stuck on two
    entries."""

    sample_rate = 16000
    codebook_size = 64

    def __init__(self, n_stages: int = 4, collapsed_stage: int | None = 3) -> None:
        self.n_stages = n_stages
        self.collapsed_stage = collapsed_stage
        self.calls: list[float] = []

    def roundtrip(self, wav: np.ndarray, sample_rate: int, kbps: float) -> tuple:
        self.calls.append(kbps)
        b, a = sps.butter(6, min(0.95, 0.25 + kbps / 24.0))
        y = sps.filtfilt(b, a, np.asarray(wav, np.float64))
        rng = np.random.default_rng(int(kbps * 10))
        y = y + rng.standard_normal(y.size) * 0.02 / kbps
        return y.astype(np.float32), 1.05 * kbps

    def encode(self, wav: torch.Tensor, kbps: float) -> torch.Tensor:
        frames = wav.shape[-1] // 320
        gen = torch.Generator().manual_seed(int(kbps))
        codes = torch.randint(
            0, self.codebook_size, (wav.shape[0], self.n_stages, frames), generator=gen
        )
        if self.collapsed_stage is not None:
            codes[:, self.collapsed_stage] = codes[:, self.collapsed_stage] % 2
        return codes


@pytest.fixture
def fake_codec() -> FakeCodec:
    """A fresh :class:`FakeCodec` with 4 stages, stage 3 collapsed."""
    return FakeCodec()


@pytest.fixture(autouse=True)
def _single_torch_thread():
    """The small STFTs here run fastest on one thread on a shared 2-core machine."""
    with one_torch_thread():
        yield
