r"""Complex normalisation layers by 2×2 whitening (Trabelsi et al., ICLR 2018, §3.5).

Every whitening layer computes :math:`\tilde z = V^{-1/2}(z - \mu)` with the closed-form inverse
square root derived in :mod:`cplxcodec.functional.whitening`, then applies a real 2×2 affine map
:math:`\Gamma = \begin{pmatrix}\gamma_{rr} & \gamma_{ri}\\ \gamma_{ri} & \gamma_{ii}\end{pmatrix}`
and a complex shift :math:`\beta`: :math:`y = \Gamma \tilde z + \beta`. :math:`\gamma_{rr}` and
:math:`\gamma_{ii}` start at :math:`1/\sqrt2` so the output starts with unit variance
:math:`E|y|^2 = 1` (the whitened variable has :math:`E|\tilde z|^2 = 2`).

The layers differ only in the axes the statistics are taken over:

- :class:`ComplexBatchNorm1d` / :class:`ComplexBatchNorm2d`: per channel over batch and space,
  with running statistics (momentum as in :class:`torch.nn.BatchNorm2d`, unbiased covariance in
  the running estimate) used in eval mode;
- :class:`ComplexLayerNorm`: per sample over the trailing ``normalized_shape`` axes;
- :class:`ComplexGroupNorm`: per sample and channel group over the group's channels and space;
- :class:`ComplexRMSNorm`: no whitening; divides by :math:`\sqrt{E|z|^2+\epsilon}` (a real, positive
  factor, so the phase of every element is preserved) and applies a real gain.

Parameters ``weight`` (the 2×2 affine, real ``(3, ...)`` rows ``γrr, γri, γii``) are float32;
``bias`` is complex. Inputs that make the covariance singular (purely real, constant, zeros)
give finite outputs thanks to the :math:`\epsilon` on the diagonal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cplxcodec.functional.whitening import apply_2x2, covariance_2x2, inv_sqrt_2x2
from cplxcodec.layers._checks import check_complex

__all__ = [
    "ComplexBatchNorm1d",
    "ComplexBatchNorm2d",
    "ComplexLayerNorm",
    "ComplexGroupNorm",
    "ComplexRMSNorm",
]

_INV_SQRT2 = 1.0 / math.sqrt(2.0)


class _Affine2x2(nn.Module):
    """Holds the real 2×2 affine ``weight`` (3, *shape) and complex ``bias`` (*shape)."""

    def _init_affine(self, shape: tuple[int, ...], affine: bool, device, dtype) -> None:
        real = torch.empty(0, dtype=dtype).real.dtype
        if affine:
            self.weight = nn.Parameter(torch.empty(3, *shape, dtype=real, device=device))
            self.bias = nn.Parameter(torch.empty(shape, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """γ = diag(1/√2, 1/√2), β = 0."""
        if self.weight is not None:
            with torch.no_grad():
                self.weight[0].fill_(_INV_SQRT2)
                self.weight[1].zero_()
                self.weight[2].fill_(_INV_SQRT2)
                self.bias.zero_()

    def _affine(self, z: Tensor, view: tuple[int, ...]) -> Tensor:
        if self.weight is None:
            return z
        g = self.weight.view(3, *view)
        return apply_2x2(z, g[0], g[1], g[2]) + self.bias.view(view)


class _ComplexBatchNorm(_Affine2x2):
    _ranks: tuple[int, ...] = ()
    _hint = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.complex64,
    ) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self._init_affine((num_features,), affine, device, dtype)
        if track_running_stats:
            real = torch.empty(0, dtype=dtype).real.dtype
            self.register_buffer(
                "running_mean", torch.zeros(num_features, dtype=dtype, device=device)
            )
            self.register_buffer(
                "running_covar", torch.zeros(3, num_features, dtype=real, device=device)
            )
            self.register_buffer(
                "num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device)
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_covar", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_running_stats()
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0 and running covariance identity."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_covar.zero_()
            self.running_covar[0].fill_(1.0)
            self.running_covar[2].fill_(1.0)
            self.num_batches_tracked.zero_()

    def forward(self, x: Tensor) -> Tensor:
        """Whiten ``x`` per channel (batch statistics in training, running ones in eval)."""
        check_complex(x, type(self).__name__, self._ranks, self._hint)
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__} expects {self.num_features} channels, got shape {tuple(x.shape)}"
            )
        dims = [0, *range(2, x.dim())]
        view = (1, -1, *([1] * (x.dim() - 2)))
        use_batch = self.training or not self.track_running_stats
        if use_batch:
            n = x.numel() // x.shape[1]
            if n < 2 and self.training:
                raise ValueError(
                    f"{type(self).__name__} needs more than one value per channel in training, "
                    f"got input shape {tuple(x.shape)}"
                )
            mean, vrr, vri, vii = covariance_2x2(x, dims)
            if self.training and self.track_running_stats:
                self._update_running(mean, vrr, vri, vii, n)
        else:
            mean = self.running_mean.view(view)
            vrr, vri, vii = (self.running_covar[i].view(view) for i in range(3))
        wrr, wri, wii = inv_sqrt_2x2(vrr, vri, vii, self.eps)
        return self._affine(apply_2x2(x - mean, wrr, wri, wii), view)

    @torch.no_grad()
    def _update_running(self, mean: Tensor, vrr: Tensor, vri: Tensor, vii: Tensor, n: int) -> None:
        self.num_batches_tracked += 1
        if self.momentum is None:
            m = 1.0 / float(self.num_batches_tracked)
        else:
            m = self.momentum
        unbias = n / max(n - 1, 1)
        self.running_mean.mul_(1 - m).add_(mean.reshape(-1), alpha=m)
        cov = torch.stack([vrr.reshape(-1), vri.reshape(-1), vii.reshape(-1)]) * unbias
        self.running_covar.mul_(1 - m).add_(cov, alpha=m)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class ComplexBatchNorm1d(_ComplexBatchNorm):
    """2×2-whitening batch norm for ``(B, C)`` or ``(B, C, L)`` complex input."""

    _ranks = (2, 3)
    _hint = "(B, C) or (B, C, L)"


class ComplexBatchNorm2d(_ComplexBatchNorm):
    """2×2-whitening batch norm for ``(B, C, H, W)`` complex input."""

    _ranks = (4,)
    _hint = "(B, C, H, W)"


class ComplexLayerNorm(_Affine2x2):
    """Per-sample 2×2 whitening over the trailing ``normalized_shape`` axes (like nn.LayerNorm)."""

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.complex64,
    ) -> None:
        super().__init__()
        shape = (
            (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        )
        self.normalized_shape, self.eps = shape, eps
        self.elementwise_affine = elementwise_affine
        self._init_affine(shape, elementwise_affine, device, dtype)
        self.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        """Whiten each sample over its trailing ``normalized_shape`` axes."""
        k = len(self.normalized_shape)
        check_complex(x, "ComplexLayerNorm", tuple(range(k, 9)), f"(*, {self.normalized_shape})")
        if tuple(x.shape[-k:]) != self.normalized_shape:
            raise ValueError(
                f"ComplexLayerNorm expects trailing shape {self.normalized_shape}, got {tuple(x.shape)}"
            )
        dims = tuple(range(x.dim() - k, x.dim()))
        mean, vrr, vri, vii = covariance_2x2(x, dims)
        wrr, wri, wii = inv_sqrt_2x2(vrr, vri, vii, self.eps)
        return self._affine(apply_2x2(x - mean, wrr, wri, wii), self.normalized_shape)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class ComplexGroupNorm(_Affine2x2):
    """Per-sample 2×2 whitening over channel groups and all spatial axes (like nn.GroupNorm).

    ``num_groups=1`` whitens each sample as a whole; ``num_groups=num_channels`` per channel.
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.complex64,
    ) -> None:
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(
                f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.num_groups, self.num_channels, self.eps, self.affine = (
            num_groups,
            num_channels,
            eps,
            affine,
        )
        self._init_affine((num_channels,), affine, device, dtype)
        self.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        """Whiten ``(B, C, *)`` complex input per sample and channel group."""
        check_complex(x, "ComplexGroupNorm", tuple(range(2, 9)), "(B, C, *)")
        if x.shape[1] != self.num_channels:
            raise ValueError(
                f"ComplexGroupNorm expects {self.num_channels} channels, got shape {tuple(x.shape)}"
            )
        b, c = x.shape[:2]
        xg = x.reshape(b, self.num_groups, -1)
        mean, vrr, vri, vii = covariance_2x2(xg, (2,))
        wrr, wri, wii = inv_sqrt_2x2(vrr, vri, vii, self.eps)
        z = apply_2x2(xg - mean, wrr, wri, wii).reshape(x.shape)
        return self._affine(z, (1, c, *([1] * (x.dim() - 2))))

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class ComplexRMSNorm(nn.Module):
    r"""Phase-preserving RMS norm: :math:`y = g \odot z / \sqrt{\operatorname{mean}|z|^2 + \epsilon}`.

    The mean is over the trailing ``normalized_shape`` axes; the gain ``g`` is real (float32),
    initialised to 1, so every element keeps its phase.
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-6,
        elementwise_affine: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        shape = (
            (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        )
        self.normalized_shape, self.eps = shape, eps
        self.weight = (
            nn.Parameter(torch.ones(shape, dtype=dtype, device=device))
            if elementwise_affine
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        """Scale each sample to unit RMS over the trailing axes, keeping phases."""
        k = len(self.normalized_shape)
        check_complex(x, "ComplexRMSNorm", tuple(range(k, 9)), f"(*, {self.normalized_shape})")
        if tuple(x.shape[-k:]) != self.normalized_shape:
            raise ValueError(
                f"ComplexRMSNorm expects trailing shape {self.normalized_shape}, got {tuple(x.shape)}"
            )
        dims = tuple(range(x.dim() - k, x.dim()))
        power = (x.real.square() + x.imag.square()).mean(dim=dims, keepdim=True)
        y = x * torch.rsqrt(power + self.eps)
        return y * self.weight if self.weight is not None else y

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"
