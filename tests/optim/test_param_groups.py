"""complex_param_groups: decay/no-decay x complex/real, disjoint and complete."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cplxcodec.optim import CAdamW, complex_param_groups


class _Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(8, 8, dtype=torch.cfloat)  # complex weight (decay) + bias (no)
        self.mix = nn.Parameter(torch.randn(2, 2))  # real matrix: decay
        self.norm = nn.LayerNorm(8)  # real vectors: no decay
        self.phase = nn.Parameter(torch.zeros((), dtype=torch.cfloat))  # complex scalar: no
        self.frozen = nn.Parameter(torch.ones(3, 3), requires_grad=False)
        self.tied = self.mix  # shared: must appear once


def _names(model: nn.Module, group: dict) -> set[str]:
    lookup = {id(p): n for n, p in model.named_parameters()}
    return {lookup[id(p)] for p in group["params"]}


def test_split_is_disjoint_complete_and_correct() -> None:
    model = _Model()
    groups = complex_param_groups(model, weight_decay=0.05, lr=1e-3)
    by_name = {g["name"]: g for g in groups}
    assert list(by_name) == ["decay_complex", "decay_real", "no_decay_complex", "no_decay_real"]
    assert _names(model, by_name["decay_complex"]) == {"enc.weight"}
    assert _names(model, by_name["decay_real"]) == {"mix"}
    assert _names(model, by_name["no_decay_complex"]) == {"enc.bias", "phase"}
    assert _names(model, by_name["no_decay_real"]) == {"norm.weight", "norm.bias"}
    assert [g["weight_decay"] for g in groups] == [0.05, 0.05, 0.0, 0.0]
    assert all(g["lr"] == 1e-3 for g in groups)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters() if p.requires_grad}
    # The groups are usable as-is and keep their names.
    opt = CAdamW(groups)
    assert [g["name"] for g in opt.param_groups] == list(by_name)


def test_custom_rule_and_extra_names() -> None:
    model = _Model()
    groups = complex_param_groups(
        model, 0.1, no_decay=lambda name, p: name.startswith("norm"), extra_no_decay_names=["mix"]
    )
    by_name = {g["name"]: _names(model, g) for g in groups}
    assert by_name["decay_complex"] == {"enc.weight", "enc.bias", "phase"}
    assert "decay_real" not in by_name
    assert by_name["no_decay_real"] == {"mix", "norm.weight", "norm.bias"}


def test_errors_are_explicit() -> None:
    model = _Model()
    with pytest.raises(ValueError, match="not found"):
        complex_param_groups(model, 0.1, extra_no_decay_names=["nope"])
    with pytest.raises(ValueError, match="weight_decay"):
        complex_param_groups(model, -1.0)
    with pytest.raises(ValueError, match="params"):
        complex_param_groups(model, 0.1, params=[])
