"""Beam-search residual coding: exact against brute force, never worse than greedy, greedy at 1."""

from __future__ import annotations

import itertools

import pytest
import torch

from cplxcodec.quantization import ResidualVQ, beam_search_codes, nearest_code
from cplxcodec.quantization.layout import latent_to_rows


def _books(seed: int, stages: int, size: int, dim: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    # shrinking scales, as residual codebooks have
    return [torch.randn(size, dim, generator=g) * 0.6**k for k in range(stages)]


def _sum_error(x: torch.Tensor, books: list[torch.Tensor], codes: torch.Tensor) -> torch.Tensor:
    total = sum(cb[codes[k]] for k, cb in enumerate(books))
    return (x - total).pow(2).sum(dim=1)


def _brute_force(x: torch.Tensor, books: list[torch.Tensor]) -> torch.Tensor:
    """Lowest error of any one-codeword-per-stage sum, per row (float64)."""
    sums = [
        sum(cb[i].double() for cb, i in zip(books, combo))
        for combo in itertools.product(*(range(cb.shape[0]) for cb in books))
    ]
    allsum = torch.stack(sums)  # (S^K, P)
    return torch.cdist(x.double(), allsum).pow(2).min(dim=1).values


def test_full_width_beam_is_exhaustive_search() -> None:
    """With beam ≥ S^(K-1) every prefix survives, so the result is the best of all S^K sums."""
    books = _books(0, stages=3, size=5, dim=4)
    x = torch.randn(40, 4, generator=torch.Generator().manual_seed(1))
    codes = beam_search_codes(x, books, beam=25)
    assert codes.shape == (3, 40) and codes.dtype == torch.int64
    torch.testing.assert_close(
        _sum_error(x, books, codes).double(), _brute_force(x, books), rtol=1e-5, atol=1e-5
    )


def test_beam_one_is_greedy_and_wider_beams_lower_the_mean_error() -> None:
    books = _books(2, stages=4, size=16, dim=6)
    x = torch.randn(200, 6, generator=torch.Generator().manual_seed(3))
    greedy = torch.empty(4, 200, dtype=torch.long)
    residual = x
    for k, cb in enumerate(books):
        greedy[k] = nearest_code(residual, cb)
        residual = residual - cb[greedy[k]]
    assert torch.equal(beam_search_codes(x, books, beam=1), greedy)
    # Not guaranteed row by row (a wider beam can prune the narrower beam's final path), but
    # on average the error falls with the width.
    means = [
        float(_sum_error(x, books, beam_search_codes(x, books, beam=b)).mean())
        for b in (1, 2, 4, 16)
    ]
    assert means == sorted(means, reverse=True), means
    assert means[-1] < 0.95 * means[0], means


@pytest.mark.parametrize("max_elements", [1, 100, 1 << 22])
def test_chunking_does_not_change_the_codes(max_elements: int) -> None:
    books = _books(4, stages=3, size=12, dim=4)
    x = torch.randn(37, 4, generator=torch.Generator().manual_seed(5))
    ref = beam_search_codes(x, books, beam=6)
    assert torch.equal(beam_search_codes(x, books, beam=6, max_elements=max_elements), ref)


def test_bad_arguments_are_named() -> None:
    books = _books(0, 2, 4, 3)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="beam must be a positive integer"):
            beam_search_codes(torch.randn(3, 3), books, bad)
    with pytest.raises(ValueError, match="expects rows"):
        beam_search_codes(torch.randn(3, 4), books, 2)
    with pytest.raises(ValueError, match="at least one codebook"):
        beam_search_codes(torch.randn(3, 3), [], 2)
    assert beam_search_codes(torch.randn(0, 3), books, 2).shape == (2, 0)


