"""Experiment 1: from scratch vs transfer, by number of labels (CIFAR-10)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import transfer
from ..data import CIFAR10_MEAN, CIFAR10_STD, cifar10
from ..models import SmallCNN
from ..utils import get_device, quick_mode
from .common import _accuracy, _arrays, _out_dir, _subset, _writer, save_csv
from .features import cached_features, train_linear_probe
from .fit import FitConfig, _chw, fit_images, predict_images
from .plots import plot_labels


@dataclass
class LabelsConfig:
    """Sizes of experiment 1 (quick mode: see :meth:`quick`)."""

    labels: tuple[int, ...] = (100, 1000, 5000)
    test_per_class: int = 1000  # 1000 = the whole CIFAR-10 test set
    feature_size: int = 128  # input resolution of the frozen backbone
    finetune_size: int = 128  # input resolution when fine-tuning
    finetune_labels: tuple[int, ...] = (100, 1000, 5000)  # fine-tuning is the slow one on a CPU
    scratch_images: int = 40_000  # images seen by the scratch CNN (epochs = this / labels, 10..60)
    scratch_width: int = 32  # SmallCNN width (16 is 4x cheaper)
    finetune_images: int = 10_000  # images seen when fine-tuning (epochs = this / labels, 2..10)
    probe_epochs: int = 100

    @classmethod
    def quick(cls) -> LabelsConfig:
        return cls(
            labels=(100, 1000),
            test_per_class=50,
            finetune_size=96,
            finetune_labels=(100,),
            scratch_images=6_000,
            scratch_width=16,
            finetune_images=1_000,
            probe_epochs=60,
        )


def labels_experiment(
    config: LabelsConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    seed: int = 0,
    device: torch.device | None = None,
    methods: Sequence[str] = ("scratch", "features", "finetune"),
) -> list[dict]:
    """Experiment 1: test accuracy, training time and images seen against the number of labels.

    Methods: ``scratch`` (:class:`lab3.models.SmallCNN` on 32x32 images), ``features`` (frozen
    EfficientNet-Lite0, features cached, linear head) and ``finetune`` (every layer trains, AdamW
    with :func:`lab3.transfer.param_groups`: backbone lr 10x smaller than the head's). The training
    subsets are stratified and nested (the 100 images are among the 1 000). ``train_time_s`` of
    ``features`` includes extracting the training features once (and none of the test features).
    Returns the rows (also in ``labels.csv``, figure ``labels.png``).
    """
    cfg = config or (LabelsConfig.quick() if quick_mode() else LabelsConfig())
    device = device or get_device()
    out = _out_dir(out_dir)
    writer = _writer("ex2/labels")
    train_x, train_y = _arrays(cifar10(train=True))
    test_x, test_y = _arrays(cifar10(train=False))
    test_idx = _subset(test_y, range(10), cfg.test_per_class, seed)
    test_x, test_y = test_x[test_idx], test_y[test_idx]
    test_y_t = torch.from_numpy(test_y)
    subsets = {n: _subset(train_y, range(10), n // 10, seed) for n in cfg.labels}
    rows = []

    def record(method: str, n: int, acc: float, info: dict, **extra) -> None:
        row = {
            "method": method,
            "labels": n,
            "test_accuracy": round(acc, 4),
            "train_time_s": round(info["train_time_s"], 2),
            "images_seen": info["images_seen"],
            **extra,
        }
        rows.append(row)
        writer.add_scalar(f"test_accuracy/{method}", acc, n)
        writer.add_scalar(f"train_time_s/{method}", info["train_time_s"], n)
        tqdm.write(
            f"[labels] {method:8s} n={n:5d}: test acc {acc:.3f}, {info['train_time_s']:.1f} s, "
            f"{info['images_seen']} images seen"
        )

    with tqdm(total=len(cfg.labels) * len(methods), desc="exp 1: labels") as bar:
        if "features" in methods:
            backbone = transfer.load_pretrained("efficientnet_lite0")
            largest = subsets[max(cfg.labels)]
            feats_train, t_train, _ = cached_features(
                backbone, train_x[largest], "cifar10_train", image_size=cfg.feature_size, device=device
            )
            feats_test, _, _ = cached_features(
                backbone, test_x, "cifar10_test", image_size=cfg.feature_size, device=device
            )
            for n in cfg.labels:
                pos = np.searchsorted(largest, subsets[n])  # the nested subset inside the largest one
                start = time.perf_counter()
                probe = train_linear_probe(
                    feats_train[pos],
                    torch.from_numpy(train_y[subsets[n]]),
                    10,
                    epochs=cfg.probe_epochs,
                    seed=seed,
                    writer=writer,
                    tag=f"features/n={n}",
                )
                t_probe = time.perf_counter() - start
                acc = _accuracy(probe(feats_test), test_y_t)
                record(
                    "features",
                    n,
                    acc,
                    {"train_time_s": t_train * n / len(largest) + t_probe, "images_seen": n},
                )
                bar.update()
        if "scratch" in methods:
            for n in cfg.labels:
                x, y = _chw(train_x[subsets[n]]), torch.from_numpy(train_y[subsets[n]])
                epochs = int(np.clip(cfg.scratch_images // n, 10, 60))
                fit = FitConfig(epochs=epochs, batch_size=min(128, max(32, n // 8)), lr=0.05)
                model = SmallCNN(num_classes=10, width=cfg.scratch_width)
                info = fit_images(
                    model,
                    x,
                    y,
                    fit,
                    mean=CIFAR10_MEAN,
                    std=CIFAR10_STD,
                    device=device,
                    writer=writer,
                    tag=f"scratch/n={n}",
                    seed=seed,
                    desc=f"scratch n={n}",
                )
                logits = predict_images(
                    model, _chw(test_x), image_size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD, device=device
                )
                record("scratch", n, _accuracy(logits, test_y_t), info)
                bar.update()
        if "finetune" in methods:
            for n in cfg.labels:
                if n not in cfg.finetune_labels:
                    bar.update()
                    continue
                model = transfer.load_pretrained("efficientnet_lite0")
                head = transfer.replace_head(model, 10)
                epochs = int(np.clip(cfg.finetune_images // n, 1, 10))
                fit = FitConfig(
                    epochs=epochs,
                    batch_size=32,
                    lr=3e-3,
                    backbone_lr=3e-4,
                    weight_decay=0.01,
                    image_size=cfg.finetune_size,
                )
                opt = torch.optim.AdamW(
                    transfer.param_groups(model, head, fit.backbone_lr, fit.lr, weight_decay=fit.weight_decay)
                )
                mean, std = model.pretrained_cfg["mean"], model.pretrained_cfg["std"]
                x, y = _chw(train_x[subsets[n]]), torch.from_numpy(train_y[subsets[n]])
                info = fit_images(
                    model,
                    x,
                    y,
                    fit,
                    mean=mean,
                    std=std,
                    optimizer=opt,
                    device=device,
                    writer=writer,
                    tag=f"finetune/n={n}",
                    seed=seed,
                    desc=f"finetune n={n}",
                )
                logits = predict_images(
                    model,
                    _chw(test_x),
                    image_size=cfg.finetune_size,
                    mean=mean,
                    std=std,
                    batch_size=64,
                    device=device,
                )
                record("finetune", n, _accuracy(logits, test_y_t), info)
                bar.update()
    writer.close()
    for row in rows:
        row.update(test_images=len(test_y), device=device.type, quick=quick_mode())
    save_csv(rows, out / "labels.csv")
    plot_labels(rows, out / "labels.png")
    return rows
