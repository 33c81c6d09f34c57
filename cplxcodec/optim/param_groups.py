"""Explicit optimizer parameter groups: decay/no-decay × complex/real, checked disjoint/complete.

In the spirit of CompressAI's ``optimizers/net_aux.py``: the split is computed by name, then
checked to cover every trainable parameter exactly once, so that a parameter can neither be
optimized twice nor silently left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["complex_param_groups", "default_no_decay"]

_GROUP_ORDER = ("decay_complex", "decay_real", "no_decay_complex", "no_decay_real")


def default_no_decay(name: str, param: nn.Parameter) -> bool:
    """Default rule for parameters exempt from weight decay.

    Biases, normalization gains/shifts and other vectors or scalars (``param.ndim <= 1``) and
    anything whose name ends in ``bias`` are not decayed; matrices and kernels are.
    """
    return param.ndim <= 1 or name.endswith("bias")


def complex_param_groups(
    model: nn.Module,
    weight_decay: float = 0.0,
    *,
    no_decay: Callable[[str, nn.Parameter], bool] | None = None,
    extra_no_decay_names: Sequence[str] = (),
    **group_options: Any,
) -> list[dict[str, Any]]:
    """Split ``model``'s trainable parameters into decay/no-decay and complex/real groups.

    Args:
        model: the module whose ``named_parameters()`` are grouped (shared parameters appear
            once; parameters with ``requires_grad=False`` are left out).
        weight_decay: decay coefficient of the ``decay_*`` groups; ``no_decay_*`` groups get 0.
        no_decay: ``(name, param) -> bool`` choosing the no-decay parameters; defaults to
            :func:`default_no_decay`.
        extra_no_decay_names: exact parameter names also exempt from decay.
        **group_options: further per-group options (e.g. ``lr=...``) copied into every group.

    Returns:
        Non-empty groups in the order ``decay_complex, decay_real, no_decay_complex,
        no_decay_real``; each is ``{"name": ..., "params": [...], "weight_decay": ...,
        **group_options}`` and can be passed to :class:`CAdamW` (or any ``torch.optim``
        optimizer; the extra ``name`` key is kept in ``param_groups``).

    Raises:
        ValueError: if the groups are not disjoint or do not cover every trainable parameter,
            or if ``extra_no_decay_names`` names a parameter the model does not have.
    """
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    if "params" in group_options or "weight_decay" in group_options:
        raise ValueError("group_options may not set 'params' or 'weight_decay'")
    rule = default_no_decay if no_decay is None else no_decay
    named = {n: p for n, p in model.named_parameters() if p.requires_grad}
    unknown = set(extra_no_decay_names) - set(named)
    if unknown:
        raise ValueError(f"extra_no_decay_names not found among trainable parameters: {unknown}")
    extra = set(extra_no_decay_names)

    names: dict[str, list[str]] = {key: [] for key in _GROUP_ORDER}
    for n, p in named.items():
        exempt = n in extra or bool(rule(n, p))
        kind = "complex" if torch.is_complex(p) else "real"
        names[f"{'no_decay' if exempt else 'decay'}_{kind}"].append(n)

    # Disjoint and complete, checked by name.
    sets = {key: set(v) for key, v in names.items()}
    for i, a in enumerate(_GROUP_ORDER):
        for b in _GROUP_ORDER[i + 1 :]:
            overlap = sets[a] & sets[b]
            if overlap:
                raise ValueError(f"parameters in both {a} and {b}: {sorted(overlap)}")
    covered = set().union(*sets.values())
    if covered != set(named):
        raise ValueError(
            f"parameter groups are incomplete; missing: {sorted(set(named) - covered)}, "
            f"unexpected: {sorted(covered - set(named))}"
        )

    grouped_ids = [id(named[n]) for key in _GROUP_ORDER for n in names[key]]
    trainable_ids = {id(p) for p in model.parameters() if p.requires_grad}
    if len(grouped_ids) != len(set(grouped_ids)) or set(grouped_ids) != trainable_ids:
        raise ValueError("parameter groups do not hold each trainable tensor exactly once")

    groups = []
    for key in _GROUP_ORDER:
        if not names[key]:
            continue
        groups.append(
            {
                "name": key,
                "params": [named[n] for n in names[key]],
                "weight_decay": weight_decay if key.startswith("decay") else 0.0,
                **group_options,
            }
        )
    return groups
