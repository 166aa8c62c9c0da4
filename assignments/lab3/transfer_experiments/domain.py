"""Experiment 2: how related must the source be? Transfer to CIFAR-10 vehicles with few labels."""

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
from ..utils import get_device, quick_mode, seed_everything
from . import fashion
from .common import ANIMALS, VEHICLES, _accuracy, _arrays, _out_dir, _subset, _writer, save_csv, to_model_input
from .features import cached_features, train_linear_probe
from .fit import FitConfig, _chw, fit_images, predict_images
from .plots import plot_domain


@dataclass
class DomainConfig:
    """Sizes of experiment 2."""

    source_per_class: int = 2000  # source-task images per class (pretraining)
    source_epochs: int = 15
    target_per_class: int = 25  # labelled vehicle images per class
    test_per_class: int = 1000  # vehicle test images per class (1000 = all)
    width: int = 32  # SmallCNN width
    feature_size: int = 128  # ImageNet backbone resolution
    finetune_epochs: int = 30

    @classmethod
    def quick(cls) -> DomainConfig:
        return cls(source_per_class=400, source_epochs=6, test_per_class=100, width=16, finetune_epochs=15)


def _smallcnn_features(model: SmallCNN, images: np.ndarray, mean, std, device) -> torch.Tensor:
    model.eval().to(device)
    with torch.no_grad():
        return torch.cat(
            [
                model.features(to_model_input(_chw(images[i : i + 256]), 32, mean, std).to(device)).cpu()
                for i in range(0, len(images), 256)
            ]
        )


class _Target(NamedTuple):
    """The few labelled vehicle images and the vehicle test set (labels remapped to ``0..3``)."""

    train_x: np.ndarray  # (N, 32, 32, 3) uint8
    train_y: torch.Tensor  # (N,) int64
    test_x: np.ndarray  # (M, 32, 32, 3) uint8
    test_y: torch.Tensor  # (M,) int64


_Source = tuple[np.ndarray, np.ndarray] | None  # (images (N, 32, 32, 3) uint8, labels (N,)); None: no pretraining


def _vehicle_target(
    train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], cfg: DomainConfig, seed: int
) -> _Target:
    """Stratified vehicle subsets of CIFAR-10's ``(images, labels)`` splits, labels remapped to ``0..3``."""
    (train_x, train_y), (test_x, test_y) = train, test
    remap = np.full(10, -1)
    remap[list(VEHICLES)] = np.arange(len(VEHICLES))
    tgt_idx = _subset(train_y, VEHICLES, cfg.target_per_class, seed)
    tst_idx = _subset(test_y, VEHICLES, cfg.test_per_class, seed)
    return _Target(
        train_x[tgt_idx],
        torch.from_numpy(remap[train_y[tgt_idx]]),
        test_x[tst_idx],
        torch.from_numpy(remap[test_y[tst_idx]]),
    )


def _sources(train_x: np.ndarray, train_y: np.ndarray, per_class: int, seed: int) -> dict[str, _Source]:
    """The pretraining sources by name: CIFAR-10 animals (related), an unrelated domain, none."""
    animal_idx = _subset(train_y, ANIMALS, per_class, seed)
    amap = np.full(10, -1)
    amap[list(ANIMALS)] = np.arange(len(ANIMALS))
    un_x, un_y, un_name = fashion.unrelated_source(per_class * 6, seed)
    return {
        "CIFAR-10 animals (related)": (train_x[animal_idx], amap[train_y[animal_idx]]),
        f"{un_name} (unrelated)": (un_x, un_y),
        "none (random weights)": None,
    }


