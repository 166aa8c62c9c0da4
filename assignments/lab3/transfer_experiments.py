"""Exercise 2 experiments: transfer vs from scratch, domain relatedness, text (the notebook calls these).

Three experiments, each a function that trains, evaluates, logs to TensorBoard (``runs/ex2/...``),
prints progress bars, and writes a CSV next to its figure (in ``out_dir``, default ``runs/ex2``):

1. :func:`labels_experiment` — CIFAR-10 with 100 / 1 000 / 5 000 labelled images: a small CNN from
   scratch, feature extraction (frozen EfficientNet-Lite0 + linear head, features computed once and
   cached) and full fine-tuning with discriminative learning rates; test accuracy, training time,
   images seen. ``labels.csv`` + ``labels.png``.
2. :func:`domain_experiment` — backbones pretrained on a related source (CIFAR-10's six animal
   classes), an unrelated one (Fashion-MNIST; sklearn's handwritten digits when Fashion-MNIST
   cannot be found or fetched), none (random weights) and ImageNet, each transferred to CIFAR-10's
   four vehicle classes with few labels. ``domain.csv`` + ``domain.png``.
3. :func:`text_experiment` — SST-2 with all-MiniLM-L6-v2: feature extraction vs full fine-tuning.
   ``text.csv`` + ``text.png``.

Quick mode (``LAB3_QUICK=1``, see :func:`lab3.utils.quick_mode`) shrinks every experiment so that
all three finish in a few minutes on two CPU cores; the full mode is meant for a GPU (it runs on a
CPU too, slowly). The experiments use *your* ``replace_head``, ``freeze_backbone`` and
``param_groups``: finish those first.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import transfer
from .data import CIFAR10_MEAN, CIFAR10_STD, cifar10, data_home, sst2
from .models import SmallCNN
from .utils import get_device, quick_mode, runs_dir, seed_everything

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


# ----------------------------------------------------------------------------------------------
# Features of a frozen pretrained CNN (cached on disk)
# ----------------------------------------------------------------------------------------------


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
    **kwargs,
) -> tuple[torch.Tensor, float, bool]:
    """:func:`extract_features` with a disk cache; returns ``(features, seconds it took, cached?)``.

    The cache file name holds ``key``, the weights' tag, the image size and a hash of the pixels,
    so a different subset or model never reuses stale features. ``seconds`` is the time of the
    original extraction (stored next to the features), so reported training times stay honest.
    """
    cache = Path(cache_dir) if cache_dir is not None else data_home() / "features"
    tag = str(model.pretrained_cfg.get("tag", type(model).__name__)).replace("/", "_")
    digest = hashlib.sha1(np.ascontiguousarray(images).tobytes()).hexdigest()[:16]
    path = cache / f"{key}_{tag}_{image_size}px_{len(images)}_{digest}.pt"
    if path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            return blob["features"], float(blob["seconds"]), True
        except Exception:  # noqa: BLE001 - a corrupt cache entry is recomputed
            path.unlink(missing_ok=True)
    start = time.perf_counter()
    feats = extract_features(model, images, image_size=image_size, desc=f"features {key}", **kwargs)
    seconds = time.perf_counter() - start
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"features": feats, "seconds": seconds}, tmp)
    tmp.replace(path)
    return feats, seconds, False


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


# ----------------------------------------------------------------------------------------------
# Training CNNs on in-memory uint8 images
# ----------------------------------------------------------------------------------------------


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
    """Train ``model`` on uint8 ``images (N, 3, H, W)`` with OneCycle; returns time and images seen.

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
    start, seen, step = time.perf_counter(), 0, 0
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
    return {"train_time_s": time.perf_counter() - start, "images_seen": seen}


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


# ----------------------------------------------------------------------------------------------
# Experiment 1: from scratch vs transfer, by number of labels
# ----------------------------------------------------------------------------------------------


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


