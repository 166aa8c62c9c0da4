"""The unrelated source of Experiment 2: Fashion-MNIST (found or fetched), else sklearn's digits."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data import data_home

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
