r"""More residual-VQ stages for a trained codec, fitted after training, decoder unchanged.

A trained :class:`~cplxcodec.models.ComplexCodec` with ``K`` stages quantizes its latent to
:math:`Q_K`; what the ``K`` stages leave, :math:`r_{K+1} = z - Q_K`, still carries quality: the
decoder of the bundled speech model reaches PESQ-WB 3.65 on the unquantized latent and 3.22 on
12 greedy stages (model card, "Where the quality goes"). :func:`extend_stages` appends ``n``
codebooks fitted on those residuals, each by k-means (Lloyd, :func:`~cplxcodec.quantization.
kmeans.kmeans`) on the residual of the stages before it:

.. math::

    r_{K+1} = z - Q_K^{\text{beam}}, \qquad
    \mathcal{C}_{K+j} = \text{k-means}(r_{K+j}), \qquad
    r_{K+j+1} = r_{K+j} - \operatorname{nn}_{\mathcal{C}_{K+j}}(r_{K+j}),

with :math:`Q_K^{\text{beam}}` the ``K``-stage beam search that files use. Encoder, decoder and
the first ``K`` codebooks are untouched, so every code a ``K``-stage file holds decodes to the
same audio, and the decoder is never asked for more than a latent nearer to the encoder's
output than :math:`Q_K`. What the new stages buy: with variable stage allocation
(:mod:`cplxcodec.models.vbr`) the busy blocks of a file may send more than ``K`` stages while
quiet ones send fewer, at the same mean rate; and constant-rate files above ``K`` stages'
rate become possible.

Joint re-estimation of the new codebooks under the full-depth beam search's assignments was
tried (three rounds of per-codeword means with the other stages fixed): it lowered the error on
the fitting data and left it unchanged on held-out speech, so it is not done.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from cplxcodec.models.codec import ENCODE_BEAM, ComplexCodec
from cplxcodec.quantization.kmeans import kmeans
from cplxcodec.quantization.layout import latent_to_rows
from cplxcodec.quantization.search import beam_search_codes, nearest_code

__all__ = ["ExtensionReport", "extend_stages", "latent_rows"]

#: At most this many stages per model (what variable allocation's side information can code).
MAX_STAGES = 32


@dataclasses.dataclass(frozen=True)
class ExtensionReport:
    """What :func:`extend_stages` fitted.

    Attributes:
        frames: latent frames the new codebooks were fitted on.
        errors: mean squared latent error per frame after ``K``, ``K + 1``, ... stages on
            those frames (first entry: the original model's ``K`` stages, beam search).
        usage: fraction of codewords of each new stage chosen by at least one frame.
    """

    frames: int
    errors: tuple[float, ...]
    usage: tuple[float, ...]


@torch.no_grad()
def latent_rows(
    model: ComplexCodec, waves: Iterable[np.ndarray], progress: bool | None = None
) -> torch.Tensor:
    """Encoder latents of ``waves`` (mono float arrays at the model rate) as quantizer rows
    ``(M, 2D)`` float32 (:func:`~cplxcodec.quantization.layout.latent_to_rows`)."""
    rows = []
    waves = list(waves)
    for w in tqdm(waves, desc="latents", unit="file", disable=progress is False or None):
        x = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)).reshape(1, 1, -1)
        if not torch.isfinite(x).all():
            raise ValueError("audio for new stages contains NaN or inf samples")
        if x.shape[-1] < model.min_length():
            x = torch.nn.functional.pad(x, (0, model.min_length() - x.shape[-1]))
        rows.append(latent_to_rows(model.encode_latent(model.analysis(x))))
    if not rows:
        raise ValueError("extend_stages needs at least one waveform")
    return torch.cat(rows)


@torch.no_grad()
def extend_stages(
    model: ComplexCodec,
    waves: Sequence[np.ndarray] | torch.Tensor,
    n_new: int,
    *,
    beam: int = ENCODE_BEAM,
    kmeans_iters: int = 25,
    seed: int = 0,
    progress: bool | None = None,
) -> tuple[ComplexCodec, ExtensionReport]:
    """A copy of ``model`` with ``n_new`` more residual-VQ stages fitted on ``waves``.

    Args:
        model: a trained codec (left unchanged).
        waves: mono float arrays at the model rate, or latent rows ``(M, 2D)`` already computed
            with :func:`latent_rows`. Every new codebook has ``codebook_size`` codewords, so
            use at least tens of codebook sizes of frames (the bundled model's used 1200 s,
            117 k frames).
        n_new: stages to add (``K + n_new`` at most :data:`MAX_STAGES`).
        beam: search width of the original ``K`` stages on the fitting data (as files use).
        kmeans_iters: Lloyd iterations per new stage.
        seed: seeds the k-means initialisations (stage ``K + j`` uses ``seed + j``).

    Returns:
        ``(extended model in eval mode, report)``. The extended model has no entropy tables
        (fit them with :func:`~cplxcodec.models.fit_entropy_model`): the old tables do not
        cover the new stages.
    """
    if isinstance(n_new, bool) or not isinstance(n_new, int) or n_new < 1:
        raise ValueError(f"n_new must be a positive integer, got {n_new!r}")
    k_old = model.n_stages
    if k_old + n_new > MAX_STAGES:
        raise ValueError(
            f"{k_old} + {n_new} stages exceed the {MAX_STAGES} a model may have (variable "
            "allocation codes at most that many per frame)"
        )
    rows = waves if isinstance(waves, torch.Tensor) else latent_rows(model, waves, progress)
    if rows.ndim != 2 or rows.shape[1] != 2 * model.config.latent_dim:
        raise ValueError(
            f"latent rows must be (M, {2 * model.config.latent_dim}), got {tuple(rows.shape)}"
        )
    size = model.codebook_size
    if rows.shape[0] < size:
        raise ValueError(
            f"{rows.shape[0]} latent frames cannot fit codebooks of {size} codewords; "
            "give more audio"
        )
    books = [stage.embed for stage in model.quantizer.stages]
    codes = beam_search_codes(rows, books, beam)
    residual = rows.clone()
    for k, book in enumerate(books):
        residual -= book.index_select(0, codes[k])
    errors = [float(residual.pow(2).sum(1).mean())]
    usage = []
    fitted = []
    with torch.random.fork_rng(devices=[]):  # the caller's generator is left as it was
        for j in tqdm(range(n_new), desc="new stages", disable=progress is False or None):
            torch.manual_seed(seed + j)
            result = kmeans(residual, size, kmeans_iters)
            idx = nearest_code(residual, result.centroids)
            residual -= result.centroids.index_select(0, idx)
            counts = torch.bincount(idx, minlength=size).float()
            fitted.append((result.centroids, counts))
            errors.append(float(residual.pow(2).sum(1).mean()))
            usage.append(float((counts > 0).float().mean()))
        config = dataclasses.replace(model.config, n_stages=k_old + n_new)
        extended = ComplexCodec(config)  # its random initialisation is overwritten below
    missing, unexpected = extended.load_state_dict(model.state_dict(), strict=False)
    new_prefixes = tuple(f"quantizer.stages.{k_old + j}." for j in range(n_new))
    if unexpected or any(not name.startswith(new_prefixes) for name in missing):
        raise RuntimeError(f"state dict mismatch extending the model: {missing} {unexpected}")
    for j, (centroids, counts) in enumerate(fitted):
        stage = extended.quantizer.stages[k_old + j]
        stage.embed.copy_(centroids)
        stage.cluster_size.copy_(counts)
        stage.embed_sum.copy_(centroids * counts.unsqueeze(1))
        stage.initialized.fill_(True)
    extended.card = dict(getattr(model, "card", {}) or {})
    report = ExtensionReport(frames=int(rows.shape[0]), errors=tuple(errors), usage=tuple(usage))
    return extended.eval(), report
