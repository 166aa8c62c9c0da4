"""Experiment 2: how related must the source be? Transfer to CIFAR-10 vehicles with few labels."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

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
    test_x, test_y = _arrays(cifar10(train=False))
    remap = np.full(10, -1)
    remap[list(VEHICLES)] = np.arange(len(VEHICLES))
    tgt_idx = _subset(train_y, VEHICLES, cfg.target_per_class, seed)
    tst_idx = _subset(test_y, VEHICLES, cfg.test_per_class, seed)
    tgt_x, tgt_y = train_x[tgt_idx], torch.from_numpy(remap[train_y[tgt_idx]])
    tst_x, tst_y = test_x[tst_idx], torch.from_numpy(remap[test_y[tst_idx]])
    n_cls = len(VEHICLES)

    animal_idx = _subset(train_y, ANIMALS, cfg.source_per_class, seed)
    amap = np.full(10, -1)
    amap[list(ANIMALS)] = np.arange(len(ANIMALS))
    un_x, un_y, un_name = fashion.unrelated_source(cfg.source_per_class * 6, seed)
    sources = {
        "CIFAR-10 animals (related)": (train_x[animal_idx], amap[train_y[animal_idx]]),
        f"{un_name} (unrelated)": (un_x, un_y),
        "none (random weights)": None,
    }
    rows = []

    def record(source: str, method: str, acc: float, pre_s: float, t: float, n_src: int) -> None:
        rows.append(
            {
                "source": source,
                "method": method,
                "target_labels": len(tgt_y),
                "test_accuracy": round(acc, 4),
                "pretrain_time_s": round(pre_s, 2),
                "transfer_time_s": round(t, 2),
                "source_images": n_src,
            }
        )
        writer.add_scalar(f"{method}/{source}", acc, 0)
        tqdm.write(f"[domain] {source:34s} {method:8s}: vehicle test acc {acc:.3f}")

    bar = tqdm(total=len(sources) + 2, desc="exp 2: domain")
    for name, data in sources.items():
        seed_everything(seed)
        model = SmallCNN(num_classes=10, width=cfg.width)
        pre_s, n_src = 0.0, 0
        mean, std = CIFAR10_MEAN, CIFAR10_STD
        if data is not None:
            x, y = data
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
            pre_s, n_src = info["train_time_s"], len(x)
        # (a) feature extraction: the frozen backbone's features (eval mode), a linear head on them
        start = time.perf_counter()
        f_tr = _smallcnn_features(model, tgt_x, mean, std, device)
        f_te = _smallcnn_features(model, tst_x, mean, std, device)
        probe = train_linear_probe(f_tr, tgt_y, n_cls, epochs=100, seed=seed)
        acc = _accuracy(probe(f_te), tst_y)
        record(name, "features", acc, pre_s, time.perf_counter() - start, n_src)
        # (b) fine-tuning: your replace_head and param_groups (backbone lr 10x smaller than the head's)
        start = time.perf_counter()
        head = transfer.replace_head(model, n_cls)
        fit = FitConfig(epochs=cfg.finetune_epochs, batch_size=32, lr=0.05, backbone_lr=0.005)
        opt = torch.optim.SGD(
            transfer.param_groups(model, head, fit.backbone_lr, fit.lr, weight_decay=fit.weight_decay),
            lr=fit.lr,
            momentum=0.9,
            nesterov=True,
        )
        fit_images(
            model,
            _chw(tgt_x),
            tgt_y,
            fit,
            mean=mean,
            std=std,
            optimizer=opt,
            device=device,
            seed=seed,
            desc="fine-tune",
        )
        logits = predict_images(model, _chw(tst_x), image_size=32, mean=mean, std=std, device=device)
        record(name, "finetune", _accuracy(logits, tst_y), pre_s, time.perf_counter() - start, n_src)
        bar.update()
    # ImageNet: frozen EfficientNet-Lite0 + linear probe on cached features
    backbone = transfer.load_pretrained("efficientnet_lite0")
    f_tr, t_tr, _ = cached_features(
        backbone, tgt_x, "vehicles_train", image_size=cfg.feature_size, device=device
    )
    f_te, _, _ = cached_features(backbone, tst_x, "vehicles_test", image_size=cfg.feature_size, device=device)
    start = time.perf_counter()
    probe = train_linear_probe(f_tr, tgt_y, n_cls, epochs=100, seed=seed)
    record(
        "ImageNet (EfficientNet-Lite0)",
        "features",
        _accuracy(probe(f_te), tst_y),
        0.0,
        t_tr + time.perf_counter() - start,
        1_281_167,
    )
    bar.update()
    # no transfer at all: a SmallCNN trained from scratch on the few vehicle labels
    model = SmallCNN(num_classes=n_cls, width=cfg.width)
    info = fit_images(
        model,
        _chw(tgt_x),
        tgt_y,
        FitConfig(epochs=cfg.finetune_epochs * 2, batch_size=32, lr=0.05),
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        device=device,
        seed=seed,
        desc="scratch",
    )
    acc = _accuracy(
        predict_images(model, _chw(tst_x), image_size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD, device=device),
        tst_y,
    )
    record("none (trained from scratch)", "scratch", acc, 0.0, info["train_time_s"], 0)
    bar.update()
    bar.close()
    writer.close()
    for row in rows:
        row.update(test_images=len(tst_y), quick=quick_mode())
    save_csv(rows, out / "domain.csv")
    plot_domain(rows, out / "domain.png")
    return rows