def plot_labels(rows: Sequence[dict], path: str | Path) -> Path:
    """Accuracy vs labels (log x) and training time vs labels, one line per method."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for method in dict.fromkeys(r["method"] for r in rows):
        rs = sorted((r for r in rows if r["method"] == method), key=lambda r: r["labels"])
        ns = [r["labels"] for r in rs]
        axes[0].plot(ns, [r["test_accuracy"] for r in rs], "o-", label=method)
        axes[1].plot(ns, [r["train_time_s"] for r in rs], "o-", label=method)
    axes[0].set(
        xscale="log",
        xlabel="labelled training images",
        ylabel="test accuracy",
        title="CIFAR-10: accuracy vs labels",
    )
    axes[1].set(
        xscale="log",
        yscale="log",
        xlabel="labelled training images",
        ylabel="training time (s)",
        title="training time",
    )
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


# ----------------------------------------------------------------------------------------------
# Experiment 2: domain relatedness
# ----------------------------------------------------------------------------------------------

FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _fashion_dirs() -> list[Path]:
    home = data_home()
    return [home / "fashion-mnist", home / "FashionMNIST" / "raw", DEBIAN_FASHION_MNIST]


def _find_fashion(split: str) -> Path | None:
    for folder in _fashion_dirs():
        names = FASHION_MNIST_FILES[split]
        for suffix in ("", "-"):  # gz files, or torchvision's unpacked copies
            paths = [folder / (n if suffix == "" else n[:-3]) for n in names]
            if all(p.exists() for p in paths):
                return folder
    return None


def fetch_fashion_mnist(verbose: bool = True) -> Path | None:
    """Find or fetch Fashion-MNIST's idx files; returns their folder, or ``None`` when impossible.

    Looks in ``data_home()/fashion-mnist``, torchvision's layout and the Debian package's folder;
    then tries torchvision's download; then, on Debian/Ubuntu, ``apt-get download
    dataset-fashion-mnist`` (no root needed) unpacked with ``dpkg-deb`` into ``data_home()``.
    """
    if (found := _find_fashion("train")) and _find_fashion("test"):
        return found
    errors = []
    try:
        from torchvision.datasets import FashionMNIST

        for train in (True, False):
            FashionMNIST(str(data_home()), train=train, download=True)
        if found := _find_fashion("train"):
            return found
    except Exception as exc:  # noqa: BLE001 - offline: try the next source
        errors.append(f"torchvision: {type(exc).__name__}")
    apt, dpkg = shutil.which("apt-get"), shutil.which("dpkg-deb")
    if apt and dpkg:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                subprocess.run(
                    [apt, "download", "dataset-fashion-mnist"],
                    cwd=tmp,
                    check=True,
                    capture_output=True,
                    timeout=300,
                )
                deb = next(Path(tmp).glob("dataset-fashion-mnist_*.deb"))
                subprocess.run(
                    [dpkg, "-x", str(deb), str(Path(tmp) / "x")], check=True, capture_output=True, timeout=300
                )
                target = data_home() / "fashion-mnist"
                target.mkdir(parents=True, exist_ok=True)
                for split in FASHION_MNIST_FILES.values():
                    for name in split:
                        shutil.copy(
                            Path(tmp) / "x" / DEBIAN_FASHION_MNIST.relative_to("/") / name, target / name
                        )
            return _find_fashion("train")
        except Exception as exc:  # noqa: BLE001
            errors.append(f"apt-get download: {type(exc).__name__}")
    if verbose:
        tqdm.write("Fashion-MNIST unavailable (" + "; ".join(errors) + ")")
    return None


def unrelated_source(max_images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Images of a domain unrelated to CIFAR vehicles as uint8 ``(N, 32, 32, 3)``, labels, and its name.

    Fashion-MNIST (10 clothing classes, 28x28 grey, padded to 32x32, grey copied to RGB) when it can be
    found or fetched (:func:`fetch_fashion_mnist`); otherwise sklearn's bundled handwritten digits
    (1 797 images, 8x8, upscaled): also real images from a domain unrelated to vehicles, always offline.
    """
    rng = np.random.default_rng(seed)
    folder = fetch_fashion_mnist()
    if folder is not None:
        names = FASHION_MNIST_FILES["train"]
        paths = [folder / n if (folder / n).exists() else folder / n[:-3] for n in names]
        x, y = _read_idx(paths[0]), _read_idx(paths[1]).astype(np.int64)
        idx = np.sort(rng.permutation(len(x))[:max_images])
        x = np.pad(x[idx], ((0, 0), (2, 2), (2, 2)))  # (N, 32, 32)
        return np.repeat(x[..., None], 3, axis=-1), y[idx], "Fashion-MNIST"
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy((digits.images * (255 / 16)).astype(np.float32))[:, None]  # (N, 1, 8, 8)
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).round().clamp(0, 255)
    x = x.to(torch.uint8).repeat(1, 3, 1, 1).permute(0, 2, 3, 1).numpy()  # (N, 32, 32, 3)
    idx = np.sort(rng.permutation(len(x))[:max_images])
    return x[idx], digits.target.astype(np.int64)[idx], "sklearn digits (Fashion-MNIST unavailable)"


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
    un_x, un_y, un_name = unrelated_source(cfg.source_per_class * 6, seed)
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


