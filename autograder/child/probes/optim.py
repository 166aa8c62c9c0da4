"""Probes for ``lab3.optim`` (run in the sandbox; see ``autograder/child/probes/__init__.py``)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


class GroupsNet(nn.Module):
    """Every kind of parameter ``build_optimizer`` must place: weights of Linear/Conv/Embedding (decay),
    biases, batch-norm and layer-norm parameters, a 0-d scalar (no decay), a frozen layer (neither)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 4)
        self.ln = nn.LayerNorm(4)
        self.head = nn.Linear(4, 2, bias=False)
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)
        self.scale = nn.Parameter(torch.ones(()))


def _value(v: Any) -> Any:
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, (tuple, list)) and all(isinstance(x, (int, float)) for x in v):
        return [float(x) for x in v]
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return float(v)
    return {"type": type(v).__name__[:40]}


def build(name: str, lr: float, tie: bool = False, **kwargs: Any) -> dict[str, Any]:
    """Call the student's ``build_optimizer(GroupsNet(), name, lr, **kwargs)`` and describe the result:
    the optimizer class and, per param group, the parameter names and the hyper-parameters. ``tie``: a
    second linear layer ``tied`` shares ``fc.weight`` (weight tying: one parameter, two modules)."""
    from lab3.optim import build_optimizer

    torch.manual_seed(0)
    model = GroupsNet()
    if tie:
        model.tied = nn.Linear(4, 4, bias=False)
        model.tied.weight = model.fc.weight
    names = {id(p): n for n, p in model.named_parameters()}
    opt = build_optimizer(model, name, lr, **kwargs)
    cls = type(opt)
    groups = []
    for group in getattr(opt, "param_groups", []):
        params = group.get("params", [])
        groups.append(
            {
                "params": [names.get(id(p), "<not a model parameter>") for p in params],
                **{
                    k: _value(group.get(k))
                    for k in ("lr", "weight_decay", "momentum", "betas", "nesterov", "dampening")
                    if k in group
                },
            }
        )
    return {
        "class": cls.__name__,
        "module": cls.__module__,
        "torch_class": next(
            (
                c.__name__
                for c in cls.__mro__
                if c.__module__.startswith("torch.optim.") and c.__name__ in ("SGD", "Adam", "AdamW")
            ),
            None,
        ),
        "groups": groups,
    }


def warmup_cosine(
    steps: list[int], warmup_steps: int, total_steps: int, min_lr_ratio: float | None = None
) -> dict[str, Any]:
    """The student's multiplier at each of ``steps`` (``min_lr_ratio`` passed only when given)."""
    from lab3.optim import warmup_cosine as student_warmup_cosine

    kwargs: dict[str, Any] = {"warmup_steps": warmup_steps, "total_steps": total_steps}
    if min_lr_ratio is not None:
        kwargs["min_lr_ratio"] = min_lr_ratio
    values = []
    for s in steps:
        v = student_warmup_cosine(s, **kwargs)
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            values.append({"tensor": float(v)})
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            values.append({"type": type(v).__name__[:40]})
        else:
            values.append(float(v) if math.isfinite(v) else str(v))
    return {"values": values}
