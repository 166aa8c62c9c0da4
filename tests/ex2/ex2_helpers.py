"""Helpers for the Exercise 2 product tests: small models, images, and common wrong answers."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def images(n: int = 8, size: int = 64, seed: int = 1) -> torch.Tensor:
    """Real CIFAR-10 test images (upscaled, CIFAR-normalised) when the data is present, else noise.

    The noise is far from ImageNet statistics (mean 2, std 3), so moving batch-norm statistics show.
    """
    try:
        from lab3.data import CIFAR10_MEAN, CIFAR10_STD, cifar10

        ds = cifar10(train=False, download=False)
        x = torch.from_numpy(np.asarray(ds.data[:n])).permute(0, 3, 1, 2).float() / 255  # (n, 3, 32, 32)
        x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
        return (x - mean) / std
    except Exception:  # noqa: BLE001 - no data: noise
        g = torch.Generator().manual_seed(seed)
        return 2.0 + 3.0 * torch.randn(n, 3, size, size, generator=g)


def naive_freeze(model: nn.Module, head: nn.Module) -> list[nn.Parameter]:
    """The classic mistake: requires_grad=False only (batch-norm statistics keep moving)."""
    for p in model.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
    return list(head.parameters())


def eval_once_freeze(model: nn.Module, head: nn.Module) -> list[nn.Parameter]:
    """Second mistake: requires_grad=False and model.eval() once (undone by model.train())."""
    params = naive_freeze(model, head)
    model.eval()
    return params


def train_steps(model: nn.Module, params: list[nn.Parameter], x: torch.Tensor, num_classes: int,
                steps: int = 2) -> None:
    """``model.train()`` then a few SGD steps on ``params``."""
    model.train()
    opt = torch.optim.SGD(params, lr=0.1)
    y = torch.arange(len(x)) % num_classes
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def moved_keys(before: dict, after: dict, skip_prefix: str) -> list[str]:
    """State-dict keys outside ``skip_prefix`` whose tensor changed (keys missing afterwards count too)."""
    return [k for k, v in before.items() if not k.startswith(skip_prefix)
            and (k not in after or not torch.equal(v, after[k]))]
