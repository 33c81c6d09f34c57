"""Shared fixtures: seeded randomness and synthetic signals (tests never read outside the repo)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from cplxcodec.signals import speech_like


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    """Every test starts from the same random state."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def speech_signal() -> np.ndarray:
    """One second of speech-like audio at 16 kHz, float32 ``(T,)``."""
    return speech_like(1.0, 16000)