@dataclass
class _Recorder:
    """Collects the rows of experiment 2; logs each accuracy to TensorBoard and prints it."""

    writer: Any
    target_labels: int
    rows: list[dict] = field(default_factory=list)

    def __call__(self, source: str, method: str, acc: float, pre_s: float, t: float, n_src: int) -> None:
        self.rows.append(
            {
                "source": source,
                "method": method,
                "target_labels": self.target_labels,
                "test_accuracy": round(acc, 4),
                "pretrain_time_s": round(pre_s, 2),
                "transfer_time_s": round(t, 2),
                "source_images": n_src,
            }
        )
        self.writer.add_scalar(f"{method}/{source}", acc, 0)
        tqdm.write(f"[domain] {source:34s} {method:8s}: vehicle test acc {acc:.3f}")


def _pretrain(
    model: SmallCNN, name: str, data: _Source, cfg: DomainConfig, *, writer: Any, seed: int, device: torch.device
) -> tuple[tuple[float, ...], tuple[float, ...], float, int]:
    """Pretrain ``model`` on the source ``data`` (None: keep the random weights).

    Returns the input normalisation ``(mean, std)`` of the source, the seconds it took and its image count.
    """
    if data is None:
        return CIFAR10_MEAN, CIFAR10_STD, 0.0, 0
    x, y = data
    mean, std = CIFAR10_MEAN, CIFAR10_STD
    if "unrelated" in name:  # normalise with its own statistics, not CIFAR's
        m, s = float(x.mean() / 255), float(x.std() / 255)
        mean, std = (m, m, m), (s, s, s)
    transfer.replace_head(model, int(y.max()) + 1)
    info = fit_images(
        model,
        _chw(x),
        torch.from_numpy(y),
        FitConfig(epochs=cfg.source_epochs, lr=0.05, batch_size=128, augment="unrelated" not in name),
        mean=mean,
        std=std,
        device=device,
        writer=writer,
        tag=f"pretrain/{name}",
        seed=seed,
        desc=f"pretrain {name[:20]}",
    )
    return mean, std, info["train_time_s"], len(x)


def _probe_accuracy(
    model: SmallCNN, target: _Target, mean: Sequence[float], std: Sequence[float], *, seed: int, device: torch.device
) -> float:
    """Feature extraction: the frozen backbone's features (eval mode), a linear head on them; test accuracy."""
    f_tr = _smallcnn_features(model, target.train_x, mean, std, device)  # (N, F)
    f_te = _smallcnn_features(model, target.test_x, mean, std, device)  # (M, F)
    probe = train_linear_probe(f_tr, target.train_y, len(VEHICLES), epochs=100, seed=seed)
    return _accuracy(probe(f_te), target.test_y)


def _finetune_accuracy(
    model: SmallCNN,
    target: _Target,
    cfg: DomainConfig,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    seed: int,
    device: torch.device,
) -> float:
    """Fine-tuning: your replace_head and param_groups (backbone lr 10x smaller than the head's); test accuracy."""
    head = transfer.replace_head(model, len(VEHICLES))
    fit = FitConfig(epochs=cfg.finetune_epochs, batch_size=32, lr=0.05, backbone_lr=0.005)
    opt = torch.optim.SGD(
        transfer.param_groups(model, head, fit.backbone_lr, fit.lr, weight_decay=fit.weight_decay),
        lr=fit.lr,
        momentum=0.9,
        nesterov=True,
    )
    fit_images(
        model,
        _chw(target.train_x),
        target.train_y,
        fit,
        mean=mean,
        std=std,
        optimizer=opt,
        device=device,
        seed=seed,
        desc="fine-tune",
    )
    logits = predict_images(model, _chw(target.test_x), image_size=32, mean=mean, std=std, device=device)
    return _accuracy(logits, target.test_y)


def _imagenet_probe(target: _Target, cfg: DomainConfig, *, seed: int, device: torch.device) -> tuple[float, float]:
    """Frozen EfficientNet-Lite0 + linear probe on cached features: test accuracy and seconds."""
    backbone = transfer.load_pretrained("efficientnet_lite0")
    f_tr, t_tr, _ = cached_features(
        backbone, target.train_x, "vehicles_train", image_size=cfg.feature_size, device=device
    )  # (N, 1280)
    f_te, _, _ = cached_features(
        backbone, target.test_x, "vehicles_test", image_size=cfg.feature_size, device=device
    )  # (M, 1280)
    start = time.perf_counter()
    probe = train_linear_probe(f_tr, target.train_y, len(VEHICLES), epochs=100, seed=seed)
    acc = _accuracy(probe(f_te), target.test_y)
    return acc, t_tr + time.perf_counter() - start


