"""``CodecModule``: the LightningModule that trains a :class:`~cplxcodec.models.ComplexCodec`.

Optimisation is *manual* (``automatic_optimization = False``) so that every step can be guarded
the same way on one device and under DDP:

1. a batch containing NaN/inf samples is skipped before the forward pass;
2. the forward pass runs (the quantizer's EMA codebooks update inside it); if the total loss is
   not finite the codebook buffers are restored from a snapshot taken before the pass and the
   step is skipped (no backward, no optimizer or scheduler step);
3. after ``backward`` the gradients are clipped to ``grad_clip`` (global L2 norm over real and
   complex gradients, ``|g|`` for a complex entry: ``torch.nn.utils.clip_grad_norm_`` handles
   complex tensors); a non-finite norm skips the optimizer step.

Each decision is reduced over ranks (skip everywhere if any rank skips), so ranks never disagree
on which collectives run. Skipped steps are counted in ``train/skipped_steps`` and do not advance
``global_step`` (which counts optimizer steps). Gradient accumulation is not supported.

Learning rate: linear warm-up over ``warmup_steps`` from 0 to ``lr``, then cosine decay
``lr * (r + (1 - r) (1 + cos(pi t)) / 2)`` with ``t = (step - warmup) / (max_steps_schedule -
warmup)`` clipped to [0, 1] and floor ratio ``r = min_lr_ratio``; constant ``r * lr`` after
``max_steps_schedule``. Cosine (rather than exponential) decay reaches a known floor at a known
step, independent of the run length the trainer happens to be given. Optional release anneal
(the decay phase of a warmup-stable-decay schedule; Hu et al. 2024, "MiniCPM"; Hägele et al.
2024, "Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations"): with
``decay_start`` set, the multiplier is further scaled by a cosine from 1 down to ``min_lr_ratio``
over ``decay_steps`` steps from ``decay_start`` on, so an unfinished long run can be annealed into
a release snapshot while its pre-anneal checkpoint (kept aside) continues later at full rate.

Exact resume: checkpoints hold the model (codebook EMA buffers included), optimizer, scheduler,
loop counters (global step), the torch random state of every rank (quantizer dropout, k-means,
dead-code restarts draw from it; restored just before the first resumed training step; ranks are
seeded alike, so they draw the same dropout pattern, which keeps the quantizer's collectives in
step) and, via
:meth:`AudioDataModule.state_dict`, the position in the training item stream (mid-epoch too;
with DDP this needs ``use_distributed_sampler=False``, the CLI default). On the same hardware,
thread count and world size, the resumed run is bitwise identical to an uninterrupted one (CPU
reductions depend on the thread count). Checkpoint *after* the optimizer step: a checkpoint at
step ``s`` holds the state after ``s`` optimizer steps.
"""

from __future__ import annotations

import math
import platform
import warnings
from typing import Any, Literal

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.optim.lr_scheduler import LambdaLR

from cplxcodec.losses import CodecLoss, LossWeights
from cplxcodec.models import CodecConfig, ComplexCodec, get_config
from cplxcodec.optim import CAdam, CAdamW, complex_param_groups

__all__ = ["CodecModule", "FREEZABLE", "anneal_factor", "build_codec_config", "warmup_cosine"]

_OPTIMIZERS = ("cadam", "cadamw", "adam")
#: the parts of a codec that ``CodecModule(freeze=...)`` can leave untrained
FREEZABLE = ("encoder", "decoder", "quantizer")
_RNG_KEY = "cplxcodec_rng"
_INFO_KEY = "cplxcodec_train_info"


def build_codec_config(model: str, overrides: dict[str, Any] | None = None) -> CodecConfig:
    """The registered config ``model`` with ``overrides`` (CodecConfig fields) applied."""
    cfg = get_config(model)
    if overrides:
        d = cfg.to_dict()
        unknown = set(overrides) - set(d)
        if unknown:
            raise ValueError(
                f"model_overrides: unknown CodecConfig field(s) {sorted(unknown)}; "
                f"known: {sorted(d)}"
            )
        d.update(overrides)
        cfg = CodecConfig.from_dict(d)
    return cfg


