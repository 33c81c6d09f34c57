"""The real-row layout is an isometry of complex vectors, and the chunked GEMM search is exact."""

from __future__ import annotations

import pytest
import torch

from cplxcodec.quantization import nearest_code
from cplxcodec.quantization.layout import latent_to_rows, rows_to_complex, rows_to_latent


def test_rows_round_trip_and_interleaved_layout() -> None:
    z = torch.randn(3, 5, 7, dtype=torch.complex64)
    rows = latent_to_rows(z)
    assert rows.shape == (3 * 7, 10) and rows.dtype == torch.float32
    # row b*N + n holds frame n of example b, real/imag interleaved per channel
    b, n, d = 2, 4, 3
    assert rows[b * 7 + n, 2 * d] == z[b, d, n].real
    assert rows[b * 7 + n, 2 * d + 1] == z[b, d, n].imag
    assert torch.equal(rows_to_latent(rows, 3, 7), z)


def test_complex_distance_equals_real_row_distance() -> None:
    z = torch.randn(50, 6, dtype=torch.complex64)
    c = torch.randn(20, 6, dtype=torch.complex64)
    complex_d2 = (z[:, None, :] - c[None, :, :]).abs().pow(2).sum(-1)
    zr = torch.view_as_real(z).reshape(50, 12)
    cr = torch.view_as_real(c).reshape(20, 12)
    real_d2 = torch.cdist(zr, cr).pow(2)
    torch.testing.assert_close(real_d2, complex_d2, rtol=1e-4, atol=1e-4)
    assert torch.equal(rows_to_complex(cr), c)


@pytest.mark.parametrize("max_elements", [1, 97, 1 << 22])
def test_nearest_code_matches_brute_force(max_elements: int) -> None:
    x = torch.randn(300, 8)
    codebook = torch.randn(40, 8)
    brute = torch.cdist(x.double(), codebook.double()).argmin(dim=1)
    assert torch.equal(nearest_code(x, codebook, max_elements=max_elements), brute)


def test_nearest_code_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="nearest_code expects"):
        nearest_code(torch.randn(4, 8), torch.randn(5, 6))
