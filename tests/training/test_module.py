"""CodecModule: LR schedule, codes path, step guards, media rendering."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from cplxcodec.losses import LossOutput
from cplxcodec.signals import speech_like
from cplxcodec.training import (
    CodecModule,
    anneal_factor,
    build_codec_config,
    spectrogram_figure,
    warmup_cosine,
)
from cplxcodec.training.callbacks import figure_to_array


def test_release_anneal_scales_the_schedule_down_after_decay_start():
    f = [anneal_factor(s, 100, 50, 0.1) for s in range(0, 200)]
    assert f[:101] == [1.0] * 101  # untouched up to and including decay_start
    assert all(b < a for a, b in zip(f[100:150], f[101:151]))  # strictly falling over the span
    assert f[125] == pytest.approx(0.55) and f[150:] == [pytest.approx(0.1)] * 50
    assert [anneal_factor(s, None, 50, 0.1) for s in (0, 10**6)] == [1.0, 1.0]
    m = CodecModule(model="speech16k", lr=1e-3, warmup_steps=0, max_steps_schedule=10**6,
                    decay_start=3, decay_steps=2, min_lr_ratio=0.1)  # fmt: skip
    sched = m.configure_optimizers()["lr_scheduler"]["scheduler"]
    lrs = [sched.lr_lambdas[0](s) for s in range(7)]
    assert lrs[:4] == [pytest.approx(1.0, rel=1e-6)] * 4
    assert lrs[4] == pytest.approx(0.55, rel=1e-3)
    assert lrs[5:] == [pytest.approx(0.1, rel=1e-3)] * 2
    with pytest.raises(ValueError, match="decay_steps"):
        CodecModule(model="speech16k", decay_start=5, decay_steps=0)


def test_warmup_cosine_schedule():
    f = [warmup_cosine(s, 10, 110, 0.1) for s in range(0, 130)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)  # linear warm-up
    assert all(a < b for a, b in zip(f[:9], f[1:10]))
    assert f[60] == pytest.approx(0.1 + 0.9 * 0.5)  # half way down the cosine
    assert all(a >= b for a, b in zip(f[10:110], f[11:111]))
    assert f[110] == f[129] == pytest.approx(0.1)  # floor after max_steps


def test_overrides_are_validated(tiny):
    assert build_codec_config("speech16k", tiny).n_stages == 4
    with pytest.raises(ValueError, match="unknown CodecConfig field"):
        build_codec_config("speech16k", {"n_stage": 3})
    with pytest.raises(ValueError, match="optimizer must be one of"):
        CodecModule(model_overrides=tiny, optimizer="sgd")


def test_default_val_bitrates(tiny):
    assert set(CodecModule().val_stages) == {6.0, 12.0}  # speech16k has both
    m = CodecModule(model_overrides=tiny)  # 1.25 kbps per stage, 4 stages
    assert m.val_stages == {2.5: 2, 5.0: 4}


def test_reconstruct_is_the_codes_path(tiny):
    m = CodecModule(model_overrides=tiny)
    x = torch.from_numpy(speech_like(0.3, 16000))[None, None]
    m.codec(x)  # initialise the codebooks
    m.eval()
    codes, spec, spec_hat, wav_hat = m.reconstruct(x, 3)
    assert torch.equal(codes, m.codec.encode(x, m.codec.config.kbps(3), beam=1))
    assert torch.allclose(wav_hat, m.codec.decode(codes, x.shape[-1]), atol=1e-6)
    assert spec.shape == spec_hat.shape and spec.is_complex()


class _NaNLossOnCall(torch.nn.Module):
    """Wraps a CodecLoss; its ``call``-th forward returns a NaN total."""

    def __init__(self, inner: torch.nn.Module, call: int) -> None:
        super().__init__()
        self.inner, self.call, self.n = inner, call, 0

    def forward(self, *args):
        out = self.inner(*args)
        self.n += 1
        if self.n == self.call:
            return LossOutput(total=out.total * math.nan, terms=out.terms)
        return out


class _Recorder(pl.Callback):
    def __init__(self) -> None:
        self.quantizer: list[tuple[dict, dict]] = []
        self.params: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._q = self._p = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self._q = {k: v.clone() for k, v in module.codec.quantizer.state_dict().items()}
        self._p = torch.cat([p.detach().flatten().clone() for p in module.codec.parameters()])

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        q = {k: v.clone() for k, v in module.codec.quantizer.state_dict().items()}
        p = torch.cat([p.detach().flatten().clone() for p in module.codec.parameters()])
        self.quantizer.append((self._q, q))
        self.params.append((self._p, p))


def _trainer(callbacks: list[pl.Callback] | None = None) -> pl.Trainer:
    """One epoch on CPU, nothing written, no validation."""
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks or [],
        limit_val_batches=0,
    )


def _fit(module: CodecModule, batches: list[torch.Tensor]) -> tuple[pl.Trainer, _Recorder]:
    rec = _Recorder()
    trainer = _trainer([rec])
    loader = DataLoader(batches, batch_size=None)
    with pytest.warns(RuntimeWarning, match="skipping this step"):
        trainer.fit(module, train_dataloaders=loader)
    return trainer, rec


def _batches(n: int) -> list[torch.Tensor]:
    rng = np.random.default_rng(0)
    return [
        torch.from_numpy(
            np.stack([speech_like(0.25, 16000, seed=int(s)) for s in rng.integers(1 << 20, size=2)])
        )[:, None]
        for _ in range(n)
    ]


def test_nan_batch_is_skipped(tiny):
    batches = _batches(4)
    batches[2] = batches[2].clone()
    batches[2][0, 0, 100] = math.nan
    module = CodecModule(model_overrides=tiny, warmup_steps=0)
    trainer, rec = _fit(module, batches)
    assert trainer.global_step == 3 and module.skipped_steps == 1
    before, after = rec.params[2]
    assert torch.equal(before, after)  # no update on the NaN batch
    assert not torch.equal(*rec.params[3])  # training went on afterwards
    assert all(torch.isfinite(p).all() for p in module.codec.parameters())


def test_nan_loss_is_skipped_and_codebooks_restored(tiny):
    module = CodecModule(model_overrides=tiny, warmup_steps=0)
    module.loss = _NaNLossOnCall(module.loss, call=3)
    trainer, rec = _fit(module, _batches(4))
    assert trainer.global_step == 3 and module.skipped_steps == 1
    q_before, q_after = rec.quantizer[2]
    for k in q_before:
        assert torch.equal(q_before[k], q_after[k]), k  # EMA update of the NaN step undone
    assert torch.equal(*rec.params[2])
    q_before, q_after = rec.quantizer[1]
    assert any(not torch.equal(q_before[k], q_after[k]) for k in q_before)  # EMA did move


def test_spectrogram_figure_renders():
    ref = speech_like(0.5, 16000)
    fig = spectrogram_figure(ref, {"6kbps": 0.9 * ref}, 16000)
    img = figure_to_array(fig)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert len(fig.axes) >= 6 and img.std() > 0


def test_rng_state_of_rank_1_restores_from_a_stacked_ddp_checkpoint(tiny):
    """DDP checkpoints held every rank's state as views into one storage; restoring rank 1's
    (a view at a storage offset) made ``torch.set_rng_state`` crash the process."""
    from types import SimpleNamespace

    module = CodecModule(model_overrides=tiny, warmup_steps=0)
    torch.manual_seed(1)
    first = torch.get_rng_state()
    torch.manual_seed(2)
    second = torch.get_rng_state()
    expected = torch.rand(4)
    stacked = torch.stack([first, second])  # what all_gather returned, saved as-is
    assert stacked[1].storage_offset() > 0
    module.on_load_checkpoint({"cplxcodec_rng": {"torch": list(stacked)}})
    module._trainer = SimpleNamespace(global_rank=1)
    try:
        module.on_train_batch_start(None, 0)
    finally:
        module._trainer = None
    assert torch.equal(torch.rand(4), expected)  # rank 1 continues rank 1's random stream
    assert module._pending_rng is None


# ------------------------------------------------------------------ fine-tuning: init_from, freeze
def _tiny_model_file(tiny, path) -> str:
    """A tiny model with trained-looking (k-means initialised) codebooks, saved as a model file."""
    from cplxcodec.models import ComplexCodec
    from cplxcodec.models.serialization import save_model

    torch.manual_seed(0)
    codec = ComplexCodec(build_codec_config("speech16k", tiny)).train()
    codec(torch.cat(_batches(2)))  # initialises every stage's codebook
    assert bool(codec.quantizer.initialized.all())
    save_model(codec.eval(), path)
    return str(path)


def _fit_clean(module: CodecModule, batches: list[torch.Tensor]) -> pl.Trainer:
    trainer = _trainer()
    trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None))
    return trainer


def test_init_from_loads_a_model_file_exactly(tiny, tmp_path):
    from cplxcodec.models import load_model

    path = _tiny_model_file(tiny, tmp_path / "tiny.pt")
    donor = load_model(path).state_dict()
    module = CodecModule(model_overrides=tiny, init_from=path)
    mine = module.codec.state_dict()
    assert mine.keys() == donor.keys()
    assert all(torch.equal(mine[k], donor[k]) for k in donor)
    fresh = CodecModule(model_overrides=tiny).codec.state_dict()
    assert not all(torch.equal(fresh[k], donor[k]) for k in donor)


@pytest.mark.parametrize(
    "frozen, trained",
    [(["quantizer", "encoder"], ["decoder"]), (["quantizer", "decoder"], ["encoder"])],
)
def test_frozen_parts_stay_exactly_as_loaded(tiny, tmp_path, frozen, trained):
    """A fine-tune changes only what is not frozen: frozen parameters and (frozen quantizer)
    codebook buffers stay bitwise equal, get no optimizer state, and training moves the rest."""
    path = _tiny_model_file(tiny, tmp_path / "tiny.pt")
    module = CodecModule(model_overrides=tiny, init_from=path, freeze=frozen, warmup_steps=0)
    before = {k: v.clone() for k, v in module.codec.state_dict().items()}
    trainer = _fit_clean(module, _batches(3))
    assert trainer.global_step == 3
    after = module.codec.state_dict()
    for part in frozen:
        keys = [k for k in before if k.startswith(part + ".")]
        assert keys and all(torch.equal(before[k], after[k]) for k in keys), part
    for part in trained:
        keys = [k for k in before if k.startswith(part + ".")]
        assert any(not torch.equal(before[k], after[k]) for k in keys), part
    opt = trainer.optimizers[0]
    stateful = {id(p) for p in opt.state}
    for part in frozen:
        assert not any(id(p) in stateful for p in getattr(module.codec, part).parameters())


def test_unfrozen_quantizer_still_learns(tiny, tmp_path):
    path = _tiny_model_file(tiny, tmp_path / "tiny.pt")
    module = CodecModule(model_overrides=tiny, init_from=path, freeze=["encoder"], warmup_steps=0)
    before = {k: v.clone() for k, v in module.codec.quantizer.state_dict().items()}
    _fit_clean(module, _batches(2))
    after = module.codec.quantizer.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # EMA moved


def test_fine_tuning_arguments_are_checked(tiny, tmp_path):
    with pytest.raises(ValueError, match=r"unknown part\(s\) \['vocoder'\]"):
        CodecModule(model_overrides=tiny, freeze=["vocoder"])
    with pytest.raises(ValueError, match="leaves nothing to train"):
        CodecModule(model_overrides=tiny, freeze=["encoder", "decoder", "quantizer"])
    with pytest.raises(ValueError, match="needs trained codebooks"):
        CodecModule(model_overrides=tiny, freeze=["quantizer"])
    with pytest.raises(ValueError, match="init_from: cannot load model"):
        CodecModule(model_overrides=tiny, init_from=str(tmp_path / "missing.pt"))
    path = _tiny_model_file(tiny, tmp_path / "tiny.pt")
    with pytest.raises(ValueError, match=r"another config \(latent_dim: 8 there, 16 here"):
        CodecModule(model_overrides={**tiny, "latent_dim": 16}, init_from=path)


def test_frozen_quantizer_still_drops_stages(tiny, tmp_path):
    """Freezing keeps the codebooks but not the stage count: quantizer dropout still draws
    fewer stages for some examples in training mode."""
    path = _tiny_model_file(tiny, tmp_path / "tiny.pt")
    module = CodecModule(model_overrides=tiny, init_from=path, freeze=["quantizer"])
    quantizer = module.codec.quantizer.train()
    z = module.codec.latent(torch.cat(_batches(4))).detach()
    torch.manual_seed(0)
    counts = torch.cat([quantizer(z).n_active for _ in range(8)])
    assert int(counts.min()) < quantizer.n_stages == int(counts.max())
