"""``benchmarks/fast_paths.py``: each fast path is checked against the kernel it replaced."""

from __future__ import annotations

import pytest
from _support import import_benchmark, one_torch_thread


@pytest.fixture(scope="module")
def fp():
    return import_benchmark("fast_paths")


def test_runs_every_case_in_both_directions(fp, capsys):
    with one_torch_thread():  # the script's --threads would outlive the test
        assert fp.main(["--rounds", "1"]) == 0
    out = capsys.readouterr().out
    for case in fp.CASES:
        assert f"{case:<11} fwd " in out
        assert (f"{case:<11} fwd+bwd" in out) == (case not in fp.INFERENCE_ONLY)
    assert "sub-pixel" in out and "masked SDPA" in out and "topk(8)" in out


def test_disagreeing_paths_are_refused(fp, monkeypatch):
    real_build = fp.build

    def broken(name, train):
        inputs, new, old, a, b = real_build(name, train)
        return inputs, (lambda t: new(t) * 1.01), old, a, b

    monkeypatch.setattr(fp, "build", broken)
    with pytest.raises(AssertionError, match="disagree"):
        fp.time_case("freq-attn", False, 1)


def test_selections_must_pick_the_same_indices(fp, monkeypatch):
    real_build = fp.build

    def off_by_one(name, train):
        inputs, new, old, a, b = real_build(name, train)
        return inputs, (lambda t: new(t).flip(1)), old, a, b  # same entries, other order

    monkeypatch.setattr(fp, "build", off_by_one)
    fp.time_case("beam-argmin", False, 1)  # one index: flipping changes nothing
    with pytest.raises(AssertionError, match="disagree"):
        fp.time_case("beam-topk", False, 1)


def test_disagreeing_gradients_are_refused(fp, monkeypatch):
    real_build = fp.build

    def same_forward_other_backward(name, train):
        inputs, new, old, a, b = real_build(name, train)
        return inputs, (lambda t: new(t) + 0.5 * (t[0] - t[0].detach()).sum()), old, a, b

    monkeypatch.setattr(fp, "build", same_forward_other_backward)
    fp.time_case("pointwise", False, 1)  # forward alone agrees
    with pytest.raises(AssertionError, match="disagree"):
        fp.time_case("pointwise", True, 1)
