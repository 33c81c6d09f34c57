"""Codebook usage statistics on constructed code sets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cplxcodec.analysis import codebook_usage


def test_hand_computed_histogram_entropy_and_dead_codes() -> None:
    u = codebook_usage(np.array([[[0, 0, 1, 3]]]), 4)
    assert u.histograms.tolist() == [[2, 1, 0, 1]]
    assert u.usage_fraction[0] == pytest.approx(0.75)
    # p = (1/2, 1/4, 0, 1/4): H = 1/2 + 2 * 1/2 = 1.5 bits
    assert u.entropy_bits[0] == pytest.approx(1.5)
    assert u.perplexity[0] == pytest.approx(2**1.5)
    assert u.normalized_entropy[0] == pytest.approx(1.5 / 2)
    assert u.dead_codes[0].tolist() == [2]


def test_uniform_random_codes_use_every_code_and_are_independent() -> None:
    rng = np.random.default_rng(1)
    size = 256
    u = codebook_usage(rng.integers(0, size, (4, 3, 2000)), size)
    assert u.n_stages == 3 and u.n_samples == 8000
    assert np.all(u.usage_fraction > 0.99)
    assert np.all(u.normalized_entropy > 0.98)
    assert np.all(u.perplexity > 0.9 * size)
    assert u.collapsed_stages() == []
    # independent stages: the bias-corrected co-usage is close to 0 although the plug-in MI is not
    assert np.all(u.mutual_information_bits > 0.5)
    assert np.all(u.normalized_mutual_information < 0.05)


def test_collapsed_stage_is_flagged() -> None:
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 128, (2, 4, 500))
    codes[:, 2] = rng.choice([5, 9, 77], size=(2, 500))
    u = codebook_usage(torch.from_numpy(codes), 128)
    assert u.collapsed.tolist() == [False, False, True, False]
    assert u.collapsed_stages() == [2]
    assert u.dead_codes[2].size == 125
    assert u.usage_fraction[2] == pytest.approx(3 / 128)


def test_peaked_distribution_is_collapsed_by_perplexity() -> None:
    rng = np.random.default_rng(3)
    codes = np.zeros((1, 1, 4000), dtype=np.int64)
    codes[0, 0, :400] = rng.integers(0, 64, 400)  # every code used, but 90% on code 0
    u = codebook_usage(codes, 64)
    assert u.usage_fraction[0] == 1.0
    assert u.perplexity[0] < 0.05 * 64
    assert u.collapsed_stages() == [0]


def test_deterministic_next_stage_has_full_co_usage() -> None:
    rng = np.random.default_rng(4)
    a = rng.integers(0, 32, (1, 1, 5000))
    perm = rng.permutation(32)
    u = codebook_usage(np.concatenate([a, perm[a]], axis=1), 32)
    assert u.normalized_mutual_information[0] > 0.95


def test_short_input_is_not_mistaken_for_collapse() -> None:
    rng = np.random.default_rng(5)
    u = codebook_usage(rng.integers(0, 1024, (1, 2, 40)), 1024)
    assert u.usage_fraction[0] < 0.05  # only 40 samples for 1024 codes
    assert u.collapsed_stages() == []


def test_torch_and_numpy_agree_and_to_dict_is_json() -> None:
    codes = torch.randint(0, 16, (2, 2, 100))
    a, b = codebook_usage(codes, 16), codebook_usage(codes.numpy(), 16)
    np.testing.assert_array_equal(a.histograms, b.histograms)
    d = json.loads(json.dumps(a.to_dict()))
    assert d["n_stages"] == 2 and len(d["histograms"][0]) == 16


@pytest.mark.parametrize(
    "codes, size, match",
    [
        (np.array([[[0, 4]]]), 4, r"\[0, 4\)"),
        (np.array([[[-1, 0]]]), 4, r"\[0, 4\)"),
        (np.zeros((1, 1, 3)), 4, "integers"),
        (np.zeros((3,), dtype=int), 4, "shape"),
        (np.zeros((1, 1, 3), dtype=int), 0, "positive"),
    ],
)
def test_bad_input_is_rejected(codes: np.ndarray, size: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        codebook_usage(codes, size)
