"""``benchmarks/training_step.py``: the complex codec's training step against its twin's."""

from __future__ import annotations

import pytest
import torch
from _support import import_benchmark, one_torch_thread


@pytest.fixture(scope="module")
def step_mod():
    return import_benchmark("training_step")


def test_a_step_trains_the_model_and_is_timed(step_mod) -> None:
    with one_torch_thread():
        timer = step_mod.StepTimer("speech16k-real", batch=1, seconds=0.5)
        before = [p.detach().clone() for p in timer.codec.parameters()]
        cpu, wall = timer.step(seed=0)
    assert cpu > 0 and wall > 0
    assert timer.wav.shape == (1, 1, 8000)
    changed = sum(not torch.equal(a, b) for a, b in zip(before, timer.codec.parameters()))
    assert changed > len(before) // 2  # the optimizer moved the weights


def test_recipe_is_the_training_configs(step_mod) -> None:
    r = step_mod.recipe()
    assert "model" not in r and r["optimizer"] == "cadam" and r["lr"] == 0.001
    assert r["loss_weights"] == {"complex_spec": 30.0, "time_l1": 10.0}


def test_main_prints_both_models(step_mod, capsys) -> None:
    argv = ["--batch", "1", "--rounds", "1", "--warmup", "0", "--no-malloc-tuning"]
    with one_torch_thread():
        assert step_mod.main(argv) == 0
    out = capsys.readouterr().out
    assert "| speech16k | 0.430 M |" in out and "malloc tuned" not in out
    real = next(line for line in out.splitlines() if line.startswith("| speech16k-real |"))
    ratio = float(real.split("|")[-2].strip().rstrip("x"))
    assert 0.05 < ratio < 5  # the twin's CPU time over the complex model's, same step


def test_bad_arguments(step_mod, capsys) -> None:
    assert step_mod.main(["--rounds", "0"]) == 2
    assert step_mod.main(["--configs", "no-such-model"]) == 2
    assert "no-such-model" in capsys.readouterr().err
    assert step_mod.main(["--configs", "speech16k", "speech16k"]) == 2
    assert "repeats a name" in capsys.readouterr().err
