"""Tiny models and helpers for the Exercise 3 product tests (CPU, float32, milliseconds each)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


class Recorder(nn.Module):
    """Identity that records the dtype of what flows through it and whether autocast is on."""

    def __init__(self) -> None:
        super().__init__()
        self.dtypes: list[torch.dtype] = []
        self.autocast: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.dtypes.append(x.dtype)
        self.autocast.append(torch.is_autocast_enabled(x.device.type))
        return x


class _BackwardProbe(torch.autograd.Function):
    """Identity whose backward records whether autocast was enabled while backward ran."""

    @staticmethod
    def forward(ctx, x, log):  # noqa: D102
        ctx.log = log
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        ctx.log.append(torch.is_autocast_enabled(grad.device.type))
        return grad, None


class TinyNet(nn.Module):
    """Linear -> LayerNorm -> GELU -> Linear: no batch-norm, so accumulation is exactly equivalent."""

    def __init__(self, d_in: int = 8, hidden: int = 16, classes: int = 3) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.fc2 = nn.Linear(hidden, classes)
        self.probe = Recorder()
        self.backward_autocast: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.probe(self.fc1(x))  # (B, hidden): the dtype autocast gives a matmul
        h = _BackwardProbe.apply(h, self.backward_autocast)
        return self.fc2(torch.nn.functional.gelu(self.norm(h)))  # (B, classes)


def make_net(seed: int = 0, **kwargs) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet(**kwargs)


def make_data(
    n: int = 48, d_in: int = 8, classes: int = 3, seed: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d_in, generator=g), torch.randint(0, classes, (n,), generator=g)


def batches(x: torch.Tensor, y: torch.Tensor, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]


def max_param_diff(a: nn.Module, b: nn.Module) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters(), strict=True))
