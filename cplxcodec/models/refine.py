"""Analysis-by-synthesis code refinement: search the codes by what the decoder makes of them.

The residual-VQ search (greedy or beam, :func:`~cplxcodec.quantization.search.beam_search_codes`)
picks the codes whose sum is nearest to the encoder's latent. That is the right target only if
the decoder maps nearby latents to nearby sounds equally in every direction, which a small
network does not. Refinement closes the loop the way CELP speech coders do (analysis by
synthesis): it looks for codes whose *decoded audio* is nearest to the input.

The codes are discrete, so the search moves a continuous target latent ``t`` instead (it starts at
the encoder's output). Each iteration

1. quantizes ``t`` with the residual-VQ search (same stages and beam as the file),
2. decodes the quantized latent ``q`` to audio and scores it against the input with a perceptual
   loss (log-mel L1 + multi-resolution STFT loss, the magnitude terms of the training loss, plus
   ``1 - STOI``, the differentiable intelligibility measure of
   :mod:`cplxcodec.losses.intelligibility`),
3. keeps the codes if that loss is the lowest so far, and
4. moves ``t`` by one Adam step along the gradient of the loss at ``q``, passed straight through
   the quantizer (``q = t + (q - t).detach()``); the step size is annealed from ``lr`` to 0 over
   the run along a half cosine (:data:`REFINE_ANNEAL`).

The first iteration scores the search's own codes, so refinement never returns codes with a
higher loss than it was given. Only the encoder changes: the codes are ordinary codes, every
decoder reads them unchanged, and decoding stays bit-exact. Cost: one decoder forward and
backward pass and one residual-VQ search per iteration (with the bundled model, per 10 s of
audio: about 0.8 CPU-s on one thread, 0.6 wall-s on two cores); measured gains are in the model
card ("Refinement").

Refinement is deterministic on a given machine and thread count (no randomness; the same
float operations in the same order); like any float search it may pick different codes on
another CPU or thread count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from cplxcodec.losses.intelligibility import STOILoss
from cplxcodec.losses.spectral import MelLoss, MultiResolutionSTFTLoss
from cplxcodec.quantization import ABSENT, stage_counts

__all__ = [
    "REFINE_LR",
    "REFINE_ITERATIONS",
    "REFINE_STOI_WEIGHT",
    "REFINE_ANNEAL",
    "refine_codes",
    "step_size",
    "check_refine",
    "RefinementLoss",
]

#: Adam step size of the target latent, relative to the mean magnitude of the encoder's latent.
#: 0.02 since session 22 (0.01 before): on 7 dev segments at 12 kbps, 40 iterations gave
#: PESQ-WB 3.872 at 0.02 against 3.814 at 0.01; 0.04 stalls (3.863 at 40, with the STOI term).
REFINE_LR = 0.02
#: Iterations used by ``--refine`` without a number on the command line and by the benchmarks.
REFINE_ITERATIONS = 40
#: Weight of the intelligibility term (``1 - STOI``) in :class:`RefinementLoss` (session 22).
#: On 7 dev segments at 12 kbps, 40 iterations (step 0.02): weight 0 gives PESQ-WB / STOI
#: 3.872 / 0.957, weight 1 3.870 / 0.969, weight 2 3.838 / 0.971; at step 0.01 weight 10 gives
#: 3.706 / 0.972 and 100 3.598 / 0.972 (STOI is cheap to raise, PESQ-WB pays beyond weight ~1).
REFINE_STOI_WEIGHT = 1.0
#: Anneal the step size over the run (session 23): the step after iteration ``i`` of ``n`` is
#: ``lr · (1 + cos(π i / n)) / 2``, large steps first, small ones near the end, where a fixed
#: step keeps jumping between codes of similar loss. On 7 dev segments, 80 iterations, PESQ-WB /
#: STOI: 6 kbps 3.222 / 0.943 fixed, 3.296 / 0.945 annealed (3.249 annealed to half the step
#: only; a fixed step needs 160 iterations for 3.267); 12 kbps 3.914 / 0.970 fixed, 3.895 /
#: 0.971 annealed (within the segments' noise; SI-SDR and mel distance a little better).
REFINE_ANNEAL = True


def step_size(lr: float, iteration: int, iterations: int, anneal: bool) -> float:
    """The relative step size after ``iteration`` (0-based) of ``iterations`` (see
    :data:`REFINE_ANNEAL`)."""
    if not anneal:
        return lr
    return lr * 0.5 * (1.0 + math.cos(math.pi * iteration / iterations))


def _stoi_weight(stoi_weight: float | None) -> float:
    """The weight to use (``None``: the default); ``ValueError`` unless finite and ``>= 0``."""
    weight = REFINE_STOI_WEIGHT if stoi_weight is None else stoi_weight
    if (
        isinstance(weight, bool)
        or not isinstance(weight, (int, float))
        or not (0 <= weight < float("inf"))
    ):
        raise ValueError(f"stoi_weight must be a finite number >= 0, got {stoi_weight!r}")
    return float(weight)


class RefinementLoss(nn.Module):
    """What refinement minimizes: log-mel L1 + multi-resolution STFT loss of decoded audio, plus
    ``stoi_weight × (1 - STOI)``.

    The first two are the magnitude terms of the training loss
    (:class:`~cplxcodec.losses.CodecLoss`, weight 1 each). On the dev split they track PESQ-WB
    and STOI better than the full training loss, whose phase terms (complex spectral, time L1)
    pull towards waveform matching: with the bundled model at 6 kbps, 20 iterations on 7 dev
    segments raised PESQ-WB by 0.14 with this loss and by 0.11 with the full loss.

    The third (:class:`~cplxcodec.losses.STOILoss`, lenient: chunks too short or too silent for
    one 384 ms window add nothing) asks for band envelopes that follow the input's over 384 ms
    windows, which the spectral terms, frame by frame, do not. Because it *is* the STOI measure,
    STOI gains it brings are partly by construction; PESQ-WB, SI-SDR and mel distance are the
    independent checks (model card, "Refinement").

    Args:
        sample_rate: the audio's rate in Hz.
        stoi_weight: weight of the intelligibility term (``None``: :data:`REFINE_STOI_WEIGHT`;
            ``0`` leaves it out).
    """

    def __init__(self, sample_rate: int, stoi_weight: float | None = None) -> None:
        super().__init__()
        self.mel = MelLoss(sample_rate)
        self.mrstft = MultiResolutionSTFTLoss()
        self.stoi_weight = _stoi_weight(stoi_weight)
        self.stoi = STOILoss(sample_rate, lenient=True) if self.stoi_weight else None

    def forward(self, reference: Tensor, decoded: Tensor) -> Tensor:
        """Scalar loss of ``decoded`` against ``reference``, both ``(1, 1, T)``."""
        loss = self.mel(reference, decoded) + self.mrstft(decoded, reference)
        if self.stoi is not None:
            loss = loss + self.stoi_weight * self.stoi(reference, decoded)
        return loss


@contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """No parameter gradients inside (only the latent's); flags restored afterwards."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def check_refine(
    iterations: int, lr: float = REFINE_LR, stoi_weight: float | None = None
) -> None:
    """Raise ``ValueError`` unless ``iterations`` is an integer ``>= 0`` (not a bool), ``lr``
    a positive finite number and ``stoi_weight`` ``None`` or a finite number ``>= 0``; what
    every refinement entry point checks before any work."""
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ValueError(
            f"refinement iterations must be a non-negative integer, got {iterations!r}"
        )
    if not (isinstance(lr, (int, float)) and lr > 0 and lr == lr and lr != float("inf")):
        raise ValueError(f"refinement lr must be a positive finite number, got {lr!r}")
    _stoi_weight(stoi_weight)


