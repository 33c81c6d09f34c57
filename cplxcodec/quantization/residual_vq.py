r"""Residual vector quantization (RVQ) of complex latents, one model for every bitrate.

Stage :math:`k = 1..K` quantizes the residual left by the stages before it,

.. math::

    r_1 = z, \qquad q_k = \arg\min_{c \in \mathcal{C}_k} \lVert r_k - c \rVert^2, \qquad
    r_{k+1} = r_k - q_k, \qquad Q_k = \sum_{j \le k} q_j ,

per latent frame :math:`z \in \mathbb{C}^D`, with complex distances computed as real Euclidean
distances on the ``view_as_real`` layout (:mod:`cplxcodec.quantization.layout`). Each codebook
:math:`\mathcal{C}_k` is an :class:`~cplxcodec.quantization.codebook.EMACodebook` (k-means
initialisation on its own stage's residuals, EMA updates, dead-code restarts). Decoding the first
:math:`K'` stages' codes gives :math:`Q_{K'}` for any :math:`1 \le K' \le K`; with quantizer
dropout in training, every prefix is trained to be a good reconstruction, so one model serves
``K' * log2(codebook_size)`` bits per frame for every ``K'``.

References: Zeghidour et al., "SoundStream: An End-to-End Neural Audio Codec", 2021 (RVQ,
quantizer dropout); Défossez et al., "High Fidelity Neural Audio Compression" (EnCodec), 2022;
Kumar et al., "High-Fidelity Audio Compression with Improved RVQGAN" (DAC), 2023, which applies
quantizer dropout to a fraction ``p = 0.5`` of the examples so that full-bitrate quality is kept;
that is this module's default.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from cplxcodec.quantization.codebook import EMACodebook
from cplxcodec.quantization.layout import latent_to_rows, rows_to_complex, rows_to_latent
from cplxcodec.quantization.output import QuantizerOutput
from cplxcodec.quantization.search import beam_search_codes

__all__ = ["ABSENT", "ResidualVQ", "stage_counts"]

#: Code value of a stage a frame does not send (variable stage allocation, and the stages
#: quantizer dropout removed in training). A frame's absent stages are always its last ones.
ABSENT = -1


def stage_counts(codes: Tensor) -> Tensor:
    """Per-frame stage counts ``(B, N)`` int64 of codes ``(B, K, N)`` (stages not :data:`ABSENT`)."""
    return (codes != ABSENT).sum(dim=1)


def _histogram_stats(codes: Tensor, size: int) -> tuple[Tensor, Tensor, Tensor]:
    r"""Count, usage and perplexity of ``codes`` ``(M,)`` over a codebook of ``size``.

    Usage is the fraction of codewords chosen at least once; perplexity is
    :math:`\exp(-\sum_s p_s \log p_s)` of the empirical code distribution :math:`p`. Both are
    ``0`` when ``codes`` is empty. No host synchronisation.
    """
    hist = torch.bincount(codes, minlength=size).float()
    count = hist.sum()
    usage = (hist > 0).float().mean()
    p = hist / count.clamp_min(1.0)
    entropy = -(p * torch.log(p.clamp_min(1e-12))).sum()
    perplexity = torch.where(count > 0, torch.exp(entropy), torch.zeros_like(entropy))
    return count, usage, perplexity


class ResidualVQ(nn.Module):
    """Residual vector quantizer over complex latents ``(B, D, N)`` complex64.

    Args:
        dim: number of complex latent channels ``D``.
        n_stages: number of stages (codebooks) ``K``.
        codebook_size: codewords per stage ``S`` (``log2 S`` bits per stage and frame).
        decay: EMA decay of the codebook statistics.
        eps: Laplace smoothing constant of the cluster sizes.
        kmeans_iters: Lloyd iterations of the k-means initialisation of each stage.
        dead_code_threshold: a codeword whose EMA cluster size falls below this fraction of its
            stage's mean cluster size is re-drawn from the current batch's residuals
            (``0`` disables restarts).
        dropout_p: probability that a training example uses a random number of stages drawn
            uniformly from ``[1, K']`` instead of all ``K'`` (quantizer dropout). Default 0.5
            (DAC); ``0`` disables it. Never applied in eval mode.
        dropout_stages: the stage counts a dropped example draws from, uniformly over the
            entries (repeat an entry to weight it; entries above ``K'`` count as ``K'``).
            ``None`` (default) draws uniformly from ``[1, K']``. Weighting the counts that are
            served (e.g. 6 stages for 6 kbps) trains the decoder on those prefixes more often:
            with the uniform draw, ``p = 0.5`` and ``K = 12`` each prefix is seen in 4 % of the
            examples.

    Training-mode ``forward`` (and only it) updates the codebooks, without autograd: the first
    call k-means-initialises every stage that is not yet ``initialized``, on the residuals of
    that batch (all examples, no dropout); then each call applies one EMA step per used stage
    from the rows that stage quantized, followed by dead-code restarts. Under
    ``torch.distributed`` the EMA statistics are summed over ranks and random state is broadcast
    from rank 0; every rank must then call ``forward`` with the same ``n_stages``.

    The commitment loss is *averaged* over the used stages (see
    :class:`~cplxcodec.quantization.output.QuantizerOutput`).
    """

    def __init__(
        self,
        *,
        dim: int,
        n_stages: int = 8,
        codebook_size: int = 1024,
        decay: float = 0.99,
        eps: float = 1e-5,
        kmeans_iters: int = 10,
        dead_code_threshold: float = 0.1,
        dropout_p: float = 0.5,
        dropout_stages: tuple[int, ...] | list[int] | None = None,
    ) -> None:
        super().__init__()
        if n_stages < 1:
            raise ValueError(f"n_stages must be >= 1, got {n_stages}")
        if not 0.0 <= dropout_p <= 1.0:
            raise ValueError(f"dropout_p must lie in [0, 1], got {dropout_p}")
        if dropout_stages is not None:
            dropout_stages = tuple(dropout_stages)
            bad = [
                k for k in dropout_stages
                if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n_stages
            ]
            if not dropout_stages or bad:
                raise ValueError(
                    f"dropout_stages must be a non-empty list of stage counts in [1, {n_stages}], "
                    f"got {list(dropout_stages)}"
                )
        self.dropout_stages = dropout_stages
        #: Codebooks fixed in training mode: no k-means initialisation, EMA updates or dead-code
        #: restarts (quantizer dropout still applies). Set for fine-tuning a trained model's
        #: encoder or decoder around its codes (``CodecModule(freeze=["quantizer"])``). Not
        #: saved with the weights.
        self.frozen = False
        self.dim = dim
        self.n_stages = n_stages
        self.codebook_size = codebook_size
        self.dropout_p = dropout_p
        self.stages = nn.ModuleList(
            EMACodebook(
                dim=dim,
                codebook_size=codebook_size,
                decay=decay,
                eps=eps,
                kmeans_iters=kmeans_iters,
                dead_code_threshold=dead_code_threshold,
            )
            for _ in range(n_stages)
        )

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, n_stages={self.n_stages}, codebook_size={self.codebook_size}, "
            f"dropout_p={self.dropout_p}"
            + (f", dropout_stages={list(self.dropout_stages)}" if self.dropout_stages else "")
        )

    # ----------------------------------------------------------------------------- helpers

    @property
    def initialized(self) -> Tensor:
        """``(K,)`` bool: which stages have been k-means initialised (a copy)."""
        return torch.stack([stage.initialized for stage in self.stages])

    @property
    def codebooks(self) -> Tensor:
        """``(K, S, D)`` complex64 copy of every stage's codewords."""
        return torch.stack([rows_to_complex(stage.embed) for stage in self.stages])

    def bits_per_frame(self, n_stages: int | None = None) -> float:
        """Bits per latent frame when ``n_stages`` stages (default all) are sent."""
        return self._stages_used(n_stages) * math.log2(self.codebook_size)

    def _stages_used(self, n_stages: int | None) -> int:
        if n_stages is None:
            return self.n_stages
        if isinstance(n_stages, bool) or not isinstance(n_stages, int):
            raise TypeError(f"n_stages must be an int or None, got {type(n_stages).__name__}")
        if not 1 <= n_stages <= self.n_stages:
            raise ValueError(f"n_stages must lie in [1, {self.n_stages}], got {n_stages}")
        return n_stages

    def _check_latent(self, z: Tensor) -> None:
        if not isinstance(z, Tensor):
            raise TypeError(f"expected a torch.Tensor latent, got {type(z).__name__}")
        if not z.is_complex():
            raise TypeError(
                f"ResidualVQ expects a complex64 latent (B, D, N), got real dtype {z.dtype}"
            )
        if z.dtype != torch.complex64:
            raise TypeError(f"ResidualVQ expects a complex64 latent, got {z.dtype}")
        if z.ndim != 3:
            raise ValueError(
                f"ResidualVQ expects a latent of shape (B, D, N), got {z.ndim} dims "
                f"{tuple(z.shape)}"
            )
        if z.shape[1] != self.dim:
            raise ValueError(
                f"latent has D={z.shape[1]} channels, this quantizer was built for dim={self.dim}"
            )
        if z.shape[0] == 0 or z.shape[2] == 0:
            raise ValueError(f"latent must have B >= 1 and N >= 1, got {tuple(z.shape)}")

    @torch.no_grad()
    def _initialize(self, rows: Tensor, k_used: int) -> None:
        """k-means-initialise every uninitialised stage among the first ``k_used``, in order,
        each on the residuals left by the stages before it."""
        if all(bool(stage.initialized) for stage in self.stages[:k_used]):
            return
        residual = rows
        for stage in self.stages[:k_used]:
            if not bool(stage.initialized):
                stage.init_kmeans(residual)
            residual = residual - stage.lookup(stage.nearest(residual))

    def _sample_active(self, batch: int, k_used: int, device: torch.device) -> Tensor:
        """``(B,)`` int64 stages per example: all of them, or with probability ``dropout_p`` a
        draw from ``dropout_stages`` (capped at ``k_used``), by default uniform from
        ``[1, k_used]`` (quantizer dropout)."""
        n_active = torch.full((batch,), k_used, dtype=torch.long, device=device)
        if self.dropout_p > 0.0 and k_used > 1:
            drop = torch.rand(batch, device=device) < self.dropout_p
            if self.dropout_stages is None:
                draw = torch.randint(1, k_used + 1, (batch,), device=device)
            else:
                choices = torch.tensor(self.dropout_stages, dtype=torch.long, device=device)
                pick = torch.randint(0, len(choices), (batch,), device=device)
                draw = choices[pick].clamp_max(k_used)
            n_active = torch.where(drop, draw, n_active)
        return n_active

    # ------------------------------------------------------------------------------ public

    def forward(self, z: Tensor, n_stages: int | None = None) -> QuantizerOutput:
        """Quantize ``z`` ``(B, D, N)`` complex64 with the first ``n_stages`` stages (default all).

        In training mode: initialises, updates codebooks (unless :attr:`frozen`) and applies
        quantizer dropout. In eval mode: a pure function of ``z`` and the buffers, equal to
        ``decode(encode(z, n_stages))``.
        """
        self._check_latent(z)
        k_used = self._stages_used(n_stages)
        batch, _, frames = z.shape
        rows = latent_to_rows(z.detach())  # (M, 2D), M = B*N
        m = rows.shape[0]
        training = self.training
        updating = training and not self.frozen
        if updating:
            self._initialize(rows, k_used)
        if training:
            n_active = self._sample_active(batch, k_used, z.device)
        else:
            n_active = torch.full((batch,), k_used, dtype=torch.long, device=z.device)
        dropout = training and bool((n_active < k_used).any())
        row_stages = n_active.repeat_interleave(frames)  # (M,)

        z_rows = latent_to_rows(z)  # carries the gradient to z
        residual = rows
        total = torch.zeros_like(rows)
        codes = torch.empty(k_used, m, dtype=torch.long, device=z.device)
        commit_terms = []
        commit_counts = []
        usage = torch.zeros(k_used, device=z.device)
        perplexity = torch.zeros(k_used, device=z.device)
        with torch.no_grad():
            for k, stage in enumerate(self.stages[:k_used]):
                idx = stage.nearest(residual)
                q = stage.lookup(idx)
                if dropout:
                    active = row_stages > k
                    q = torch.where(active.unsqueeze(1), q, torch.zeros_like(q))
                    used_idx = idx[active]
                    codes[k] = torch.where(active, idx, torch.full_like(idx, -1))
                    if updating:
                        pool = residual[active] if bool(active.any()) else residual
                        stage.update(residual[active], used_idx, pool)
                else:
                    active = None
                    used_idx = idx
                    codes[k] = idx
                    if updating:
                        stage.update(residual, idx, residual)
                residual = residual - q
                total = total + q
                n_used, usage[k], perplexity[k] = _histogram_stats(used_idx, self.codebook_size)
                commit_terms.append((total, active))
                commit_counts.append(n_used)

        # Commitment: mean over used stages of mean_{active frames} |z - sg(Q_k)|^2 / D.
        per_stage = []
        for (q_cum, active), count in zip(commit_terms, commit_counts):
            sq = (z_rows - q_cum).pow(2).sum(dim=1)  # (M,) sum over 2D reals = Σ_d |·|²
            if active is not None:
                sq = sq * active.to(sq.dtype)
            per_stage.append(sq.sum() / (count.clamp_min(1.0) * self.dim))
        stage_has_rows = torch.stack(commit_counts) > 0
        commit_loss = torch.stack(per_stage).sum() / stage_has_rows.sum().clamp_min(1)

        q_latent = rows_to_latent(total, batch, frames)
        # Value exactly q_latent (z - z.detach() is exactly zero), gradient identity w.r.t. z:
        # the straight-through estimator z + sg(q - z) without its rounding error.
        quantized = q_latent + (z - z.detach())
        return QuantizerOutput(
            quantized=quantized,
            codes=codes.reshape(k_used, batch, frames).transpose(0, 1).contiguous(),
            commit_loss=commit_loss,
            usage=usage,
            perplexity=perplexity,
            n_active=n_active,
        )

    @torch.no_grad()
    def encode(self, z: Tensor, n_stages: int | None = None, beam: int = 1) -> Tensor:
        """Codes ``(B, K', N)`` int64 of ``z`` ``(B, D, N)`` complex64 with the first ``n_stages``
        stages (default all). Never updates the codebooks and never drops stages.

        ``beam = 1`` is greedy residual quantization (what training uses); ``beam > 1`` keeps the
        ``beam`` best partial sums per stage (:func:`~cplxcodec.quantization.search.
        beam_search_codes`), which lowers the error of the ``K'``-stage sum at ``beam`` times
        the search cost. The codes decode with :meth:`decode` either way.
        """
        self._check_latent(z)
        k_used = self._stages_used(n_stages)
        batch, _, frames = z.shape
        books = [stage.embed for stage in self.stages[:k_used]]
        codes = beam_search_codes(latent_to_rows(z), books, beam)
        return codes.reshape(k_used, batch, frames).transpose(0, 1).contiguous()

    @torch.no_grad()
    def encode_counts(self, z: Tensor, counts: Tensor, beam: int = 1) -> Tensor:
        """Codes ``(B, K', N)`` of ``z`` ``(B, D, N)`` with ``counts[b, n]`` stages at frame
        ``n`` (variable stage allocation, :mod:`cplxcodec.quantization.allocation`);
        ``K' = counts.max()``, and the stages a frame does not send are :data:`ABSENT`.

        Frames with the same count are searched together with that many stages (greedy for
        ``beam = 1``, beam search otherwise), so each frame gets exactly the codes
        :meth:`encode` would give it at its own stage count.
        """
        self._check_latent(z)
        batch, _, frames = z.shape
        if not isinstance(counts, Tensor) or counts.shape != (batch, frames):
            raise ValueError(
                f"counts must be a ({batch}, {frames}) integer tensor, got "
                f"{getattr(counts, 'shape', counts)!r}"
            )
        if counts.dtype.is_floating_point or counts.is_complex() or counts.dtype == torch.bool:
            raise TypeError(f"counts must be an integer tensor, got {counts.dtype}")
        lo, hi = int(counts.min()), int(counts.max())
        if lo < 1 or hi > self.n_stages:
            raise ValueError(f"stage counts must lie in [1, {self.n_stages}], got [{lo}, {hi}]")
        rows = latent_to_rows(z)
        flat = counts.reshape(-1).long()
        out = torch.full((hi, batch * frames), ABSENT, dtype=torch.long)
        for k in torch.unique(flat).tolist():
            sel = torch.nonzero(flat == k).squeeze(1)
            books = [stage.embed for stage in self.stages[:k]]
            out[:k, sel] = beam_search_codes(rows.index_select(0, sel), books, beam)
        return out.reshape(hi, batch, frames).transpose(0, 1).contiguous()

    @torch.no_grad()
    def stage_errors(self, z: Tensor, beam: int = 1) -> Tensor:
        """Squared error ``(B, K + 1, N)`` of every frame of ``z`` after ``0..K`` stages of one
        ``K``-stage search (greedy, or beam ``beam``): what each extra stage would buy, the
        input of :func:`~cplxcodec.quantization.allocation.allocate_stages`."""
        self._check_latent(z)
        batch, _, frames = z.shape
        rows = latent_to_rows(z)
        codes = beam_search_codes(rows, [stage.embed for stage in self.stages], beam)
        residual = rows.clone()
        errors = [residual.pow(2).sum(1)]
        for k, stage in enumerate(self.stages):
            residual = residual - stage.lookup(codes[k])
            errors.append(residual.pow(2).sum(1))
        return torch.stack(errors).reshape(self.n_stages + 1, batch, frames).transpose(0, 1)

    @torch.no_grad()
    def decode(self, codes: Tensor) -> Tensor:
        """Latent ``(B, D, N)`` complex64 from codes ``(B, K', N)`` of the first ``K'`` stages,
        for any ``1 <= K' <= K``: the sum of the selected codewords.

        A frame may stop early: its codes after its last sent stage are :data:`ABSENT` (``-1``;
        variable stage allocation), and add nothing. Every frame sends at least stage 1.
        """
        if not isinstance(codes, Tensor):
            raise TypeError(f"expected a torch.Tensor of codes, got {type(codes).__name__}")
        if codes.dtype.is_floating_point or codes.is_complex() or codes.dtype == torch.bool:
            raise TypeError(f"codes must be an integer tensor (int64), got {codes.dtype}")
        if codes.ndim != 3:
            raise ValueError(
                f"codes must have shape (B, K', N), got {codes.ndim} dims {tuple(codes.shape)}"
            )
        batch, k_used, frames = codes.shape
        if not 1 <= k_used <= self.n_stages:
            raise ValueError(f"codes have K'={k_used} stages, expected 1 to {self.n_stages}")
        if batch == 0 or frames == 0:
            raise ValueError(f"codes must have B >= 1 and N >= 1, got {tuple(codes.shape)}")
        lo, hi = int(codes.min()), int(codes.max())
        present = codes != ABSENT
        if (
            lo < ABSENT
            or hi >= self.codebook_size
            or not bool(present[:, 0].all())
            or bool((present[:, 1:] & ~present[:, :-1]).any())
        ):
            raise ValueError(
                f"codes must lie in [0, {self.codebook_size}), or be {ABSENT} (absent) after a "
                f"frame's last sent stage, every frame sending stage 1; got values in [{lo}, {hi}]"
            )
        flat = codes.long().transpose(0, 1).reshape(k_used, batch * frames)
        total = torch.zeros(
            batch * frames, 2 * self.dim, device=codes.device, dtype=self.stages[0].embed.dtype
        )
        partial = lo == ABSENT
        for k, stage in enumerate(self.stages[:k_used]):
            if partial:
                keep = flat[k] != ABSENT
                rows = stage.lookup(flat[k].clamp(min=0))
                total = total + rows * keep[:, None].to(rows.dtype)
            else:
                total = total + stage.lookup(flat[k])
        return rows_to_latent(total, batch, frames)
