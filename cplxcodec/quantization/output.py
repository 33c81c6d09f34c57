"""Result dataclass of :class:`~cplxcodec.quantization.ResidualVQ`."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

__all__ = ["QuantizerOutput"]


@dataclass
class QuantizerOutput:
    r"""What :meth:`ResidualVQ.forward <cplxcodec.quantization.ResidualVQ.forward>` returns.

    ``K'`` is the number of stages used in the call (``n_stages`` argument, or all ``K``).

    Attributes:
        quantized: ``(B, D, N)`` complex64 quantized latent with a straight-through gradient:
            its value is the sum of the selected codewords, its gradient with respect to the
            input ``z`` is the identity.
        codes: ``(B, K', N)`` int64 codeword indices in ``[0, codebook_size)``. In training with
            quantizer dropout, stages an example did not use hold ``-1``.
        commit_loss: ``()`` float32 raw commitment loss, differentiable w.r.t. ``z`` only:
            the mean over used stages ``k`` of the mean squared complex distance
            :math:`|z - \operatorname{sg}(Q_k)|^2` per complex element, where :math:`Q_k` is
            the cumulative quantization after stage ``k``. Unweighted (weights live in
            :mod:`cplxcodec.losses`).
        usage: ``(K',)`` float32 fraction of each stage's codewords chosen at least once in this
            batch (``0`` for a stage no example used).
        perplexity: ``(K',)`` float32 :math:`\exp(H)` of each stage's code histogram in this
            batch, between 1 and ``codebook_size`` (``0`` for a stage no example used).
        n_active: ``(B,)`` int64 number of stages each example used (``K'`` everywhere except
            in training with quantizer dropout).
    """

    quantized: Tensor
    codes: Tensor
    commit_loss: Tensor
    usage: Tensor
    perplexity: Tensor
    n_active: Tensor
