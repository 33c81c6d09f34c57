"""Helpers shared by the optimizers in :mod:`cplxcodec.optim` (internal).

Nothing here is public API: argument validation that gives the same messages as
``torch.optim``, the per-(device, dtype) bucketing used by the multi-tensor (``foreach``) path,
and the choice of the default path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "bucket_by_device_and_dtype",
    "check_unsupported_options",
    "default_foreach",
    "real_dtype_of",
    "to_float",
]


def to_float(value: float | Tensor, name: str) -> float:
    """Return ``value`` as a Python float, accepting one-element tensors as torch does.

    Raises:
        ValueError: if ``value`` is a tensor with more than one element.
    """
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"Tensor {name} must be 1-element, got shape {tuple(value.shape)}")
        if value.requires_grad:
            raise NotImplementedError(
                f"{name} as a tensor that requires grad (differentiable hyper-parameters) is not "
                "supported by cplxcodec.optim"
            )
        return float(value.item())
    return float(value)


def check_unsupported_options(
    owner: str, *, capturable: bool = False, differentiable: bool = False, fused: bool | None
) -> None:
    """Raise :class:`NotImplementedError` for ``torch.optim`` options this package lacks.

    ``capturable`` (CUDA-graph capture), ``differentiable`` (autograd through the step) and
    ``fused`` kernels are accepted in the signature so that configs written for ``torch.optim``
    parse, but only their off values are implemented.
    """
    for name, value in (
        ("capturable", capturable),
        ("differentiable", differentiable),
        ("fused", fused),
    ):
        if value:
            raise NotImplementedError(
                f"{owner}: {name}=True is not supported; use {name}=False"
                + (" (or None)" if name == "fused" else "")
                + " — the per-tensor and multi-tensor (foreach) paths are implemented"
            )


def real_dtype_of(dtype: torch.dtype) -> torch.dtype:
    """The real dtype underlying ``dtype`` (``complex64 -> float32``; real dtypes unchanged)."""
    if dtype.is_complex:
        return torch.empty((), dtype=dtype).real.dtype
    return dtype


def default_foreach(params: Iterable[Tensor]) -> bool:
    """Default for ``foreach=None``: the multi-tensor path when every tensor is on CUDA/XPU.

    This is the rule ``torch.optim`` applies (its per-tensor loop is the default on CPU).
    """
    tensors = list(params)
    return bool(tensors) and all(
        type(t) in (Tensor, torch.nn.Parameter) and t.device.type in ("cuda", "xpu")
        for t in tensors
    )


def bucket_by_device_and_dtype(
    lists: Sequence[Sequence[Any]],
) -> dict[tuple[torch.device, torch.dtype], list[list[Any]]]:
    """Split parallel lists into buckets keyed by the (device, dtype) of the first list.

    ``lists[0]`` holds the parameters; every other list is indexed the same way (entries may be
    ``None``, e.g. absent momentum buffers). Order inside a bucket follows the input order, so a
    bucket's results can be written back by position.

    Returns:
        ``{(device, dtype): [list_0_part, list_1_part, ..., indices]}`` — the last entry of each
        bucket is the list of original positions.
    """
    buckets: dict[tuple[torch.device, torch.dtype], list[list[Any]]] = {}
    for i, p in enumerate(lists[0]):
        key = (p.device, p.dtype)
        if key not in buckets:
            buckets[key] = [[] for _ in range(len(lists) + 1)]
        bucket = buckets[key]
        for j, values in enumerate(lists):
            bucket[j].append(values[i])
        bucket[-1].append(i)
    return buckets