def refine_codes(
    model,
    wav: Tensor,
    codes: Tensor,
    iterations: int,
    *,
    beam: int = 1,
    lr: float = REFINE_LR,
    stoi_weight: float | None = None,
    anneal: bool | None = None,
    progress: bool = False,
    callback: Callable[[int, int, float, Tensor], None] | None = None,
) -> Tensor:
    """Refine residual-VQ codes by analysis by synthesis (see the module docstring).

    Args:
        model: a :class:`~cplxcodec.models.ComplexCodec` (evaluation mode is not required; the
            decoder is run as is, its parameters get no gradients).
        wav: the input ``(B, 1, T)`` at the model rate, as given to
            :meth:`~cplxcodec.models.ComplexCodec.encode` (at least ``model.min_length()``).
        codes: ``(B, K, N)`` codes of ``wav`` from the search; ``K`` stages are kept, and so
            is each frame's stage count where codes are ``-1`` (absent: variable allocation).
        iterations: search iterations (``0`` returns ``codes`` unchanged).
        beam: residual-VQ search width used at every iteration.
        lr: Adam step size relative to the mean magnitude of the encoder's latent.
        stoi_weight: weight of the loss's intelligibility term (``None``:
            :data:`REFINE_STOI_WEIGHT`; see :class:`RefinementLoss`).
        anneal: step size annealed over the run (``None``: :data:`REFINE_ANNEAL`; see
            :func:`step_size`); ``False`` keeps it at ``lr``.
        progress: show a progress bar over the iterations.
        callback: called after every iteration as ``callback(item, done, best_loss, best_codes)``
            (batch index, iterations done, the lowest loss so far and its ``(1, K, N)`` codes).
            Without annealing the search is the same whatever the count, so ``best_codes``
            after ``done`` iterations are what ``refine_codes(..., done)`` returns: one long
            run traces every shorter one. Annealed, the steps depend on the count, and a
            shorter run differs (``benchmarks/refine_sweep.py`` runs each count).

    Returns:
        ``(B, K, N)`` int64 codes whose decoded audio has a refinement loss
        (:class:`RefinementLoss`) no higher than that of ``codes``, item by item.
    """
    check_refine(iterations, lr, stoi_weight)
    anneal = REFINE_ANNEAL if anneal is None else bool(anneal)
    if codes.dim() != 3 or wav.dim() != 3 or codes.shape[0] != wav.shape[0]:
        raise ValueError(
            f"refine_codes expects wav (B, 1, T) and codes (B, K, N), got {tuple(wav.shape)} "
            f"and {tuple(codes.shape)}"
        )
    if iterations == 0:
        return codes
    from tqdm.auto import tqdm

    quantizer = model.quantizer
    n_stages, length = codes.shape[1], wav.shape[-1]
    bar = tqdm(
        total=iterations * wav.shape[0], desc="refine", unit="it", disable=not progress, leave=False
    )
    # inference_mode(False): callers may encode under torch.inference_mode(), whose tensors
    # autograd cannot use; the clones below are ordinary tensors.
    with _frozen(model), torch.inference_mode(False), torch.enable_grad():
        # its buffers: ordinary tensors too
        criterion = RefinementLoss(model.sample_rate, stoi_weight)
        out = codes.clone()
        for b in range(wav.shape[0]):
            x = wav[b : b + 1].float().clone()
            with torch.no_grad():
                target = model.encode_latent(model.analysis(x))
            scale = float(target.abs().mean()) or 1.0
            target = target.detach().clone().requires_grad_(True)
            opt = torch.optim.Adam([target], lr=lr * scale)
            current = codes[b : b + 1].clone()
            counts = stage_counts(current)
            ragged = bool((counts < n_stages).any())
            best_loss = float("inf")
            for it in range(iterations):
                if it > 0:
                    with torch.no_grad():
                        if ragged:  # variable allocation: same counts, new codes
                            current = torch.full_like(current, ABSENT)
                            found = quantizer.encode_counts(target.detach(), counts, beam=beam)
                            current[:, : found.shape[1]] = found
                        else:
                            current = quantizer.encode(target.detach(), n_stages, beam=beam)
                with torch.no_grad():
                    q = quantizer.decode(current)
                q = target + (q - target).detach()  # straight through the quantizer
                decoded = model.synthesis(model.decode_latent(q), length)
                loss = criterion(x, decoded)
                value = float(loss.detach())
                if value < best_loss:
                    best_loss = value
                    out[b : b + 1] = current
                bar.update(1)
                if callback is not None:
                    callback(b, it + 1, best_loss, out[b : b + 1].clone())
                if it == iterations - 1:
                    break  # the last step's target would never be scored
                opt.zero_grad(set_to_none=True)
                loss.backward()
                for group in opt.param_groups:
                    group["lr"] = step_size(lr, it, iterations, anneal) * scale
                opt.step()
    bar.close()
    return out
