"""Shared helpers of the Exercise 2 experiments: class groups, subsets, model input, tables."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..utils import runs_dir

ANIMALS = (2, 3, 4, 5, 6, 7)  # bird, cat, deer, dog, frog, horse
VEHICLES = (0, 1, 8, 9)  # airplane, automobile, ship, truck


# ----------------------------------------------------------------------------------------------
# Small shared helpers
# ----------------------------------------------------------------------------------------------


def _writer(name: str):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(runs_dir(name)))


def _out_dir(out_dir: str | Path | None) -> Path:
    path = Path(out_dir) if out_dir is not None else runs_dir("ex2")
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_csv(rows: Sequence[dict], path: str | Path) -> Path:
    """Write ``rows`` (dicts with the same keys) as a CSV file; returns the path."""
    path = Path(path)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def format_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """A plain-text table of ``rows`` (floats with 3 decimals) for printing in the notebook."""
    columns = list(columns or rows[0])
    cells = [[f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.rjust(w) for v, w in zip(vals, widths, strict=True))  # noqa: E731
    return "\n".join([line(columns), line(["-" * w for w in widths]), *map(line, cells)])


def _arrays(dataset) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 32, 32, 3) and int64 labels (N,) of a CIFAR-10 dataset or Subset of it."""
    base, idx = dataset, None
    if isinstance(dataset, torch.utils.data.Subset):
        base, idx = dataset.dataset, np.asarray(dataset.indices)
    x, y = np.asarray(base.data), np.asarray(base.targets, dtype=np.int64)
    return (x, y) if idx is None else (x[idx], y[idx])


def _subset(y: np.ndarray, classes: Sequence[int], per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of ``per_class`` examples of each of ``classes`` (seeded, nested in ``per_class``)."""
    rng = np.random.default_rng(seed)
    picks = [rng.permutation(np.flatnonzero(y == c))[:per_class] for c in classes]
    return np.sort(np.concatenate(picks))


def to_model_input(
    images: torch.Tensor, size: int, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` or ``(B, 3, H, W)`` -> float ``(B, 3, size, size)``, resized and normalised."""
    if images.shape[-1] == 3:
        images = images.permute(0, 3, 1, 2)  # (B, 3, H, W)
    x = images.float().div_(255)
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp_(0, 1)
    mean_t = torch.tensor(mean, dtype=x.dtype).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=x.dtype).view(1, 3, 1, 1)
    return ((x - mean_t) / std_t).contiguous(memory_format=torch.channels_last)


def _augment(images: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """Random translation (reflect-pad + crop) and horizontal flip of uint8 ``(B, 3, H, W)`` images."""
    b, _, h, w = images.shape
    padded = F.pad(images.float(), (pad, pad, pad, pad), mode="reflect")
    dy, dx = torch.randint(0, 2 * pad + 1, (2, b)).tolist()
    out = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(b)])
    flip = torch.rand(b) < 0.5
    out[flip] = out[flip].flip(-1)
    return out.to(images.dtype)


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(-1) == y).float().mean())
