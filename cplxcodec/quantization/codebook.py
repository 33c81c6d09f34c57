r"""One codebook of complex codewords, learned by exponential moving averages (EMA).

Codewords :math:`c_s \in \mathbb{C}^D` are stored as real rows :math:`\rho(c_s) \in
\mathbb{R}^{2D}` (``torch.view_as_real`` layout, see :mod:`cplxcodec.quantization.layout`), in
which complex squared distances are plain Euclidean ones.

EMA update (van den Oord et al., "Neural Discrete Representation Learning", 2017, appendix A.1;
Razavi et al., "Generating Diverse High-Fidelity Images with VQ-VAE-2", 2019). With decay
:math:`\gamma`, the batch count :math:`n_s` and row sum :math:`m_s` of the rows assigned to
codeword :math:`s`:

.. math::

    N_s \leftarrow \gamma N_s + (1-\gamma)\, n_s, \qquad
    M_s \leftarrow \gamma M_s + (1-\gamma)\, m_s, \qquad
    c_s = M_s / \tilde N_s, \qquad
    \tilde N_s = \frac{N_s + \epsilon}{\sum_j N_j + S\epsilon} \sum_j N_j

(:math:`\tilde N_s` is the Laplace-smoothed cluster size, which keeps :math:`c_s` finite for
clusters that received no rows). Under ``torch.distributed`` the batch statistics
:math:`n_s, m_s` are summed over ranks before the update, so every rank applies the update of
the global batch.

Dead-code restart: after each update, every codeword whose cluster size :math:`N_s` is below
``dead_code_threshold`` times the mean cluster size :math:`\frac1S\sum_j N_j` is replaced by a
random row of the current batch (drawn without replacement when the batch allows), with
:math:`N_s` set to that threshold and :math:`M_s = N_s c_s`. The threshold is relative so that it
does not depend on batch size or codebook size. A restarted codeword that attracts fewer rows
than the threshold is restarted again on the next step. Replacement rows are broadcast from rank
0 under ``torch.distributed``.

All state (``embed``, ``embed_sum``, ``cluster_size``, ``initialized``) lives in registered
buffers, so ``state_dict`` checkpoints and restores it exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cplxcodec.quantization._distributed import all_reduce_sum_, broadcast_
from cplxcodec.quantization.kmeans import kmeans
from cplxcodec.quantization.search import nearest_code

__all__ = ["EMACodebook"]


class EMACodebook(nn.Module):
    r"""A single EMA-learned codebook of ``codebook_size`` complex ``dim``-vectors.

    Args:
        dim: number of complex channels ``D`` of a codeword (rows have ``2 * dim`` reals).
        codebook_size: number of codewords ``S``.
        decay: EMA decay :math:`\gamma \in (0, 1)`.
        eps: Laplace smoothing constant :math:`\epsilon > 0` of the cluster sizes.
        kmeans_iters: Lloyd iterations of the k-means initialisation.
        dead_code_threshold: restart codewords whose EMA cluster size is below this fraction of
            the mean cluster size; ``0`` disables restarts.

    Buffers:
        embed: ``(S, 2D)`` float32 codewords in ``view_as_real`` layout.
        embed_sum: ``(S, 2D)`` float32 EMA of per-codeword row sums :math:`M_s`.
        cluster_size: ``(S,)`` float32 EMA of per-codeword counts :math:`N_s`.
        initialized: ``()`` bool, whether k-means initialisation has run.
    """

    embed: Tensor
    embed_sum: Tensor
    cluster_size: Tensor
    initialized: Tensor

    def __init__(
        self,
        *,
        dim: int,
        codebook_size: int,
        decay: float = 0.99,
        eps: float = 1e-5,
        kmeans_iters: int = 10,
        dead_code_threshold: float = 0.1,
    ) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if codebook_size < 2:
            raise ValueError(f"codebook_size must be >= 2, got {codebook_size}")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must lie in (0, 1), got {decay}")
        if eps <= 0.0:
            raise ValueError(f"eps must be > 0, got {eps}")
        if kmeans_iters < 0:
            raise ValueError(f"kmeans_iters must be >= 0, got {kmeans_iters}")
        if not 0.0 <= dead_code_threshold < 1.0:
            raise ValueError(f"dead_code_threshold must lie in [0, 1), got {dead_code_threshold}")
        self.dim = dim
        self.codebook_size = codebook_size
        self.decay = decay
        self.eps = eps
        self.kmeans_iters = kmeans_iters
        self.dead_code_threshold = dead_code_threshold
        embed = torch.randn(codebook_size, 2 * dim)
        self.register_buffer("embed", embed)
        self.register_buffer("embed_sum", embed.clone())
        self.register_buffer("cluster_size", torch.ones(codebook_size))
        self.register_buffer("initialized", torch.tensor(False))

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, codebook_size={self.codebook_size}, decay={self.decay}, "
            f"dead_code_threshold={self.dead_code_threshold}"
        )

    def nearest(self, rows: Tensor) -> Tensor:
        """Nearest codeword indices ``(M,)`` int64 of rows ``(M, 2D)`` float32."""
        return nearest_code(rows, self.embed)

    def lookup(self, codes: Tensor) -> Tensor:
        """Codeword rows ``(M, 2D)`` float32 of codes ``(M,)`` int64 (in ``[0, S)``)."""
        return self.embed.index_select(0, codes)

    @torch.no_grad()
    def init_kmeans(self, rows: Tensor) -> None:
        """Initialise the codewords by k-means on ``rows`` ``(M, 2D)`` and mark initialised.

        The EMA statistics start from the k-means clusters (``cluster_size`` = counts,
        ``embed_sum`` = counts × centroids). Under ``torch.distributed`` rank 0's result is
        broadcast so that every rank starts from the same codebook.
        """
        result = kmeans(rows, self.codebook_size, self.kmeans_iters)
        self.embed.copy_(result.centroids)
        self.cluster_size.copy_(result.counts)
        broadcast_(self.embed)
        broadcast_(self.cluster_size)
        self.embed_sum.copy_(self.embed * self.cluster_size.unsqueeze(1))
        self.initialized.fill_(True)

    @torch.no_grad()
    def update(self, rows: Tensor, codes: Tensor, pool: Tensor) -> Tensor:
        """One EMA step from ``rows`` ``(M, 2D)`` assigned to ``codes`` ``(M,)``, then restarts.

        Args:
            rows: the rows this codebook quantized in this batch (may be empty).
            codes: their codeword indices.
            pool: non-empty rows ``(M', 2D)`` from which dead codewords are re-drawn.

        Returns:
            ``()`` int64 tensor, the number of codewords restarted.

        Every rank must call this the same number of times (it issues collectives under
        ``torch.distributed``).
        """
        counts = torch.bincount(codes, minlength=self.codebook_size).to(self.embed.dtype)
        sums = torch.zeros_like(self.embed).index_add_(0, codes, rows.to(self.embed.dtype))
        all_reduce_sum_(counts)
        all_reduce_sum_(sums)
        gamma = self.decay
        self.cluster_size.mul_(gamma).add_(counts, alpha=1.0 - gamma)
        self.embed_sum.mul_(gamma).add_(sums, alpha=1.0 - gamma)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (total + self.codebook_size * self.eps) * total
        self.embed.copy_(self.embed_sum / smoothed.unsqueeze(1))
        return self._restart_dead(pool)

    def _restart_dead(self, pool: Tensor) -> Tensor:
        if self.dead_code_threshold == 0.0:
            return torch.zeros((), dtype=torch.long, device=self.embed.device)
        floor = self.dead_code_threshold * self.cluster_size.mean()
        dead = self.cluster_size < floor
        n_dead = dead.sum()
        # The dead set is identical on every rank (cluster sizes are all-reduced), so the
        # host sync below yields the same number everywhere and the broadcast shapes agree.
        k = int(n_dead)
        if k == 0:
            return n_dead
        m = pool.shape[0]
        if m >= k:
            pick = torch.randperm(m, device=pool.device)[:k]
        else:
            pick = torch.randint(m, (k,), device=pool.device)
        fresh = pool[pick].to(self.embed.dtype)
        broadcast_(fresh)
        self.embed[dead] = fresh
        self.cluster_size[dead] = floor
        self.embed_sum[dead] = fresh * floor
        return n_dead