def test_residual_vq_encode_with_beam_decodes_closer() -> None:
    """End to end on an initialised RVQ: beam codes are valid codes of every stage and their
    decoded latent is nearer to the input than greedy's."""
    torch.manual_seed(0)
    rvq = ResidualVQ(dim=4, n_stages=4, codebook_size=32, dropout_p=0.0)
    z = torch.randn(6, 4, 50, dtype=torch.complex64)
    rvq.train()(z)  # k-means initialisation
    rvq.eval()
    greedy, beamed = rvq.encode(z, 3, beam=1), rvq.encode(z, 3, beam=8)
    assert beamed.shape == greedy.shape == (6, 3, 50)
    assert torch.equal(greedy, rvq(z, 3).codes)  # forward() searches greedily
    e_greedy = (rvq.decode(greedy) - z).abs().pow(2).sum()
    e_beam = (rvq.decode(beamed) - z).abs().pow(2).sum()
    assert e_beam < e_greedy
    rows = latent_to_rows(z)
    books = [stage.embed for stage in rvq.stages[:3]]
    assert torch.equal(
        beamed, beam_search_codes(rows, books, 8).reshape(3, 6, 50).transpose(0, 1)
    )


@pytest.mark.parametrize("n", [8192, 4096, 1024, 8000, 8100, 7])
@pytest.mark.parametrize("k", [1, 2, 8])
def test_smallest_k_selects_what_topk_selects(n: int, k: int) -> None:
    """The grouped pre-selection (long rows: 8192, 4096, 8000) and the direct fallback (short
    rows: 1024, 7; a length 64 does not divide: 8100) both return topk's entries, ascending."""
    from cplxcodec.quantization.search import _smallest_k

    k = min(k, n)
    scores = torch.randn(33, n, generator=torch.Generator().manual_seed(n + k))
    idx = _smallest_k(scores, k)
    ref = scores.topk(k, dim=1, largest=False, sorted=True)
    assert idx.shape == (33, k) and idx.dtype == torch.int64
    assert torch.equal(idx, ref.indices)  # no ties in random floats: the very same indices
    # With many exact ties the values still match (indices may differ between equal scores).
    tied = torch.randint(0, 5, (33, n), generator=torch.Generator().manual_seed(1)).float()
    idx = _smallest_k(tied, k)
    assert torch.equal(tied.gather(1, idx), tied.topk(k, dim=1, largest=False).values)
    assert all(len(set(row.tolist())) == k for row in idx)  # k distinct entries per row


@pytest.mark.parametrize("max_elements", [1 << 22, 8 * 1024 * 7])  # 1 chunk; 7-row chunks
def test_grouped_selection_keeps_the_codes_of_a_wide_search(max_elements: int, monkeypatch) -> None:
    """Stages of 1024 codewords and beam 8 (8192 scores per row) take the grouped route; the
    codes equal those of the same search with plain topk/argmin, also when the score buffer is
    reused across chunks (300 rows = 42 chunks of 7 + a last one of 6)."""
    import cplxcodec.quantization.search as search

    books = _books(6, stages=4, size=1024, dim=8)
    x = torch.randn(300, 8, generator=torch.Generator().manual_seed(7))
    fast = beam_search_codes(x, books, beam=8, max_elements=max_elements)
    monkeypatch.setattr(search, "_smallest_k", search._select_smallest)
    assert torch.equal(fast, beam_search_codes(x, books, beam=8))


def test_nan_scores_fall_back_to_topk() -> None:
    """A NaN in a group makes its minimum NaN; such rows are selected by topk (NaN ranked last),
    so the finite entries of that group are not lost."""
    from cplxcodec.quantization.search import _smallest_k

    scores = torch.randn(3, 8192, generator=torch.Generator().manual_seed(8))
    scores[0, 5], scores[0, 5 + 128] = -100.0, float("nan")  # same group (8192 / 64 = 128)
    assert torch.equal(_smallest_k(scores, 8), scores.topk(8, dim=1, largest=False)[1])
    assert int(_smallest_k(scores, 8)[0, 0]) == 5


def test_codebooks_that_require_grad_are_searched() -> None:
    """Parameters as codebooks (autograd on): the search returns codes, no autograd error."""
    books = [torch.nn.Parameter(cb) for cb in _books(9, stages=3, size=16, dim=4)]
    x = torch.randn(5, 4, requires_grad=True)
    codes = beam_search_codes(x, books, beam=4)
    assert codes.shape == (3, 5) and not codes.requires_grad
    plain = [cb.detach() for cb in books]
    assert torch.equal(codes, beam_search_codes(x.detach(), plain, beam=4))
