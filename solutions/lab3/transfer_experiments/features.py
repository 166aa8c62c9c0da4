"""Frozen pretrained CNN features (cached on disk) and the linear probe trained on them."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..data import data_home
from ..utils import get_device, seed_everything
from .common import to_model_input


def feature_fn(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x -> (B, F)`` pooled features before the classifier (timm or torchvision ResNet)."""
    if hasattr(model, "forward_head"):  # timm
        return lambda x: model.forward_head(model.forward_features(x), pre_logits=True)
    if isinstance(getattr(model, "fc", None), nn.Module):  # torchvision ResNet

        def resnet_features(x: torch.Tensor) -> torch.Tensor:
            fc, model.fc = model.fc, nn.Identity()
            try:
                return model(x)
            finally:
                model.fc = fc

        return resnet_features
    raise TypeError(f"feature_fn: unsupported model {type(model).__name__}")


@torch.no_grad()
def extract_features(
    model: nn.Module,
    images: np.ndarray,
    *,
    image_size: int = 128,
    batch_size: int = 64,
    device: torch.device | None = None,
    desc: str = "features",
) -> torch.Tensor:
    """Pooled features ``(N, F)`` of uint8 images ``(N, H, W, 3)`` through a frozen pretrained ``model``.

    Images are upscaled to ``image_size`` and normalised with the model's own mean/std
    (``model.pretrained_cfg``). Runs in eval mode, without autograd, in channels-last layout.
    """
    device = device or get_device()
    cfg = model.pretrained_cfg
    model = model.eval().to(device, memory_format=torch.channels_last)
    features = feature_fn(model)
    out = []
    for start in tqdm(range(0, len(images), batch_size), desc=desc, leave=False):
        x = to_model_input(
            torch.from_numpy(images[start : start + batch_size]), image_size, cfg["mean"], cfg["std"]
        )
        out.append(features(x.to(device)).float().cpu())
    return torch.cat(out)


def cached_features(
    model: nn.Module,
    images: np.ndarray,
    key: str,
    *,
    image_size: int = 128,
    cache_dir: str | Path | None = None,
    clock: str = "wall",
    **kwargs,
) -> tuple[torch.Tensor, float, bool]:
    """:func:`extract_features` with a disk cache; returns ``(features, seconds it took, cached?)``.

    The cache file name holds ``key``, the weights' tag, the image size and a hash of the pixels,
    so a different subset or model never reuses stale features. ``seconds`` is the time of the
    original extraction (stored next to the features), so reported training times stay honest:
    wall-clock seconds, or this process's CPU seconds with ``clock="cpu"`` (an entry cached without
    them is recomputed).
    """
    if clock not in ("wall", "cpu"):
        raise ValueError(f"clock must be 'wall' or 'cpu', got {clock!r}")
    field = "seconds" if clock == "wall" else "cpu_seconds"
    cache = Path(cache_dir) if cache_dir is not None else data_home() / "features"
    tag = str(model.pretrained_cfg.get("tag", type(model).__name__)).replace("/", "_")
    digest = hashlib.sha1(np.ascontiguousarray(images).tobytes()).hexdigest()[:16]
    path = cache / f"{key}_{tag}_{image_size}px_{len(images)}_{digest}.pt"
    if path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if field in blob:
                return blob["features"], float(blob[field]), True
        except Exception:  # noqa: BLE001 - a corrupt cache entry is recomputed
            path.unlink(missing_ok=True)
    start, cpu = time.perf_counter(), time.process_time()
    feats = extract_features(model, images, image_size=image_size, desc=f"features {key}", **kwargs)
    blob = {"features": feats, "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)
    return feats, float(blob[field]), False


def train_linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    num_classes: int,
    *,
    epochs: int = 100,
    lr: float = 1e-3,
    weight_decay: float = 1e-3,
    batch_size: int = 256,
    seed: int = 0,
    writer=None,
    tag: str = "probe",
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Train ``nn.Linear(F, num_classes)`` on (standardised) features; returns ``features -> logits``."""
    seed_everything(seed)
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    x = (train_x - mean) / std
    head = nn.Linear(x.shape[1], num_classes)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for epoch in range(epochs):
        perm = torch.randperm(len(x))
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = perm[start : start + batch_size]
            loss = F.cross_entropy(head(x[idx]), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        if writer is not None:
            writer.add_scalar(f"{tag}/train_loss", total / len(x), epoch)
    head.eval()
    return lambda feats: head((feats - mean) / std).detach()
