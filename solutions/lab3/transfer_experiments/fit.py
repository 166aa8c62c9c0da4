"""Training and evaluating CNNs on in-memory uint8 images (OneCycle, augmentation)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..utils import get_device, seed_everything
from .common import _augment, to_model_input


@dataclass
class FitConfig:
    """Hyperparameters of one supervised run (images are uint8 tensors in memory)."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05  # peak learning rate (OneCycle); for fine-tuning: the head's learning rate
    backbone_lr: float = 0.0  # fine-tuning only: the pretrained backbone's learning rate
    weight_decay: float = 5e-4
    image_size: int = 32  # the network's input resolution (images are resized to it)
    label_smoothing: float = 0.1
    augment: bool = True


def fit_images(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    cfg: FitConfig,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    optimizer: torch.optim.Optimizer | None = None,
    device: torch.device | None = None,
    writer=None,
    tag: str = "train",
    seed: int = 0,
    desc: str = "train",
) -> dict:
    """Train ``model`` on uint8 ``images (N, 3, H, W)`` with OneCycle; returns wall and CPU time, images seen.

    The default optimizer is SGD with Nesterov momentum over all trainable parameters; pass
    ``optimizer`` (e.g. AdamW over :func:`lab3.transfer.param_groups`) for fine-tuning.
    """
    device = device or get_device()
    seed_everything(seed)
    model = model.to(device, memory_format=torch.channels_last)
    if optimizer is None:
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(
            params, lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay
        )
    steps_per_epoch = -(-len(images) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=[g["lr"] for g in optimizer.param_groups],
        total_steps=cfg.epochs * steps_per_epoch,
        pct_start=0.25,
    )
    start, cpu, seen, step = time.perf_counter(), time.process_time(), 0, 0
    model.train()
    bar = tqdm(range(cfg.epochs), desc=desc, leave=False)
    for _ in bar:
        perm = torch.randperm(len(images))
        for i in range(0, len(images), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            xb = images[idx]
            if cfg.augment:
                xb = _augment(xb)
            x = to_model_input(xb, cfg.image_size, mean, std).to(device)
            y = labels[idx].to(device)
            loss = F.cross_entropy(model(x), y, label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            sched.step()
            seen += len(idx)
            step += 1
            if writer is not None:
                writer.add_scalar(f"{tag}/train_loss", float(loss.detach()), step)
        bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
    # cpu_time_s: this process's CPU time, steady on a shared machine where wall time is not
    return {"train_time_s": time.perf_counter() - start, "images_seen": seen,
            "cpu_time_s": round(time.process_time() - cpu, 2)}


@torch.inference_mode()
def predict_images(
    model: nn.Module,
    images: torch.Tensor,
    *,
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    batch_size: int = 128,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Logits of ``model`` (eval mode) for uint8 ``images (N, 3, H, W)``."""
    device = device or get_device()
    model.eval()
    out = [
        model(to_model_input(images[i : i + batch_size], image_size, mean, std).to(device)).float().cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out)


def _chw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W)