def _load_weights(codec: ComplexCodec, source: str) -> None:
    """Copy the weights and buffers of model ``source`` (name or file) into ``codec``; clear
    errors for a missing model or a different architecture."""
    from cplxcodec.models import load_model

    try:
        donor = load_model(source)
    except (KeyError, OSError, ValueError) as err:
        raise ValueError(f"init_from: cannot load model {source!r}: {err}") from err
    mine, theirs = codec.config.to_dict(), donor.config.to_dict()
    differ = sorted(k for k in mine if k != "name" and mine[k] != theirs.get(k))
    if differ:
        details = ", ".join(f"{k}: {theirs.get(k)!r} there, {mine[k]!r} here" for k in differ)
        raise ValueError(
            f"init_from: model {source!r} has another config ({details}); set model_overrides "
            "to match it"
        )
    codec.load_state_dict(donor.state_dict())


def warmup_cosine(step: int, warmup_steps: int, max_steps: int, min_ratio: float) -> float:
    """LR multiplier at optimizer step ``step`` (see the module docstring)."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, max_steps - warmup_steps)
    t = min(1.0, max(0.0, (step - warmup_steps) / span))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))


def anneal_factor(step: int, decay_start: int | None, decay_steps: int, min_ratio: float) -> float:
    """Release-anneal multiplier: 1 before ``decay_start``, then a cosine to ``min_ratio`` over
    ``decay_steps`` steps, ``min_ratio`` after (``decay_start=None``: always 1)."""
    if decay_start is None or step < decay_start:
        return 1.0
    t = min(1.0, (step - decay_start) / max(1, decay_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))


class CodecModule(pl.LightningModule):
    """Trains a codec with :class:`~cplxcodec.losses.CodecLoss` (rules in the module docstring).

    Args:
        model: registered codec configuration (``cplxcodec.models.available_configs()``).
        model_overrides: :class:`~cplxcodec.models.CodecConfig` fields replacing the registered
            values (e.g. a tiny model for tests).
        loss_weights: :class:`~cplxcodec.losses.LossWeights` fields.
        optimizer: ``"cadam"``, ``"cadamw"`` (Wirtinger-aware, :mod:`cplxcodec.optim`) or
            ``"adam"`` (``torch.optim.Adam``, separate moments for Re/Im; for comparison).
        lr, betas, eps: optimizer settings.
        weight_decay: L2 (cadam, adam) or decoupled (cadamw) decay of weight matrices/kernels;
            vectors, gains and biases are never decayed (:func:`complex_param_groups`).
        warmup_steps, max_steps_schedule, min_lr_ratio: the learning-rate schedule.
        decay_start, decay_steps: optional release anneal (module docstring); ``None``: off.
        grad_clip: maximum global gradient norm (``<= 0``: no clipping, norm still logged).
        val_kbps: bitrates evaluated in validation; ``None``: 6 and 12 kbps where the model has
            them, else half and all of its stages.
        val_metrics_clips: PESQ and STOI on this many validation clips per bitrate.
        media_every_n_val: log audio and spectrogram/phase images of the first validation batch
            every this many validation runs (``0``: never; TensorBoard logger only).
        media_clips: clips per media log.
        init_from: start from the weights and codebooks of this model (a name such as
            ``"speech16k"`` for the bundled one, or a model file; :func:`~cplxcodec.models.
            load_model`) instead of a fresh initialisation; its config must equal ``model``
            with ``model_overrides`` (e.g. ``n_stages: 16`` for the bundle). Fine-tuning:
            ``configs/speech16k-finetune.yaml``. A resumed run loads it and then the checkpoint.
        freeze: parts of the codec left as they are, from ``"encoder"``, ``"decoder"``,
            ``"quantizer"``: their parameters get no gradients and no optimizer state, and a
            frozen quantizer's codebooks are not updated (its dropout still applies), so the
            codes of a frozen encoder and quantizer stay those of ``init_from``.
    """

    def __init__(
        self,
        model: str = "speech16k",
        model_overrides: dict[str, Any] | None = None,
        loss_weights: dict[str, float] | None = None,
        optimizer: Literal["cadam", "cadamw", "adam"] = "cadam",
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.99),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        warmup_steps: int = 1000,
        max_steps_schedule: int = 300_000,
        min_lr_ratio: float = 0.05,
        decay_start: int | None = None,
        decay_steps: int = 1000,
        grad_clip: float = 1.0,
        val_kbps: list[float] | None = None,
        val_metrics_clips: int = 4,
        media_every_n_val: int = 4,
        media_clips: int = 2,
        init_from: str | None = None,
        freeze: list[str] | None = None,
    ) -> None:
        super().__init__()
        if optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {_OPTIMIZERS}, got {optimizer!r}")
        if lr <= 0 or warmup_steps < 0 or max_steps_schedule < 1 or not 0 <= min_lr_ratio <= 1:
            raise ValueError(
                "need lr > 0, warmup_steps >= 0, max_steps_schedule >= 1, 0 <= min_lr_ratio <= 1"
            )
        if (decay_start is not None and decay_start < 0) or decay_steps < 1:
            raise ValueError(
                f"need decay_start >= 0 (or None) and decay_steps >= 1, got {decay_start}, "
                f"{decay_steps}"
            )
        frozen = list(freeze or [])
        unknown = sorted(set(frozen) - set(FREEZABLE))
        if unknown:
            raise ValueError(f"freeze: unknown part(s) {unknown}; known: {list(FREEZABLE)}")
        if set(frozen) >= set(FREEZABLE):
            raise ValueError(f"freeze: {frozen} leaves nothing to train")
        self.save_hyperparameters()
        self.automatic_optimization = False
        cfg = build_codec_config(model, model_overrides)
        self.codec = ComplexCodec(cfg)
        if init_from is not None:
            _load_weights(self.codec, init_from)
        for part in frozen:
            for p in getattr(self.codec, part).parameters():
                p.requires_grad_(False)
        if "quantizer" in frozen:
            if not bool(self.codec.quantizer.initialized.all()):
                raise ValueError(
                    "freeze: ['quantizer'] needs trained codebooks (give init_from): this "
                    "model's are not initialised"
                )
            self.codec.quantizer.frozen = True
        self.loss = CodecLoss(cfg.sample_rate, LossWeights(**(loss_weights or {})))
        if val_kbps is None:
            supported = cfg.supported_kbps
            val_kbps = [k for k in (6.0, 12.0) if any(abs(k - s) <= 0.03 * k for s in supported)]
            if not val_kbps:
                val_kbps = sorted({cfg.kbps(max(1, cfg.n_stages // 2)), cfg.kbps(cfg.n_stages)})
        self.val_stages = {float(k): cfg.stages_for_kbps(float(k)) for k in val_kbps}
        self.skipped_steps = 0
        self.val_runs = 0
        self._pending_rng: dict[str, Any] | None = None
        self._val_scores: dict[str, list[float]] = {}

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self) -> dict[str, Any]:
        """Optimizer over disjoint decay/no-decay x complex/real groups, per-step schedule."""
        h = self.hparams
        groups = complex_param_groups(self.codec, h.weight_decay)
        kwargs = {"lr": h.lr, "betas": tuple(h.betas), "eps": h.eps}
        if h.optimizer == "cadam":
            opt: torch.optim.Optimizer = CAdam(groups, **kwargs)
        elif h.optimizer == "cadamw":
            opt = CAdamW(groups, **kwargs)
        else:
            opt = torch.optim.Adam(groups, **kwargs)

        def schedule(step: int) -> float:
            base = warmup_cosine(step, h.warmup_steps, h.max_steps_schedule, h.min_lr_ratio)
            return base * anneal_factor(step, h.decay_start, h.decay_steps, h.min_lr_ratio)

        sched = LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def _all_ranks(self, ok: bool) -> bool:
        """True only if ``ok`` holds on every rank (a collective under DDP)."""
        return bool(self.trainer.strategy.reduce_boolean_decision(bool(ok), all=True))

    def _skip(self, reason: str) -> None:
        self.skipped_steps += 1
        warnings.warn(
            f"step {self.global_step}: {reason}; skipping this step "
            f"({self.skipped_steps} skipped so far)",
            RuntimeWarning,
            stacklevel=2,
        )
        self.log("train/skipped_steps", float(self.skipped_steps), on_step=True)

    def training_step(self, batch: Tensor, batch_idx: int) -> dict[str, Tensor] | None:
        """One guarded optimisation step on a ``(B, 1, T)`` batch; returns ``{"loss"}`` or None."""
        opt = self.optimizers()
        sched = self.lr_schedulers()
        wav = batch
        if not self._all_ranks(bool(torch.isfinite(wav).all())):
            self._skip("non-finite samples in the batch")
            return None
        snapshot = {k: v.clone() for k, v in self.codec.quantizer.state_dict().items()}
        out = self.codec(wav)
        loss = self.loss(wav, out.wav, out.spec, out.spec_hat, out.commit_loss)
        if not self._all_ranks(bool(torch.isfinite(loss.total))):
            self.codec.quantizer.load_state_dict(snapshot)
            self._skip(f"non-finite loss {float(loss.total.detach())}")
            return None
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss.total)
        clip = self.hparams.grad_clip if self.hparams.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.codec.parameters(), clip)
        if not self._all_ranks(bool(torch.isfinite(grad_norm))):
            opt.zero_grad(set_to_none=True)
            self._skip(f"non-finite gradient norm {float(grad_norm)}")
            return None
        opt.step()
        sched.step()
        self._log_train(loss.total, loss.terms, grad_norm, out, wav.shape[0])
        return {"loss": loss.total.detach()}

    def _log_train(self, total: Tensor, terms: dict, grad_norm: Tensor, out, batch: int) -> None:
        logs = {"train/loss": total.detach(), "train/grad_norm": grad_norm}
        logs.update({f"train/{k}": v.detach() for k, v in terms.items()})
        for k in range(out.usage.shape[0]):
            logs[f"usage/stage{k + 1:02d}"] = out.usage[k]
            logs[f"perplexity/stage{k + 1:02d}"] = out.perplexity[k]
        logs["train/lr"] = torch.tensor(self.optimizers().param_groups[0]["lr"])
        logs["train/active_stages"] = out.n_active.float().mean()
        self.log_dict(logs, on_step=True, batch_size=batch)
        self.log("loss", total.detach(), prog_bar=True, logger=False, batch_size=batch)

    # ------------------------------------------------------------------ validation
    def reconstruct(self, wav: Tensor, n_stages: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Eval-mode codes path: ``(codes, spec, spec_hat, wav_hat)`` with ``n_stages`` stages.

        Exactly ``decode(encode(wav, kbps, beam=1), T)`` of :class:`ComplexCodec`, keeping the
        intermediate spectra for the loss. Greedy search (as in training), so that validation
        figures stay comparable across runs and cheap; files are encoded with a beam search
        (:data:`~cplxcodec.models.ENCODE_BEAM`), which scores somewhat higher.
        """
        c = self.codec
        spec = c.analysis(wav)
        codes = c.quantizer.encode(c.encode_latent(spec), n_stages, beam=1)
        spec_hat = c.decode_latent(c.quantizer.decode(codes))
        return codes, spec, spec_hat, c.synthesis(spec_hat, wav.shape[-1])

    def setup(self, stage: str) -> None:
        """Reject precisions that are unsafe with complex tensors and mismatched data rates."""
        precision = str(self.trainer.precision)
        if precision not in ("32-true", "64-true", "32", "64"):
            raise ValueError(
                f"trainer precision {precision!r} is not supported: autocast (16-mixed, "
                "bf16-mixed) does not cover complex tensors; use 32-true"
            )
        sr = getattr(self.trainer.datamodule, "sample_rate", None)
        if sr is not None and int(sr) != self.codec.sample_rate:
            raise ValueError(
                f"data.sample_rate is {sr} Hz but model {self.codec.config.name!r} works at "
                f"{self.codec.sample_rate} Hz; set data.sample_rate: {self.codec.sample_rate}"
            )

    def on_validation_epoch_start(self) -> None:
        self._val_scores = {}

    def on_test_epoch_start(self) -> None:
        self._val_scores = {}

    def validation_step(self, batch: Tensor, batch_idx: int) -> None:
        """Losses at each validation bitrate; PESQ/STOI on the first clips; media on batch 0."""
        self._evaluate(batch, batch_idx, "val")

    def test_step(self, batch: Tensor, batch_idx: int) -> None:
        """As :meth:`validation_step`, logged under ``test/`` (no media)."""
        self._evaluate(batch, batch_idx, "test")

    def _evaluate(self, batch: Tensor, batch_idx: int, prefix: str) -> None:
        from cplxcodec.analysis import pesq_wb, stoi

        wav = batch
        b = wav.shape[0]
        first = batch_idx * b
        n_metric = max(0, min(b, self.hparams.val_metrics_clips - first))
        totals = []
        decoded: dict[float, Tensor] = {}
        for kbps, k in self.val_stages.items():
            _, spec, spec_hat, wav_hat = self.reconstruct(wav, k)
            zero = torch.zeros((), device=wav.device)
            loss = self.loss(wav, wav_hat, spec, spec_hat, zero)
            tag = f"{kbps:g}kbps"
            self.log(f"{prefix}/loss_{tag}", loss.total, sync_dist=True, batch_size=b)
            for name, v in loss.terms.items():
                if name != "commit":
                    self.log(f"{prefix}/{name}_{tag}", v, sync_dist=True, batch_size=b)
            totals.append(loss.total)
            decoded[kbps] = wav_hat
            sr = self.codec.sample_rate
            for i in range(n_metric):
                ref = wav[i, 0].float().cpu().numpy()
                est = wav_hat[i, 0].float().cpu().numpy()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    scores = {"pesq": pesq_wb(ref, est, sr), "stoi": stoi(ref, est, sr)}
                for name, v in scores.items():
                    if math.isfinite(v):
                        self._val_scores.setdefault(f"{prefix}/{name}_{tag}", []).append(v)
        self.log(
            f"{prefix}/loss",
            torch.stack(totals).mean(),
            prog_bar=True,
            sync_dist=True,
            batch_size=b,
        )
        if batch_idx == 0 and prefix == "val":
            self._log_media(wav, decoded)

    def _log_scores(self) -> None:
        for name, values in sorted(self._val_scores.items()):
            value = torch.tensor(sum(values) / len(values), device=self.device)
            self.log(name, value, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        self._log_scores()
        if not self.trainer.sanity_checking:
            self.val_runs += 1

    def on_test_epoch_end(self) -> None:
        self._log_scores()

    def _log_media(self, wav: Tensor, decoded: dict[float, Tensor]) -> None:
        every = self.hparams.media_every_n_val
        if every <= 0 or self.trainer.sanity_checking or self.val_runs % every:
            return
        from cplxcodec.training.callbacks import log_media

        log_media(self, wav, decoded, self.hparams.media_clips)

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Add every rank's torch random state, skip/validation counters and run info."""
        states = [torch.get_rng_state()]
        if self.trainer.world_size > 1:
            gathered = self.all_gather(states[0].to(self.device))
            # Rows of the gathered tensor are views into one storage; torch.save keeps them so,
            # and they would load as views (see _own_state): store independent copies.
            states = [s.cpu().clone() for s in gathered]
        rng: dict[str, Any] = {"torch": states}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        checkpoint[_RNG_KEY] = rng
        checkpoint[_INFO_KEY] = {
            "skipped_steps": self.skipped_steps,
            "val_runs": self.val_runs,
            "world_size": self.trainer.world_size,
            "hardware": _hardware(self.device),
            "precision": str(self.trainer.precision),
            "codec_config": self.codec.config.to_dict(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the counters now and the random state at the first resumed training step."""
        info = checkpoint.get(_INFO_KEY, {})
        self.skipped_steps = int(info.get("skipped_steps", 0))
        self.val_runs = int(info.get("val_runs", 0))
        rng = checkpoint.get(_RNG_KEY)
        self._pending_rng = rng if rng and rng.get("torch") else None

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self._pending_rng:
            states = self._pending_rng["torch"]
            rank = self.trainer.global_rank
            torch.set_rng_state(_own_state(states[rank] if rank < len(states) else states[0]))
            cuda = self._pending_rng.get("cuda")
            if (
                cuda is not None
                and torch.cuda.is_available()
                and len(cuda) == torch.cuda.device_count()
            ):
                torch.cuda.set_rng_state_all(cuda)
            self._pending_rng = None


def _own_state(state: Tensor) -> Tensor:
    """A contiguous uint8 copy of a saved generator state that owns its storage.

    ``torch.set_rng_state`` reads a view at a storage offset out of bounds and crashes the
    process (torch 2.13, segmentation fault), and checkpoints written by DDP runs before the
    save side cloned its states hold exactly such views (rank ``r``'s state at offset
    ``r * 5056``).
    """
    if not isinstance(state, Tensor) or state.dtype != torch.uint8:
        raise ValueError(
            "checkpoint RNG state must be a uint8 tensor (torch.get_rng_state()), got "
            f"{getattr(state, 'dtype', type(state).__name__)}"
        )
    return state.detach().to("cpu").clone(memory_format=torch.contiguous_format)


def _hardware(device: torch.device) -> str:
    """Short description of the training hardware."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} ({platform.node()})"
    return f"{platform.processor() or platform.machine()} CPU x{torch.get_num_threads()} threads"
