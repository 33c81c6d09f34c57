"""ResidualVQ contract: shapes, dtypes, gradients, encode/decode, state, errors."""

from __future__ import annotations

import pytest
import torch

from cplxcodec.quantization import QuantizerOutput, ResidualVQ
from cplxcodec.quantization.layout import latent_to_rows


def _trained(mixture, dim: int = 4, n_stages: int = 3, size: int = 64, steps: int = 5):
    data = mixture(dim)
    rvq = ResidualVQ(dim=dim, n_stages=n_stages, codebook_size=size, decay=0.8)
    for _ in range(steps):
        rvq(data(8, 64))
    return rvq, data


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("n_stages", [None, 1, 2])
def test_forward_shapes_and_dtypes(mixture, training: bool, n_stages: int | None) -> None:
    rvq = ResidualVQ(dim=4, n_stages=3, codebook_size=32).train(training)
    z = mixture(4)(2, 50)
    out = rvq(z, n_stages)
    k = 3 if n_stages is None else n_stages
    assert isinstance(out, QuantizerOutput)
    assert out.quantized.shape == (2, 4, 50) and out.quantized.dtype == torch.complex64
    assert out.codes.shape == (2, k, 50) and out.codes.dtype == torch.int64
    assert out.commit_loss.shape == () and out.commit_loss.dtype == torch.float32
    assert out.usage.shape == (k,) and out.perplexity.shape == (k,)
    assert out.n_active.shape == (2,) and out.n_active.dtype == torch.int64
    assert ((out.codes >= -1) & (out.codes < 32)).all()
    assert ((out.usage > 0) & (out.usage <= 1)).all()
    assert ((out.perplexity >= 1) & (out.perplexity <= 32 + 1e-3)).all()


def test_straight_through_gradient_reaches_encoder(mixture) -> None:
    rvq, data = _trained(mixture)
    x = data(2, 30)
    weight = torch.eye(4, dtype=torch.complex64) + 0.1 * torch.randn(4, 4, dtype=torch.complex64)
    weight.requires_grad_(True)
    z = torch.einsum("ed,bdn->ben", weight, x)  # a linear "encoder"
    z.retain_grad()
    out = rvq(z)
    probe = torch.randn_like(z)
    (out.quantized * probe.conj()).real.sum().backward()
    # identity Jacobian: dL/dz equals dL/dquantized
    torch.testing.assert_close(z.grad, probe)
    assert weight.grad is not None and weight.grad.abs().sum() > 0
    # the commitment loss alone also reaches the encoder
    weight.grad = None
    rvq(torch.einsum("ed,bdn->ben", weight, x)).commit_loss.backward()
    assert weight.grad is not None and weight.grad.abs().sum() > 0


def test_codebooks_are_buffers_without_autograd(mixture) -> None:
    rvq, data = _trained(mixture, steps=2)
    assert list(rvq.parameters()) == []
    for name, buf in rvq.named_buffers():
        assert not buf.requires_grad and buf.grad_fn is None, name
    z = data(2, 20).requires_grad_(True)
    rvq(z)
    assert all(b.grad_fn is None for b in rvq.buffers())


@pytest.mark.parametrize("n_stages", [1, 2, 3])
def test_decode_encode_equals_eval_forward(mixture, n_stages: int) -> None:
    rvq, data = _trained(mixture)
    rvq.eval()
    z = data(3, 40)
    out = rvq(z, n_stages)
    codes = rvq.encode(z, n_stages)
    assert torch.equal(codes, out.codes)
    assert torch.equal(rvq.decode(codes), out.quantized.detach())


def test_commit_loss_is_mean_over_stages_of_cumulative_error(mixture) -> None:
    rvq, data = _trained(mixture)
    rvq.eval()
    z = data(2, 40)
    codes = rvq.encode(z)
    per_stage = [
        (z - rvq.decode(codes[:, : k + 1])).abs().pow(2).mean() for k in range(codes.shape[1])
    ]
    torch.testing.assert_close(rvq(z).commit_loss, torch.stack(per_stage).mean())


def test_eval_and_encode_leave_buffers_untouched(mixture) -> None:
    rvq, data = _trained(mixture, steps=2)
    before = {k: v.clone() for k, v in rvq.state_dict().items()}
    rvq.train()
    rvq.encode(data(4, 30))
    rvq.decode(rvq.encode(data(4, 30)))
    rvq.eval()
    rvq(data(4, 30))
    after = rvq.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    rvq.train()
    rvq(data(4, 30))
    assert not torch.equal(before["stages.0.embed"], rvq.state_dict()["stages.0.embed"])


