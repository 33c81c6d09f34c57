"""Variable stage allocation through the model: encode, files, chunking, refinement, the CLI.

A file coded with ``vbr=True`` must keep the nominal mean rate (side information paid), decode
with any build, keep one stage count per block, survive chunking, and on the bundled model and
real speech sound better than the constant-rate file of the same size.
"""

from __future__ import annotations

import math

import _support
import numpy as np
import pytest
import torch
from _support import one_torch_thread

from cplxcodec.analysis import objective_metrics
from cplxcodec.audio import load_audio
from cplxcodec.bitstream import unpack
from cplxcodec.bitstream.vbr import VBR_BLOCK
from cplxcodec.cli import demo_sample_path, file_info
from cplxcodec.models import ComplexCodec, load_model, pretrained_path
from cplxcodec.models.compression import encode_long
from cplxcodec.models.refine import RefinementLoss, refine_codes
from cplxcodec.models.vbr import allocate_file, side_bits, stage_budget
from cplxcodec.quantization import stage_counts
from cplxcodec.signals import speech_like


def _wave(seconds: float, seed: int = 0, silence: float = 0.0) -> torch.Tensor:
    x = speech_like(seconds, 16000, seed=seed).astype(np.float32)
    if silence:  # a pause in the middle: where the stages should come from
        n = int(silence * 16000)
        x[len(x) // 2 - n // 2 : len(x) // 2 + n // 2] = 0.0
    return torch.from_numpy(x)


@pytest.fixture(scope="module")
def tiny() -> ComplexCodec:
    torch.manual_seed(0)
    # a small codebook trained on other signals, so that stages keep paying on the test waves
    model = ComplexCodec(_support.tiny_config(name="tiny-vbr", codebook_size=64))
    with torch.no_grad():
        wav = torch.stack([_wave(1.0, seed=s) for s in (20, 21)]).unsqueeze(1)
        model.quantizer.train()(model.encode_latent(model.analysis(wav)))
    return model.eval()


def _nominal_stages(model: ComplexCodec) -> int:
    return model.config.stages_for_kbps(model.config.supported_kbps[1])


def test_encode_keeps_the_mean_rate_and_the_blocks(tiny) -> None:
    wav = _wave(1.2, seed=1, silence=0.4)[None, None]
    k = _nominal_stages(tiny)
    kbps = tiny.config.kbps(k)
    with one_torch_thread():
        codes = tiny.encode(wav, kbps, beam=2, vbr=True)
        errors = tiny.stage_errors(wav, beam=2)[0]
    counts = stage_counts(codes)[0].numpy()
    n = counts.shape[0]
    per_stage = math.log2(tiny.codebook_size)
    assert counts.mean() + side_bits(counts, VBR_BLOCK) / (n * per_stage) <= k + 1e-9
    assert counts.min() >= 1 and counts.max() <= tiny.n_stages
    assert len(set(counts.tolist())) > 1  # the pause gives its stages away
    blocks = np.arange(n) // VBR_BLOCK
    for b in np.unique(blocks):
        assert len(set(counts[blocks == b].tolist())) == 1
    # the allocation spends where the latent error is: lower total error than the constant
    # count it can afford (the side information costs a fraction of a stage per frame here)
    idx = np.arange(n)
    vbr_err = errors.numpy()[counts, idx].sum()
    cbr_err = errors.numpy()[int(counts.mean()), idx].sum()
    assert vbr_err < cbr_err
    y = tiny.decode(codes, wav.shape[-1])
    assert y.shape == wav.shape and torch.isfinite(y).all()


def test_vbr_files_roundtrip_deterministically_and_in_chunks(tiny) -> None:
    x = _wave(2.5, seed=2, silence=0.5).numpy()
    kbps = tiny.config.supported_kbps[1]
    with one_torch_thread():
        data = tiny.compress(x, 16000, kbps, vbr=True, progress=False)
        again = tiny.compress(x, 16000, kbps, vbr=True, progress=False)
        y, sr = tiny.decompress(data)
        chunked = tiny.compress(x, 16000, kbps, vbr=True, chunk_seconds=0.7, progress=False)
        y2, _ = tiny.decompress(chunked, chunk_seconds=0.7)
        cbr = tiny.compress(x, 16000, kbps, progress=False)
    assert data == again
    header, _ = unpack(data)
    assert header.entropy.endswith("-vbr4") and header.kbps == kbps
    assert y.shape == (1, x.shape[0]) and sr == 16000 and torch.isfinite(y).all()
    assert unpack(chunked)[0].entropy.endswith("-vbr4")
    assert y2.shape == (1, x.shape[0]) and torch.isfinite(y2).all()
    info = file_info(data)
    assert info["variable_stages"] and 1.0 <= info["mean_stages"] <= header.n_stages
    # same budget: the payload is no larger than the constant-rate file's raw code rate
    frames = header.frame_count
    nominal_bytes = frames * _nominal_stages(tiny) * math.log2(tiny.codebook_size) / 8
    assert len(unpack(data)[1]) <= nominal_bytes + 16
    assert abs(len(data) - len(cbr)) < 0.1 * len(cbr)


def test_chunked_allocation_is_global(tiny) -> None:
    """Chunks share one allocation: the counts of a chunked encode follow the whole file."""
    wav = _wave(2.0, seed=4, silence=0.8)
    k = _nominal_stages(tiny)
    with one_torch_thread():
        chunked = encode_long(tiny, wav, k, chunk_seconds=0.5, beam=1, vbr=True)
        errors = tiny.stage_errors(wav[None, None], beam=1)[0]
    core = max(1, int(0.5 * tiny.config.frame_rate))
    want = allocate_file(errors, k, VBR_BLOCK, core, tiny.codebook_size)
    assert np.array_equal(stage_counts(chunked[None])[0].numpy(), want)


def test_refinement_keeps_the_counts(tiny) -> None:
    wav = _wave(0.6, seed=6, silence=0.2)[None, None]
    kbps = tiny.config.supported_kbps[1]
    with one_torch_thread():
        codes = tiny.encode(wav, kbps, beam=2, vbr=True)
        refined = refine_codes(tiny, wav, codes, 5, beam=2)
        loss = RefinementLoss(16000)
        before = float(loss(wav, tiny.decode(codes, wav.shape[-1])))
        after = float(loss(wav, tiny.decode(refined, wav.shape[-1])))
    assert torch.equal(stage_counts(refined), stage_counts(codes))
    assert after <= before


@pytest.mark.skipif(pretrained_path("speech16k") is None, reason="no bundled speech16k weights")
def test_vbr_beats_constant_rate_on_real_speech() -> None:
    """The ARCTIC sample at 6 kbps: measured PESQ-WB 2.77 constant, 2.94 variable (one thread);
    the floor asks for +0.05 at a file no more than 2 % larger."""
    codec = load_model("speech16k")
    wav, sr = load_audio(demo_sample_path(), sample_rate=codec.sample_rate, mono=True)
    x = wav[0]
    scores, sizes = {}, {}
    with one_torch_thread():
        for vbr in (False, True):
            data = codec.compress(x, sr, 6, progress=False, vbr=vbr)
            y, _ = codec.decompress(data, progress=False)
            scores[vbr] = objective_metrics(x, y.numpy()[0], sr)
            sizes[vbr] = len(data)
    assert scores[True]["pesq_wb"] >= scores[False]["pesq_wb"] + 0.05, scores
    assert scores[True]["stoi"] >= scores[False]["stoi"] - 0.005, scores
    assert sizes[True] <= 1.02 * sizes[False], sizes


def test_speed_benchmark_times_the_vbr_encoder(capsys) -> None:
    speed = _support.import_benchmark("codec_speed")
    with one_torch_thread():
        rc = speed.main(
            "--seconds 0.5 --repeats 1 --beams 1 --vbr --no-encodec --no-dac --threads 1".split()
        )
    out = capsys.readouterr().out
    assert rc == 0
    assert "beam 1, vbr" in out and "beam 1 " in out


def test_files_spend_the_requested_rate_not_just_the_nominal_stages(tiny) -> None:
    """A request above the nominal stage rate (within the 3 % a bitrate may differ) is headroom
    the allocation spends, framing included: the file lands at or under the request."""
    k = 4
    nominal = tiny.config.kbps(k)
    requested = round(nominal * 1.029, 4)  # 70 bit/s of headroom: more than the framing on 16 s
    x = _wave(16.0, seed=8, silence=0.5).numpy()
    with one_torch_thread():
        vbr = tiny.compress(x, 16000, requested, vbr=True, progress=False)
        cbr = tiny.compress(x, 16000, requested, vbr=False, progress=False)
    actual = len(vbr) * 8 / 16.0 / 1000
    assert actual <= requested
    assert len(vbr) > len(cbr)  # the headroom is used (the constant-rate file leaves it)
    assert unpack(vbr)[0].kbps == requested


def test_stage_budget() -> None:
    # 10 s at 6 kbps, 976 frames of 10-bit stages, 100 bytes of framing: 6.07 stages
    assert stage_budget(6.0, 10.0, 976, 100, 1024, 7400) == pytest.approx((60000 - 800) / 9760)
    # a short file: the constant-rate file (800 bytes) is larger than 6 kbps allows; its size
    # is the budget then
    assert stage_budget(6.0, 1.0, 98, 100, 1024, 800) == pytest.approx((6400 - 800) / 980)
    assert stage_budget(6.0, 0.0, 0, 100, 1024, 100) == 1.0


def test_allocate_file_fills_the_budget_without_collapsing() -> None:
    """Found on a dev segment: the first allocation overspent by 0.0003 stages and the
    allocation moved in whole blocks, so small corrections never fitted and the file fell back
    to one stage everywhere. Every budget must now end within 0.02 stages under it."""
    for seed in range(6):
        rng = np.random.default_rng(seed)
        n = 955
        scale = rng.uniform(0.01, 10.0, size=n) * (rng.uniform(size=n) < 0.8)
        decay = rng.uniform(0.6, 0.9, size=n)[None, :] ** np.arange(13)[:, None]
        errors = scale[None, :] * decay
        for budget in (1.5, 3.0, *np.arange(5.9, 6.1, 0.01), 8.0, 11.5):
            counts = allocate_file(errors, float(budget), VBR_BLOCK, 2926, 1024)
            spent = counts.mean() + side_bits(counts, VBR_BLOCK, 2926) / (n * 10)
            assert budget - 0.02 <= spent <= budget, (seed, budget, spent)


def test_a_file_whose_frames_all_send_every_stage_is_written_constant_rate(tiny) -> None:
    """At the top rate every frame sends the same stages (all of them, or fewer where this tiny
    model's last stages only add error): the side information would buy nothing."""
    x = _wave(1.0, seed=9).numpy()
    top = tiny.config.supported_kbps[-1]
    with one_torch_thread():
        data = tiny.compress(x, 16000, top, progress=False)
        cbr = tiny.compress(x, 16000, top, progress=False, vbr=False)
        y, _ = tiny.decompress(data)
    header = unpack(data)[0]
    assert not header.entropy.endswith("-vbr4")
    assert len(data) <= len(cbr) and y.shape == (1, x.shape[0])
    if header.n_stages == tiny.n_stages:
        assert data == cbr


def test_tiny_chunks_fall_back_to_constant_rate(tiny) -> None:
    """Found in review: with 5-frame chunks the framing and side information ate most of the
    budget and the allocation wrote one stage everywhere. Such files are constant-rate now."""
    x = _wave(1.0, seed=10).numpy()
    kbps = tiny.config.supported_kbps[5]
    with one_torch_thread():
        data = tiny.compress(x, 16000, kbps, chunk_seconds=0.05, progress=False)
        cbr = tiny.compress(x, 16000, kbps, chunk_seconds=0.05, progress=False, vbr=False)
    assert data == cbr


def test_allocation_curves_come_from_the_allocation_beam(tiny) -> None:
    """Without refinement the error curves come from a greedy search (ALLOCATION_BEAM), the
    codes from the file's beam; with refinement both from the file's beam."""
    from cplxcodec.models.vbr import ALLOCATION_BEAM, allocation_beam

    assert ALLOCATION_BEAM == 1
    assert allocation_beam(8) == 1 and allocation_beam(8, refine=5) == 8
    assert allocation_beam(1, refine=5) == 1
    wav = _wave(1.2, seed=9, silence=0.3)[None, None]
    k = _nominal_stages(tiny)
    with one_torch_thread():
        codes = tiny.encode(wav, tiny.config.kbps(k), beam=4, vbr=True)
        greedy = tiny.stage_errors(wav, beam=1)[0]
        wide = tiny.stage_errors(wav, beam=4)[0]
        searched = tiny.quantizer.encode_counts(tiny.latent(wav), stage_counts(codes), beam=4)
    want = allocate_file(greedy, k, VBR_BLOCK, 0, tiny.codebook_size)
    assert np.array_equal(stage_counts(codes)[0].numpy(), want)
    assert not torch.equal(greedy, wide)  # the two searches differ on this wave
    assert torch.equal(codes[:, : searched.shape[1]], searched)  # codes: the file's beam
