"""ViT experiment helpers for Exercise 1 (the notebook, ``benchmarks/bench_ex1.py`` and ``lab3 results`` call
them through ``lab3.ex1_experiments``, which re-exports the public names).

* :func:`train_vit` trains a ``VisionTransformer`` (or, with ``arch="cnn"``, a ``SmallCNN``) on a stratified
  CIFAR-10 subset and tests it on the test split;
* :func:`vit_vs_cnn` trains both on the same data, augmentation, optimizer, schedule and epochs.

Every run can log to TensorBoard (``runs/<name>``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lab3 import utils
from lab3.experiment_common import make_writer, num_threads

__all__ = [
    "ViTConfig",
    "train_vit",
    "vit_vs_cnn",
    "evaluate_classifier",
]


@dataclass
class ViTConfig:
    """A ViT run on a stratified CIFAR-10 subset (defaults: 5000 images, 15 epochs, 75 k parameters).

    Measured with these settings (1 CPU thread): 10 epochs -> 0.41 test accuracy, 12 -> 0.41 (full test
    set), 15 -> 0.46 (first 2000 test images); an epoch takes ~6.3 s on an idle core, 20-27 s on a
    shared, overloaded one.
    """

    train_per_class: int = 500  # training images per class (10 classes)
    epochs: int = 15  # passes over the subset
    batch_size: int = 64  # images per step (small batches: more updates in a short budget)
    lr: float = 3e-3  # peak AdamW learning rate (one-cycle: 15 % warm-up, cosine decay)
    weight_decay: float = 0.05  # AdamW decoupled weight decay
    label_smoothing: float = 0.0  # cross-entropy label smoothing (no gain in a short budget)
    augment: bool = True  # random crop (padding 4) + horizontal flip on tensors
    time_budget_s: float | None = None  # stop after this many seconds of training
    test_examples: int | None = None  # evaluate on the first N test images (None: all 10 000)
    seed: int = 0  # init, subset and shuffling
    num_threads: int | None = None  # torch threads while training (None: torch's default)
    arch: str = "vit"  # "vit", or "cnn": lab3.models.SmallCNN(width=cnn_width), same data, loop and budget
    cnn_width: int = 14  # SmallCNN width of the "cnn" arch (14: ~77 k parameters, like the default ViT)
    model: dict = field(
        default_factory=lambda: {
            "patch_size": 4,
            "embed_dim": 64,
            "depth": 2,
            "num_heads": 4,
            "mlp_ratio": 2.0,
        }
    )  # VisionTransformer keyword arguments


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop (4-pixel zero padding) and horizontal flips of a normalized batch ``(B, 3, 32, 32)``."""
    B = x.size(0)
    padded = F.pad(x, (4, 4, 4, 4))  # (B, 3, 40, 40)
    dx, dy = torch.randint(0, 9, (2,), generator=gen).tolist()  # one shift per batch: cheap on CPU
    x = padded[:, :, dy : dy + 32, dx : dx + 32]
    flip = torch.rand(B, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


@torch.no_grad()
def evaluate_classifier(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500
) -> tuple[float, torch.Tensor]:
    """Accuracy and predictions ``(N,)`` of ``model`` on in-memory tensors (eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    preds = torch.cat(
        [model(x[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(x), batch_size)]
    )
    return float((preds == y).float().mean()), preds


def train_vit(
    cfg: ViTConfig | None = None,
    *,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    device: torch.device | None = None,
    run_name: str | None = "ex1/vit",
    verbose: bool = False,
) -> dict[str, Any]:
    """Train a ``VisionTransformer`` on ``cfg.train_per_class * 10`` CIFAR-10 images, test on the test split.

    ``data`` = ``(x_train, y_train, x_test, y_test)`` tensors overrides CIFAR-10 (tests use random data).
    Returns ``model``, ``history`` (per epoch: ``epoch, seconds, train_loss, train_accuracy,
    test_accuracy``), ``test_accuracy``, ``predictions``, ``targets``, ``train_seconds``, ``params``.
    """
    cfg = cfg or ViTConfig()
    with num_threads(cfg.num_threads):
        return _train_vit(cfg, data=data, device=device, run_name=run_name, verbose=verbose)


_TrainTest = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # x_train, y_train, x_test, y_test


def _vit_data(cfg: ViTConfig, data: _TrainTest | None) -> _TrainTest:
    """``data``, or the stratified CIFAR-10 subset and test split; the test set cut to ``cfg.test_examples``."""
    if data is None:
        from lab3 import data as lab3_data

        train_set = lab3_data.stratified_subset(
            lab3_data.cifar10(train=True), cfg.train_per_class, seed=cfg.seed
        )
        x_train, y_train = lab3_data.to_tensors(train_set)
        x_test, y_test = lab3_data.to_tensors(lab3_data.cifar10(train=False))
    else:
        x_train, y_train, x_test, y_test = data
    if cfg.test_examples is not None:
        x_test, y_test = x_test[: cfg.test_examples], y_test[: cfg.test_examples]
    return x_train, y_train, x_test, y_test


def _build_classifier(cfg: ViTConfig, image_size: int, num_classes: int, device: torch.device) -> nn.Module:
    """The network of ``cfg.arch`` on ``device``: a ``VisionTransformer`` or a ``SmallCNN``."""
    if cfg.arch == "cnn":
        from lab3.models import SmallCNN

        return SmallCNN(num_classes=num_classes, width=cfg.cnn_width).to(device)
    if cfg.arch == "vit":
        from lab3.vit import VisionTransformer

        return VisionTransformer(image_size=image_size, num_classes=num_classes, **cfg.model).to(device)
    raise ValueError(f"arch must be 'vit' or 'cnn', got {cfg.arch!r}")


def _train_epoch(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    cfg: ViTConfig,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    *,
    gen: torch.Generator,
    writer: Any,
    step: int,
    device: torch.device,
) -> tuple[float, float, int]:
    """One shuffled pass over ``x_train`` ``(N, 3, H, W)``; returns mean loss, accuracy and the new step count."""
    model.train()
    perm = torch.randperm(len(x_train), generator=gen)
    total_loss, correct = 0.0, 0
    for i in range(0, len(x_train), cfg.batch_size):
        idx = perm[i : i + cfg.batch_size]
        xb, yb = x_train[idx], y_train[idx]  # (B, 3, H, W), (B,)
        if cfg.augment:
            xb = _augment(xb, gen)
        xb, yb = xb.to(device), yb.to(device)
        logits = model(xb)  # (B, num_classes)
        loss = F.cross_entropy(logits, yb, label_smoothing=cfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        step += 1
        total_loss += loss.item() * len(idx)
        correct += int((logits.argmax(1) == yb).sum())
        if writer is not None:
            writer.add_scalar("train/loss", loss.item(), step)
    return total_loss / len(x_train), correct / len(x_train), step


def _log_epoch(row: dict[str, float], writer: Any, verbose: bool) -> None:
    """An epoch's ``history`` row to TensorBoard (when ``writer``) and to the console (when ``verbose``)."""
    if writer is not None:
        writer.add_scalar("epoch/train_loss", row["train_loss"], row["epoch"])
        writer.add_scalar("epoch/train_accuracy", row["train_accuracy"], row["epoch"])
        writer.add_scalar("epoch/test_accuracy", row["test_accuracy"], row["epoch"])
    if verbose:
        print(
            f"epoch {row['epoch']}  {row['seconds']:6.1f}s  loss {row['train_loss']:.3f}  "
            f"train {row['train_accuracy']:.3f}  test {row['test_accuracy']:.3f}"
        )


def _train_vit(
    cfg: ViTConfig,
    *,
    data: _TrainTest | None,
    device: torch.device | None,
    run_name: str | None,
    verbose: bool,
) -> dict[str, Any]:
    """The body of :func:`train_vit` (run inside its ``num_threads`` block)."""
    device = device or torch.device("cpu")
    utils.seed_everything(cfg.seed)
    x_train, y_train, x_test, y_test = _vit_data(cfg, data)
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    model = _build_classifier(cfg, x_train.size(-1), num_classes, device)
    steps_per_epoch = math.ceil(len(x_train) / cfg.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.15
    )
    gen = torch.Generator().manual_seed(cfg.seed)
    writer = make_writer(run_name)
    history, train_seconds, step = [], 0.0, 0
    try:
        for epoch in range(1, cfg.epochs + 1):
            t0 = time.perf_counter()
            train_loss, train_accuracy, step = _train_epoch(
                model, x_train, y_train, cfg, optimizer, scheduler, gen=gen, writer=writer, step=step, device=device
            )
            train_seconds += time.perf_counter() - t0
            test_acc, preds = evaluate_classifier(model, x_test, y_test)
            row = {
                "epoch": epoch,
                "seconds": train_seconds,
                "train_loss": train_loss,
                "train_accuracy": train_accuracy,
                "test_accuracy": test_acc,
            }
            history.append(row)
            _log_epoch(row, writer, verbose)
            if cfg.time_budget_s is not None and train_seconds >= cfg.time_budget_s:
                break
    finally:
        if writer is not None:
            writer.close()
    return {
        "model": model,
        "history": history,
        "test_accuracy": history[-1]["test_accuracy"],
        "predictions": preds,
        "targets": y_test,
        "train_seconds": train_seconds,
        "params": utils.count_parameters(model),
    }


def vit_vs_cnn(
    cfg: ViTConfig | None = None,
    *,
    device: torch.device | None = None,
    run_prefix: str | None = "ex1/vit_vs_cnn",
    verbose: bool = False,
) -> list[dict[str, Any]]:
    """The ViT of ``cfg`` against ``SmallCNN(width=cfg.cnn_width)`` (a comparable parameter count) on the
    same CIFAR-10 subset, with the same augmentation, optimizer, schedule, epochs and test set.

    Returns one row per model: ``model`` (``"vit"`` / ``"cnn"``), ``module`` (the trained network), ``epochs``
    and the rest of what :func:`train_vit` returns (``params``, ``test_accuracy``, ``history``, ...).
    """
    from dataclasses import replace

    cfg = cfg or ViTConfig()
    rows = []
    for arch in ("vit", "cnn"):
        run = train_vit(
            replace(cfg, arch=arch),
            device=device,
            run_name=f"{run_prefix}/{arch}" if run_prefix else None,
            verbose=verbose,
        )
        rows.append({**run, "model": arch, "module": run["model"], "epochs": len(run["history"])})
    return rows
