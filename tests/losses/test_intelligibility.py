"""The differentiable STOI: it agrees with ``pystoi`` on speech-like signals at 16 and 24 kHz,
ranks distortions the same way, gives finite gradients, and refuses bad input clearly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pystoi import stoi as reference_stoi

from cplxcodec.losses import STOILoss, stoi
from cplxcodec.signals import speech_like


def _pair(sample_rate: int, snr_db: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x = speech_like(3.0, sample_rate, seed=seed).astype(np.float64)
    # silence in the middle: the silent-frame removal has something to remove
    x[len(x) // 3 : len(x) // 3 + sample_rate // 4] = 0.0
    rng = np.random.default_rng(seed + 1)
    n = rng.standard_normal(x.shape)
    n *= np.sqrt(np.mean(x**2) / np.mean(n**2)) * 10 ** (-snr_db / 20)
    return x, x + n


@pytest.mark.parametrize("sample_rate", [16000, 24000])
@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_agrees_with_pystoi(sample_rate: int, snr_db: float) -> None:
    x, y = _pair(sample_rate, snr_db)
    ours = float(stoi(torch.from_numpy(x), torch.from_numpy(y), sample_rate)[0])
    theirs = reference_stoi(x, y, sample_rate)
    assert abs(ours - theirs) < 0.02, (ours, theirs)


def test_ranks_distortions_and_identity_is_one() -> None:
    x, _ = _pair(16000, 0.0)
    t = torch.from_numpy(x)
    scores = [float(stoi(t, torch.from_numpy(_pair(16000, s)[1]), 16000)[0]) for s in (0, 10, 20)]
    assert scores[0] < scores[1] < scores[2] < 1.0
    assert float(stoi(t, t, 16000)[0]) == pytest.approx(1.0, abs=1e-4)


def test_batch_shapes_and_gradient() -> None:
    x0, y0 = _pair(16000, 5.0, seed=0)
    x1, y1 = _pair(16000, 15.0, seed=2)
    ref = torch.tensor(np.stack([x0, x1]), dtype=torch.float32)[:, None]
    est = torch.tensor(np.stack([y0, y1]), dtype=torch.float32)[:, None].requires_grad_(True)
    scores = stoi(ref, est, 16000)
    assert scores.shape == (2,)
    single = stoi(ref[1, 0], est[1, 0].detach(), 16000)
    scores = scores.detach()
    assert float(single[0]) == pytest.approx(float(scores[1]), abs=1e-6)
    loss = STOILoss(16000)(ref, est)
    assert float(loss.detach()) == pytest.approx(1.0 - float(scores.mean()), abs=1e-6)
    loss.backward()
    assert est.grad is not None and torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0


def test_bad_input() -> None:
    x = torch.from_numpy(speech_like(1.0, 16000)).float()
    with pytest.raises(ValueError, match="at least 9 kHz"):
        stoi(x, x, 8000)
    with pytest.raises(ValueError, match="differ"):
        stoi(x, x[:-10], 16000)
    with pytest.raises(ValueError, match="at least"):
        stoi(x[:3000], x[:3000], 16000)
    with pytest.raises(ValueError, match="mono"):
        stoi(x.view(1, 1, -1).repeat(1, 2, 1), x.view(1, 1, -1).repeat(1, 2, 1), 16000)
    quiet = torch.zeros(16000)
    quiet[:2000] = x[:2000]
    with pytest.raises(ValueError, match="non-silent frames"):
        stoi(quiet, quiet, 16000)


def test_lenient_loss_skips_what_is_too_short_or_silent() -> None:
    x = torch.from_numpy(speech_like(1.0, 16000)).float()
    loss = STOILoss(16000, lenient=True)
    short = x[:3000].clone().requires_grad_(True)
    assert float(loss(x[:3000], short).detach()) == 0.0
    quiet = torch.zeros(16000)
    quiet[:2000] = x[:2000]
    assert float(loss(quiet, quiet + 0.01)) == 0.0
    # a batch mixing a scorable item and a too-silent one: only the first contributes
    ref = torch.stack([x, quiet])
    est = torch.stack([x + 0.05 * torch.randn_like(x), quiet]).requires_grad_(True)
    value = loss(ref, est)
    assert 0.0 < float(value.detach()) < 0.5
    value.backward()
    assert torch.isfinite(est.grad).all() and float(est.grad[1].abs().sum()) == 0.0
