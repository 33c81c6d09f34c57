"""Training behaviour: codebook usage, dead-code restart, quantizer dropout, rate/distortion."""

from __future__ import annotations

import copy

import pytest
import torch

from cplxcodec.quantization import ResidualVQ


def _train_after_shift(mixture, *, dead_code_threshold: float, steps: int = 60):
    """Initialise on a batch from a shifted, shrunken distribution, then train on the real one:
    most k-means codewords start far from the data and die unless they are restarted."""
    data = mixture(4)
    rvq = ResidualVQ(
        dim=4, n_stages=3, codebook_size=64, decay=0.8, dead_code_threshold=dead_code_threshold
    )
    rvq(data(16, 32, scale=0.3, shift=3.0))
    for _ in range(steps):
        rvq(data(16, 32))
    return rvq.eval(), data


def test_every_stage_uses_most_codes_after_training(mixture) -> None:
    rvq, data = _train_after_shift(mixture, dead_code_threshold=0.1)
    held_out = data(16, 64)  # 1024 frames, 16 per codeword on average
    usage = rvq(held_out).usage
    assert (usage >= 0.9).all(), usage
    # the same check fails without restarts: the test can tell the difference
    torch.manual_seed(0)
    frozen, data = _train_after_shift(mixture, dead_code_threshold=0.0)
    assert (frozen(data(16, 64)).usage < 0.9).any()


def test_collapsed_codebook_is_revived(mixture) -> None:
    data = mixture(4)
    rvq = ResidualVQ(dim=4, n_stages=2, codebook_size=64, decay=0.8, dropout_p=0.0)
    for _ in range(3):
        rvq(data(16, 32))
    stage = rvq.stages[0]
    # collapse stage 1: every codeword identical, all EMA mass on codeword 0
    stage.embed.copy_(stage.embed[:1].expand_as(stage.embed))
    stage.embed_sum.copy_(stage.embed * 0.0)
    stage.embed_sum[0] = stage.embed[0] * 512.0
    stage.cluster_size.zero_()
    stage.cluster_size[0] = 512.0
    held_out = data(16, 64)
    assert rvq.eval()(held_out).usage[0] == 1 / 64
    rvq.train()
    for _ in range(20):
        rvq(data(16, 32))
    usage = rvq.eval()(held_out).usage
    assert usage[0] >= 0.9, usage
    assert torch.unique(stage.embed, dim=0).shape[0] == 64


def test_error_decreases_as_stages_are_added(mixture) -> None:
    data = mixture(4)
    rvq = ResidualVQ(dim=4, n_stages=4, codebook_size=64, decay=0.8)
    for _ in range(30):
        rvq(data(16, 32))
    rvq.eval()
    z = data(16, 64)
    errors = []
    for k in range(1, 5):
        q = rvq.decode(rvq.encode(z, k))
        assert q.shape == z.shape and q.dtype == torch.complex64
        errors.append(float((z - q).abs().pow(2).mean()))
    power = float(z.abs().pow(2).mean())
    assert errors[0] < 0.2 * power, (errors, power)
    # each extra stage removes a substantial part of the remaining error
    assert all(b < 0.8 * a for a, b in zip(errors, errors[1:])), errors


def test_quantizer_dropout_varies_active_stages_in_training_only(mixture) -> None:
    data = mixture(4)
    rvq = ResidualVQ(dim=4, n_stages=4, codebook_size=32, dropout_p=0.5)
    z = data(64, 8)
    rvq(z)  # k-means initialisation
    before = copy.deepcopy(rvq).eval()  # the codebooks this step quantizes with
    out = rvq(z)
    n = out.n_active
    assert set(n.tolist()) == {1, 2, 3, 4}
    assert 0.4 < (n == 4).float().mean() < 0.85  # 1 - p + p/K = 0.625 expected
    # codes mark exactly the dropped stages with -1
    stage_ids = torch.arange(4)[None, :, None]
    dropped = stage_ids >= n[:, None, None]
    assert ((out.codes == -1) == dropped.expand_as(out.codes)).all()
    # every example's quantized value is the decoding of its active prefix
    for b in range(16):
        prefix = before.decode(out.codes[b : b + 1, : int(n[b])])
        assert torch.equal(out.quantized[b : b + 1].detach(), prefix)
    rvq.eval()
    assert (rvq(z).n_active == 4).all() and (rvq(z).codes >= 0).all()
    assert (rvq(z, 2).n_active == 2).all()
    rvq.train()
    nodrop = ResidualVQ(dim=4, n_stages=4, codebook_size=32, dropout_p=0.0)
    assert (nodrop(z).n_active == 4).all()


def test_weighted_dropout_stages_draw_only_the_listed_counts(mixture) -> None:
    data = mixture(4)
    rvq = ResidualVQ(dim=4, n_stages=4, codebook_size=16, dropout_p=1.0, dropout_stages=[2, 2, 3])
    z = data(2000, 2)
    rvq(z)  # k-means initialisation
    n = rvq(z).n_active
    assert set(n.tolist()) == {2, 3}
    assert 0.6 < (n == 2).float().mean() < 0.73  # 2/3 expected
    # a draw above the stages in use counts as all of them
    n = rvq(z, 2).n_active
    assert (n == 2).all()
    assert "dropout_stages=[2, 2, 3]" in repr(rvq)
    # a codec built from a config passes the list on
    from cplxcodec.models import CodecConfig, ComplexCodec

    codec = ComplexCodec(CodecConfig(n_stages=4, quantizer_dropout_stages=(1, 4)))
    assert codec.quantizer.dropout_stages == (1, 4)


def test_dropout_does_not_starve_late_stages(mixture) -> None:
    data = mixture(4)
    rvq = ResidualVQ(dim=4, n_stages=3, codebook_size=64, decay=0.8, dropout_p=1.0)
    for _ in range(40):
        out = rvq(data(16, 32))
        assert (out.perplexity[out.usage > 0] >= 1).all()
    assert (rvq.eval()(data(16, 64)).usage >= 0.9).all()


def test_codebook_of_2048_is_supported(mixture) -> None:
    data = mixture(4, n_components=256)
    rvq = ResidualVQ(dim=4, n_stages=2, codebook_size=2048, kmeans_iters=4)
    rvq(data(16, 256))
    rvq(data(16, 256))
    rvq.eval()
    z = data(16, 512)
    codes = rvq.encode(z)
    assert codes.shape == (16, 2, 512) and int(codes.max()) < 2048
    assert rvq.bits_per_frame() == 22.0
    out = rvq(z)
    assert torch.equal(rvq.decode(codes), out.quantized)
    assert (out.usage > 0.7).all(), out.usage
    assert out.perplexity[0] > 1024, out.perplexity


@pytest.mark.parametrize("n_stages", [1, 2])
def test_training_with_fewer_stages_leaves_the_rest_alone(mixture, n_stages: int) -> None:
    data = mixture(4)
    rvq = ResidualVQ(dim=4, n_stages=3, codebook_size=32)
    rvq(data(8, 32))
    later = rvq.stages[2].embed.clone() if n_stages < 3 else None
    for _ in range(3):
        out = rvq(data(8, 32), n_stages)
        assert out.codes.shape[1] == n_stages and (out.n_active <= n_stages).all()
    assert torch.equal(rvq.stages[2].embed, later)
