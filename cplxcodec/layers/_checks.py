"""Input validation shared by the complex layers (private)."""

from __future__ import annotations

from torch import Tensor

__all__ = ["check_complex"]


def check_complex(x: Tensor, layer: str, dims: int | tuple[int, ...], shape_hint: str) -> None:
    """Raise a clear error unless ``x`` is a complex tensor with one of the allowed ranks."""
    allowed = (dims,) if isinstance(dims, int) else dims
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer} expects a torch.Tensor, got {type(x).__name__}")
    if not x.is_complex():
        raise TypeError(
            f"{layer} expects a complex tensor (torch.complex64), got dtype {x.dtype}; "
            "convert real input with torch.complex(x, torch.zeros_like(x)) or x.to(torch.cfloat)"
        )
    if x.dim() not in allowed:
        raise ValueError(f"{layer} expects input of shape {shape_hint}, got {tuple(x.shape)}")
