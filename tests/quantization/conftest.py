"""Fixtures for the quantizer tests: complex latents with structure (mixtures of Gaussians)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch


class ComplexMixture:
    """Complex latents ``(B, D, N)`` complex64 whose frames are drawn from a mixture of
    ``n_components`` circular complex Gaussians (centres of modulus ~``spread``)."""

    def __init__(self, dim: int, n_components: int = 32, spread: float = 2.0) -> None:
        self.dim = dim
        self.centres = spread * torch.randn(n_components, dim, dtype=torch.complex64)

    def __call__(
        self, batch: int, frames: int, *, scale: float = 1.0, shift: complex = 0.0
    ) -> torch.Tensor:
        pick = torch.randint(self.centres.shape[0], (batch, frames))
        noise = 0.5 * torch.randn(batch, frames, self.dim, dtype=torch.complex64)
        z = scale * (self.centres[pick] + noise) + shift
        return z.transpose(1, 2).contiguous()


@pytest.fixture
def mixture() -> Callable[..., ComplexMixture]:
    """Factory: ``mixture(dim, n_components=32, spread=2.0)`` → a :class:`ComplexMixture`."""
    return ComplexMixture