def _scratch_accuracy(target: _Target, cfg: DomainConfig, *, seed: int, device: torch.device) -> tuple[float, float]:
    """No transfer at all: a SmallCNN trained from scratch on the few vehicle labels; accuracy and seconds."""
    model = SmallCNN(num_classes=len(VEHICLES), width=cfg.width)
    info = fit_images(
        model,
        _chw(target.train_x),
        target.train_y,
        FitConfig(epochs=cfg.finetune_epochs * 2, batch_size=32, lr=0.05),
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        device=device,
        seed=seed,
        desc="scratch",
    )
    logits = predict_images(
        model, _chw(target.test_x), image_size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD, device=device
    )
    return _accuracy(logits, target.test_y), info["train_time_s"]


def domain_experiment(
    config: DomainConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    seed: int = 0,
    device: torch.device | None = None,
) -> list[dict]:
    """Experiment 2: how related must the source be? Transfer to CIFAR-10 vehicles with few labels.

    Backbones: a SmallCNN pretrained on CIFAR-10's six animal classes (related: same camera, size and
    statistics, different objects), one pretrained on an unrelated source (Fashion-MNIST or digits,
    see :func:`unrelated_source`), one with random weights (no pretraining), and ImageNet's
    EfficientNet-Lite0. Each is used frozen (features computed once in eval mode, standardised, a
    linear head on top); the SmallCNNs are also fine-tuned (your ``replace_head`` and
    ``param_groups``), and a SmallCNN is trained from scratch on the few target labels for reference.
    Returns the rows (``domain.csv``, figure ``domain.png``).
    """
    cfg = config or (DomainConfig.quick() if quick_mode() else DomainConfig())
    device = device or get_device()
    out = _out_dir(out_dir)
    writer = _writer("ex2/domain")
    train_x, train_y = _arrays(cifar10(train=True))
    target = _vehicle_target((train_x, train_y), _arrays(cifar10(train=False)), cfg, seed)
    sources = _sources(train_x, train_y, cfg.source_per_class, seed)
    record = _Recorder(writer, len(target.train_y))
    bar = tqdm(total=len(sources) + 2, desc="exp 2: domain")
    for name, data in sources.items():
        seed_everything(seed)
        model = SmallCNN(num_classes=10, width=cfg.width)
        mean, std, pre_s, n_src = _pretrain(model, name, data, cfg, writer=writer, seed=seed, device=device)
        start = time.perf_counter()
        acc = _probe_accuracy(model, target, mean, std, seed=seed, device=device)
        record(name, "features", acc, pre_s, time.perf_counter() - start, n_src)
        start = time.perf_counter()
        acc = _finetune_accuracy(model, target, cfg, mean, std, seed=seed, device=device)
        record(name, "finetune", acc, pre_s, time.perf_counter() - start, n_src)
        bar.update()
    acc, seconds = _imagenet_probe(target, cfg, seed=seed, device=device)
    record("ImageNet (EfficientNet-Lite0)", "features", acc, 0.0, seconds, 1_281_167)
    bar.update()
    acc, seconds = _scratch_accuracy(target, cfg, seed=seed, device=device)
    record("none (trained from scratch)", "scratch", acc, 0.0, seconds, 0)
    bar.update()
    bar.close()
    writer.close()
    rows = record.rows
    for row in rows:
        row.update(test_images=len(target.test_y), quick=quick_mode())
    save_csv(rows, out / "domain.csv")
    plot_domain(rows, out / "domain.png")
    return rows
