"""Param groups, state_dict round trips, LR schedulers and Lightning with cplxcodec.optim."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from cplxcodec.optim import CSGD, CAdam, CAdamW

OPTIMIZERS = [
    (CAdam, {"lr": 0.02, "amsgrad": True, "weight_decay": 0.01}),
    (CAdamW, {"lr": 0.02}),
    (CSGD, {"lr": 0.02, "momentum": 0.9, "nesterov": True}),
]


class _Mixed(nn.Module):
    """A complex linear layer followed by a real per-feature gain on the magnitude."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 4, dtype=torch.cfloat)
        self.gain = nn.Parameter(torch.ones(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x).abs() * self.gain


def _batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(step)
    return torch.randn(8, 6, dtype=torch.cfloat, generator=g), torch.rand(8, 4, generator=g)


def _groups(model: _Mixed) -> list[dict]:
    return [
        {"params": [model.lin.weight, model.lin.bias]},
        {"params": [model.gain], "lr": 0.005},
    ]


def _train(model: _Mixed, opt: torch.optim.Optimizer, start: int, stop: int) -> None:
    for step in range(start, stop):
        x, y = _batch(step)
        opt.zero_grad()
        (model(x) - y).pow(2).mean().backward()
        opt.step()


@pytest.mark.parametrize(("cls", "kwargs"), OPTIMIZERS)
def test_resume_from_state_dict_equals_uninterrupted(cls: type, kwargs: dict) -> None:
    torch.manual_seed(0)
    ref = _Mixed()
    resumed = _Mixed()
    resumed.load_state_dict(ref.state_dict())
    ref_opt = cls(_groups(ref), **kwargs)
    _train(ref, ref_opt, 0, 12)

    first = cls(_groups(resumed), **kwargs)
    _train(resumed, first, 0, 5)
    buffer = io.BytesIO()
    torch.save({"model": resumed.state_dict(), "optim": first.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    torch.manual_seed(123)  # a fresh process: new modules, new optimizer
    fresh = _Mixed()
    fresh.load_state_dict(saved["model"])
    second = cls(_groups(fresh), **kwargs)
    second.load_state_dict(saved["optim"])
    _train(fresh, second, 5, 12)

    for a, b in zip(ref.parameters(), fresh.parameters()):
        assert torch.equal(a, b)
    assert second.param_groups[1]["lr"] == 0.005


def test_state_layout_for_mixed_groups() -> None:
    model = _Mixed()
    opt = CAdam(_groups(model), amsgrad=True)
    _train(model, opt, 0, 2)
    w = opt.state[model.lin.weight]
    assert w["exp_avg"].dtype == torch.cfloat
    assert w["exp_avg_sq"].dtype == torch.float32 and w["exp_avg_sq"].shape == (4, 6)
    assert w["max_exp_avg_sq"].dtype == torch.float32
    assert opt.state[model.gain]["exp_avg_sq"].dtype == torch.float32
    assert float(w["step"]) == 2.0


def test_loading_torch_adam_state_is_refused() -> None:
    model = _Mixed()
    torch_opt = torch.optim.Adam(model.parameters())
    _train(model, torch_opt, 0, 1)
    ours = CAdam(model.parameters())
    with pytest.raises(ValueError, match="torch.optim.Adam"):
        ours.load_state_dict(torch_opt.state_dict())


@pytest.mark.parametrize(("cls", "kwargs"), OPTIMIZERS)
def test_lr_scheduler_drives_group_lr(cls: type, kwargs: dict) -> None:
    model = _Mixed()
    opt = cls(_groups(model), **kwargs)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for step in range(4):
        _train(model, opt, step, step + 1)
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(kwargs["lr"] * 0.25)
    assert opt.param_groups[1]["lr"] == pytest.approx(0.005 * 0.25)
    # Zero learning rate must freeze complex and real parameters alike.
    for group in opt.param_groups:
        group["lr"] = 0.0
    before = [p.detach().clone() for p in model.parameters()]
    _train(model, opt, 10, 11)
    for a, b in zip(before, model.parameters()):
        assert torch.equal(a, b)


@pytest.mark.filterwarnings("ignore:.*LeafSpec")
def test_lightning_configure_optimizers() -> None:
    pl = pytest.importorskip("pytorch_lightning")

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = _Mixed()

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
            x, y = batch
            return (self.net(x) - y).pow(2).mean()

        def configure_optimizers(self) -> dict:
            opt = CAdamW(self.parameters(), lr=0.01)
            sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    data = [_batch(i) for i in range(3)]
    loader = torch.utils.data.DataLoader(data, batch_size=None)
    module = Module()
    before = module.net.lin.weight.detach().clone()
    trainer = pl.Trainer(
        max_steps=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, loader)
    opt = trainer.optimizers[0]
    assert isinstance(opt, CAdamW)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 * 0.5**3)
    assert not torch.equal(before, module.net.lin.weight)
    assert float(opt.state[module.net.lin.weight]["step"]) == 3.0
