r"""Complex fully connected layer :math:`y = x W^\top + b` on native complex tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cplxcodec.layers._checks import check_complex
from cplxcodec.layers.init import Criterion, complex_init_

__all__ = ["ComplexLinear"]


class ComplexLinear(nn.Module):
    """Complex linear map over the last axis: ``(*, in_features)`` → ``(*, out_features)``.

    Same arguments as :class:`torch.nn.Linear`; the weight ``(out_features, in_features)`` gets the
    Trabelsi initialisation (``init="glorot"`` or ``"he"``). Uses torch's complex matmul (a single
    complex GEMM), which needs no splitting into real parts.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: Criterion = "glorot",
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.complex64,
    ) -> None:
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError("in_features and out_features must be positive")
        self.in_features, self.out_features, self.init = in_features, out_features, init
        self.weight = nn.Parameter(
            torch.empty(out_features, in_features, dtype=dtype, device=device)
        )
        self.bias = (
            nn.Parameter(torch.zeros(out_features, dtype=dtype, device=device)) if bias else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Trabelsi initialisation of the weight; zero bias."""
        complex_init_(self.weight, self.init)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the layer to complex ``(*, in_features)`` input."""
        check_complex(x, "ComplexLinear", tuple(range(1, 9)), "(*, in_features)")
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"ComplexLinear expects last dim {self.in_features}, got shape {tuple(x.shape)}"
            )
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        bias = self.bias is not None
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={bias}"
