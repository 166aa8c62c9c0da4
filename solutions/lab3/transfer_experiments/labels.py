"""Experiment 1: from scratch vs transfer, by number of labels (CIFAR-10)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

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


class _Data(NamedTuple):
    """CIFAR-10 for experiment 1: the training split, its nested subsets by label count, the test subset."""

    train_x: np.ndarray  # (50000, 32, 32, 3) uint8
    train_y: np.ndarray  # (50000,) int64
    subsets: dict[int, np.ndarray]  # number of labels -> sorted training indices (nested, stratified)
    test_x: np.ndarray  # (M, 32, 32, 3) uint8
    test_y: torch.Tensor  # (M,) int64

    def train(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``n``-label training subset: uint8 images ``(n, 3, 32, 32)`` and labels ``(n,)``."""
        return _chw(self.train_x[self.subsets[n]]), torch.from_numpy(self.train_y[self.subsets[n]])


def _load_data(cfg: LabelsConfig, seed: int) -> _Data:
    """CIFAR-10 with a stratified test subset and one nested training subset per label count."""
    train_x, train_y = _arrays(cifar10(train=True))
    test_x, test_y = _arrays(cifar10(train=False))
    test_idx = _subset(test_y, range(10), cfg.test_per_class, seed)
    subsets = {n: _subset(train_y, range(10), n // 10, seed) for n in cfg.labels}
    return _Data(train_x, train_y, subsets, test_x[test_idx], torch.from_numpy(test_y[test_idx]))


@dataclass
class _Recorder:
    """Collects the rows of experiment 1; logs accuracy and time to TensorBoard and prints them."""

    writer: Any
    rows: list[dict] = field(default_factory=list)

    def __call__(self, method: str, n: int, acc: float, info: dict) -> None:
        self.rows.append(
            {
                "method": method,
                "labels": n,
                "test_accuracy": round(acc, 4),
                "train_time_s": round(info["train_time_s"], 2),
                "cpu_time_s": round(info["cpu_time_s"], 2),
                "images_seen": info["images_seen"],
            }
        )
        self.writer.add_scalar(f"test_accuracy/{method}", acc, n)
        self.writer.add_scalar(f"train_time_s/{method}", info["train_time_s"], n)
        tqdm.write(
            f"[labels] {method:8s} n={n:5d}: test acc {acc:.3f}, {info['train_time_s']:.1f} s, "
            f"{info['images_seen']} images seen"
        )


def _features_runs(
    data: _Data, cfg: LabelsConfig, record: _Recorder, bar: tqdm, *, seed: int, device: torch.device
) -> None:
    """Frozen EfficientNet-Lite0 (features of the largest subset extracted once), a linear probe per label count."""
    backbone = transfer.load_pretrained("efficientnet_lite0")
    largest = data.subsets[max(cfg.labels)]
    feats_train, t_train, _ = cached_features(
        backbone, data.train_x[largest], "cifar10_train", image_size=cfg.feature_size, device=device
    )  # (L, 1280)
    cpu_train = cached_features(
        backbone, data.train_x[largest], "cifar10_train", image_size=cfg.feature_size, device=device, clock="cpu"
    )[1]  # the same extraction, its CPU seconds
    feats_test, _, _ = cached_features(
        backbone, data.test_x, "cifar10_test", image_size=cfg.feature_size, device=device
    )  # (M, 1280)
    for n in cfg.labels:
        pos = np.searchsorted(largest, data.subsets[n])  # the nested subset inside the largest one
        start, cpu = time.perf_counter(), time.process_time()
        probe = train_linear_probe(
            feats_train[pos],
            torch.from_numpy(data.train_y[data.subsets[n]]),
            10,
            epochs=cfg.probe_epochs,
            seed=seed,
            writer=record.writer,
            tag=f"features/n={n}",
        )
        t_probe, cpu_probe = time.perf_counter() - start, time.process_time() - cpu
        acc = _accuracy(probe(feats_test), data.test_y)
        share = n / len(largest)  # the n images' share of the extraction
        record("features", n, acc, {"train_time_s": t_train * share + t_probe,
                                    "cpu_time_s": cpu_train * share + cpu_probe, "images_seen": n})
        bar.update()


def _scratch_run(
    n: int, data: _Data, cfg: LabelsConfig, *, seed: int, device: torch.device, writer: Any
) -> tuple[float, dict]:
    """A SmallCNN trained from scratch on ``n`` labels (32x32 images): test accuracy and the fit's info."""
    x, y = data.train(n)
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
        model, _chw(data.test_x), image_size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD, device=device
    )
    return _accuracy(logits, data.test_y), info


def _finetune_run(
    n: int, data: _Data, cfg: LabelsConfig, *, seed: int, device: torch.device, writer: Any
) -> tuple[float, dict]:
    """EfficientNet-Lite0 fine-tuned on ``n`` labels (AdamW over your param_groups): test accuracy and info."""
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
    x, y = data.train(n)
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
        _chw(data.test_x),
        image_size=cfg.finetune_size,
        mean=mean,
        std=std,
        batch_size=64,
        device=device,
    )
    return _accuracy(logits, data.test_y), info


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
    subsets are stratified and nested (the 100 images are among the 1 000). ``train_time_s`` (wall) and
    ``cpu_time_s`` (this process's CPU time) of ``features`` include extracting the training features
    once (and none of the test features).
    Returns the rows (also in ``labels.csv``, figure ``labels.png``).
    """
    cfg = config or (LabelsConfig.quick() if quick_mode() else LabelsConfig())
    device = device or get_device()
    out = _out_dir(out_dir)
    writer = _writer("ex2/labels")
    data = _load_data(cfg, seed)
    record = _Recorder(writer)
    with tqdm(total=len(cfg.labels) * len(methods), desc="exp 1: labels") as bar:
        if "features" in methods:
            _features_runs(data, cfg, record, bar, seed=seed, device=device)
        if "scratch" in methods:
            for n in cfg.labels:
                record("scratch", n, *_scratch_run(n, data, cfg, seed=seed, device=device, writer=writer))
                bar.update()
        if "finetune" in methods:
            for n in cfg.labels:
                if n in cfg.finetune_labels:  # fine-tuning is the slow one: only these label counts
                    record("finetune", n, *_finetune_run(n, data, cfg, seed=seed, device=device, writer=writer))
                bar.update()
    writer.close()
    rows = record.rows
    for row in rows:
        row.update(test_images=len(data.test_y), device=device.type, quick=quick_mode())
    save_csv(rows, out / "labels.csv")
    plot_labels(rows, out / "labels.png")
    return rows