def plot_domain(rows: Sequence[dict], path: str | Path) -> Path:
    """Horizontal bars: vehicle test accuracy per source."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.5))
    labels = [f"{r['source']} [{r['method']}]" for r in rows]
    ax.barh(labels, [r["test_accuracy"] for r in rows], color="tab:blue")
    ax.axvline(1 / len(VEHICLES), color="grey", ls="--", label="chance")
    ax.set(
        xlabel="test accuracy on CIFAR-10 vehicles",
        xlim=(0, 1),
        title=f"transfer to vehicles with {rows[0]['target_labels']} labels",
    )
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


# ----------------------------------------------------------------------------------------------
# Experiment 3: text (SST-2 with all-MiniLM-L6-v2)
# ----------------------------------------------------------------------------------------------


@dataclass
class TextConfig:
    """Sizes of experiment 3."""

    train_sentences: int = 1000
    test_sentences: int = 1821  # 1821 = the whole SST-2 test split
    finetune_epochs: int = 2
    batch_size: int = 16
    max_length: int = 64
    lr: float = 5e-5  # fine-tuning (every layer)
    head_lr: float = 1e-2  # feature extraction (the head only)
    head_epochs: int = 100

    @classmethod
    def quick(cls) -> TextConfig:
        return cls(train_sentences=200, test_sentences=300, finetune_epochs=2)


def _balanced(rows: list[tuple[str, int]], n: int, seed: int) -> list[tuple[str, int]]:
    rng = np.random.default_rng(seed)
    labels = np.array([y for _, y in rows])
    picks = np.concatenate(
        [rng.permutation(np.flatnonzero(labels == c))[: n // 2 + (c < n % 2)] for c in (0, 1)]
    )
    return [rows[i] for i in np.sort(picks)]


def _encode(tokenizer, sentences: Sequence[str], max_length: int, device) -> dict:
    batch = tokenizer(
        list(sentences), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    return {k: v.to(device) for k, v in batch.items()}


@torch.no_grad()
def _sentence_features(
    model, tokenizer, sentences: Sequence[str], max_length: int, batch_size: int, device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen-encoder sentence vectors: the pooled ``[CLS]`` output and the masked mean of the tokens."""
    cls, mean = [], []
    for i in tqdm(range(0, len(sentences), batch_size), desc="text features", leave=False):
        batch = _encode(tokenizer, sentences[i : i + batch_size], max_length, device)
        out = model.bert(**batch)
        mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
        cls.append(out.pooler_output.float().cpu())
        mean.append(
            ((out.last_hidden_state * mask).sum(1) / mask.sum(1).clamp_min(1)).float().cpu()
        )  # (B, H)
    return torch.cat(cls), torch.cat(mean)