def test_first_training_batch_initialises_each_stage_on_its_residuals(mixture) -> None:
    rvq = ResidualVQ(dim=4, n_stages=3, codebook_size=32, dropout_p=0.0)
    assert not rvq.initialized.any()
    z = mixture(4)(8, 64)
    rvq(z, 2)
    assert rvq.initialized.tolist() == [True, True, False]  # stage 3 waits until it is used
    # stage-2 codewords live at the scale of stage-1 residuals, far below the data scale
    rows = latent_to_rows(z)
    residual = rows - rvq.stages[0].lookup(rvq.stages[0].nearest(rows))
    scale1 = rvq.stages[1].embed.pow(2).sum(1).mean()
    assert scale1 < 2.0 * residual.pow(2).sum(1).mean()
    assert scale1 < 0.5 * rows.pow(2).sum(1).mean()
    rvq(z)
    assert rvq.initialized.all()


def test_state_dict_round_trip_is_exact(mixture) -> None:
    rvq, data = _trained(mixture)
    state = {k: v.clone() for k, v in rvq.state_dict().items()}
    assert {"stages.0.initialized", "stages.0.cluster_size", "stages.0.embed_sum"} <= set(state)
    clone = ResidualVQ(dim=4, n_stages=3, codebook_size=64, decay=0.8)
    clone.load_state_dict(state)
    z = data(4, 50)
    assert torch.equal(rvq.eval().encode(z), clone.eval().encode(z))
    # training continues identically: the EMA state was restored, not just the codewords
    batch = data(8, 64)
    rvq.train()
    clone.train()
    torch.manual_seed(7)
    a = rvq(batch)
    torch.manual_seed(7)
    b = clone(batch)
    assert torch.equal(a.codes, b.codes)
    for (name, x), (_, y) in zip(rvq.state_dict().items(), clone.state_dict().items()):
        assert torch.equal(x, y), name


def test_bits_and_codebooks_views() -> None:
    rvq = ResidualVQ(dim=3, n_stages=4, codebook_size=256)
    assert rvq.bits_per_frame() == 32.0 and rvq.bits_per_frame(2) == 16.0
    books = rvq.codebooks
    assert books.shape == (4, 256, 3) and books.dtype == torch.complex64
    assert torch.equal(torch.view_as_real(books[1]).reshape(256, 6), rvq.stages[1].embed)


def test_bad_latents_are_rejected() -> None:
    rvq = ResidualVQ(dim=4, n_stages=2, codebook_size=16)
    z = torch.randn(2, 4, 10, dtype=torch.complex64)
    with pytest.raises(TypeError, match="real dtype"):
        rvq(torch.randn(2, 4, 10))
    with pytest.raises(TypeError, match="complex64"):
        rvq(z.to(torch.complex128))
    with pytest.raises(ValueError, match=r"\(B, D, N\)"):
        rvq(z[0])
    with pytest.raises(ValueError, match="D=5"):
        rvq.encode(torch.randn(2, 5, 10, dtype=torch.complex64))
    for bad in (0, 3, -1):
        with pytest.raises(ValueError, match="n_stages must lie in"):
            rvq(z, bad)
        with pytest.raises(ValueError, match="n_stages must lie in"):
            rvq.encode(z, bad)
    with pytest.raises(TypeError, match="n_stages must be an int"):
        rvq(z, 1.0)


def test_bad_codes_are_rejected() -> None:
    rvq = ResidualVQ(dim=4, n_stages=2, codebook_size=16)
    good = torch.zeros(2, 2, 10, dtype=torch.long)
    assert rvq.decode(good).shape == (2, 4, 10)
    with pytest.raises(ValueError, match=r"in \[0, 16\)"):
        rvq.decode(good + 16)
    with pytest.raises(ValueError, match=r"in \[0, 16\)"):
        rvq.decode(good - 1)
    with pytest.raises(ValueError, match="K'=3"):
        rvq.decode(torch.zeros(2, 3, 10, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, K', N\)"):
        rvq.decode(good[0])
    with pytest.raises(TypeError, match="integer"):
        rvq.decode(good.float())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_stages": 0}, "n_stages"),
        ({"dropout_p": 1.5}, "dropout_p"),
        ({"dim": 0}, "dim"),
        ({"dropout_stages": []}, "dropout_stages"),
        ({"dropout_stages": [0]}, r"dropout_stages.*\[1, 8\]"),
        ({"dropout_stages": [9]}, "dropout_stages"),
        ({"dropout_stages": [True]}, "dropout_stages"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, match: str) -> None:
    args = {"dim": 4} | kwargs
    with pytest.raises(ValueError, match=match):
        ResidualVQ(**args)


def test_usage_and_perplexity_of_a_known_assignment() -> None:
    rvq = ResidualVQ(dim=1, n_stages=1, codebook_size=4).eval()
    rvq.stages[0].embed.copy_(torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [-10.0, 0.0]]))
    # frames near codewords 1, 1, 2 (complex values 10, 10, 10j)
    z = torch.tensor([[[10.2 + 0.1j, 9.9 - 0.2j, 0.3 + 9.8j]]], dtype=torch.complex64)
    out = rvq(z)
    assert out.codes.tolist() == [[[1, 1, 2]]]
    assert out.usage.tolist() == [0.5]
    p = torch.tensor([2 / 3, 1 / 3])
    torch.testing.assert_close(out.perplexity, torch.exp(-(p * p.log()).sum()).reshape(1))
