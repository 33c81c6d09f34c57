"""Synthetic RVQ codes for the bitstream tests (no model, no files outside the repo)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

CodesFactory = Callable[[int, int], np.ndarray]


def zipf_probs(size: int, exponent: float, seed: int) -> np.ndarray:
    """A Zipf-like distribution over ``size`` symbols with a random symbol order."""
    probs = 1.0 / np.arange(1, size + 1) ** exponent
    probs /= probs.sum()
    return probs[np.random.default_rng(seed).permutation(size)]


@pytest.fixture
def skewed() -> tuple[np.ndarray, CodesFactory]:
    """(true probabilities, factory ``(n_stages, n_frames) -> codes``), V = 256, i.i.d."""
    probs = zipf_probs(256, 1.1, seed=1)
    rng = np.random.default_rng(2)

    def make(n_stages: int, n_frames: int) -> np.ndarray:
        return rng.choice(probs.shape[0], size=(n_stages, n_frames), p=probs)

    return probs, make


@pytest.fixture
def correlated() -> CodesFactory:
    """Codes whose stage k depends on stage k-1 through 8 hidden groups, V = 256."""
    rng = np.random.default_rng(3)
    size = 256

    def make(n_stages: int, n_frames: int) -> np.ndarray:
        out = np.empty((n_stages, n_frames), dtype=np.int64)
        out[0] = rng.integers(0, size, n_frames)
        for k in range(1, n_stages):
            group = (out[k - 1] * 7) % 8
            out[k] = (group * 32 + rng.geometric(0.15, n_frames)) % size
        return out

    return make