def text_experiment(
    config: TextConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    seed: int = 0,
    device: torch.device | None = None,
) -> list[dict]:
    """Experiment 3: SST-2 sentiment with all-MiniLM-L6-v2, feature extraction vs full fine-tuning.

    ``features``: ``text_classifier(mode="features")``, the frozen encoder's pooled vectors computed
    once, then the classification head trained on them. ``finetune``: ``text_classifier(mode="finetune")``,
    every layer trained with AdamW (linear warmup/decay). Returns the rows (``text.csv``, ``text.png``).
    """
    cfg = config or (TextConfig.quick() if quick_mode() else TextConfig())
    device = device or get_device()
    out = _out_dir(out_dir)
    writer = _writer("ex2/text")
    train = _balanced(sst2("train"), cfg.train_sentences, seed)
    test = sst2("test")
    if cfg.test_sentences < len(test):
        test = _balanced(test, cfg.test_sentences, seed)
    train_s, train_y = [s for s, _ in train], torch.tensor([y for _, y in train])
    test_s, test_y = [s for s, _ in test], torch.tensor([y for _, y in test])
    rows = []
    bs = cfg.batch_size * 4

    @torch.inference_mode()
    def predict(model, tokenizer) -> torch.Tensor:
        model.eval()
        return torch.cat(
            [
                model(**_encode(tokenizer, test_s[i : i + bs], cfg.max_length, device)).logits.float().cpu()
                for i in tqdm(range(0, len(test_s), bs), desc="evaluate", leave=False)
            ]
        )

    # --- feature extraction: frozen encoder, sentence vectors computed once, a linear head on them
    seed_everything(seed)
    model, tokenizer = transfer.text_classifier(2, mode="features")
    model.to(device).eval()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    start = time.perf_counter()
    cls_tr, mean_tr = _sentence_features(model, tokenizer, train_s, cfg.max_length, bs, device)
    t_feats = time.perf_counter() - start
    cls_te, mean_te = _sentence_features(model, tokenizer, test_s, cfg.max_length, bs, device)
    variants = (
        ("features", "[CLS] pooler (the model's own head input)", cls_tr, cls_te, model.classifier.cpu()),
        (
            "features-mean",
            "mean of the token vectors (how all-MiniLM-L6-v2 was trained)",
            mean_tr,
            mean_te,
            nn.Linear(mean_tr.shape[1], 2),
        ),
    )
    for method, what, f_tr, f_te, head in variants:
        start = time.perf_counter()
        opt = torch.optim.AdamW(head.parameters(), lr=cfg.head_lr, weight_decay=1e-3)
        for epoch in range(cfg.head_epochs):
            loss = F.cross_entropy(head(f_tr), train_y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            writer.add_scalar(f"{method}/train_loss", float(loss.detach()), epoch)
        t = t_feats + time.perf_counter() - start
        with torch.no_grad():
            acc = _accuracy(head(f_te), test_y)
        rows.append(
            {
                "method": method,
                "train_sentences": len(train_s),
                "test_accuracy": round(acc, 4),
                "train_time_s": round(t, 2),
                "trainable_params": trainable,
                "epochs": cfg.head_epochs,
                "sentence_vector": what,
            }
        )
        tqdm.write(f"[text] {method}: test acc {acc:.3f}, {t:.1f} s")

    # --- full fine-tuning
    seed_everything(seed)
    model, tokenizer = transfer.text_classifier(2, mode="finetune")
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    steps = cfg.finetune_epochs * -(-len(train_s) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.0, (steps - s) / steps)
    )
    start, step = time.perf_counter(), 0
    model.train()
    for _ in tqdm(range(cfg.finetune_epochs), desc="text fine-tune"):
        perm = torch.randperm(len(train_s)).tolist()
        for i in range(0, len(perm), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            batch = _encode(tokenizer, [train_s[j] for j in idx], cfg.max_length, device)
            loss = F.cross_entropy(model(**batch).logits, train_y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            writer.add_scalar("finetune/train_loss", float(loss.detach()), step)
    t = time.perf_counter() - start
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    acc = _accuracy(predict(model, tokenizer), test_y)
    rows.append(
        {
            "method": "finetune",
            "train_sentences": len(train_s),
            "test_accuracy": round(acc, 4),
            "train_time_s": round(t, 2),
            "trainable_params": trainable,
            "epochs": cfg.finetune_epochs,
            "sentence_vector": "[CLS] pooler, every layer trained",
        }
    )
    tqdm.write(f"[text] finetune: test acc {acc:.3f}, {t:.1f} s")
    writer.close()
    for row in rows:
        row.update(test_sentences=len(test_s), quick=quick_mode())
    save_csv(rows, out / "text.csv")
    plot_text(rows, out / "text.png")
    return rows


def plot_text(rows: Sequence[dict], path: str | Path) -> Path:
    """Two bar charts: test accuracy and training time per method."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    names = [r["method"] for r in rows]
    colors = ["tab:blue", "tab:cyan", "tab:orange"][: len(rows)]
    axes[0].bar(names, [r["test_accuracy"] for r in rows], color=colors)
    axes[0].set(
        ylim=(0.5, 1.0), ylabel="test accuracy", title=f"SST-2, {rows[0]['train_sentences']} sentences"
    )
    axes[1].bar(names, [r["train_time_s"] for r in rows], color=colors)
    axes[1].set(ylabel="training time (s)", title="training time")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def run_all(out_dir: str | Path | None = None, seed: int = 0) -> dict[str, list[dict]]:
    """All three experiments (quick or full, per ``LAB3_QUICK``); returns their rows by name."""
    results = {}
    for name, fn in (("labels", labels_experiment), ("domain", domain_experiment), ("text", text_experiment)):
        start = time.perf_counter()
        results[name] = fn(out_dir=out_dir, seed=seed)
        tqdm.write(f"== {name}: {time.perf_counter() - start:.1f} s")
    return results


def summary(results: dict[str, list[dict]]) -> str:
    """The three tables as text."""
    return "\n\n".join(f"{name}\n{format_table(rows)}" for name, rows in results.items())


__all__ = [
    "labels_experiment",
    "domain_experiment",
    "text_experiment",
    "run_all",
    "summary",
    "LabelsConfig",
    "DomainConfig",
    "TextConfig",
    "FitConfig",
    "cached_features",
    "extract_features",
    "train_linear_probe",
    "fit_images",
    "predict_images",
    "unrelated_source",
    "fetch_fashion_mnist",
    "save_csv",
    "format_table",
]
