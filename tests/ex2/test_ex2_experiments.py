"""The Exercise 2 experiments module on tiny configurations (files, tables, caching, data sources)."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from lab3 import transfer_experiments as ex2


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LAB3_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path


def _need_cifar() -> None:
    from lab3.data import DataError, cifar10

    try:
        cifar10(train=False, download=False)
    except DataError:
        pytest.skip("CIFAR-10 not fetched (run `lab3 data`)")


def _csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_cached_features_are_reused(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = timm.create_model("efficientnet_lite0")
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    first, seconds, cached = ex2.cached_features(model, images, "t", image_size=32, cache_dir=tmp_path)
    assert first.shape == (5, 1280) and not cached
    again, seconds2, cached2 = ex2.cached_features(model, images, "t", image_size=32, cache_dir=tmp_path)
    assert cached2 and seconds2 == pytest.approx(seconds) and torch.equal(first, again)
    other, _, cached3 = ex2.cached_features(model, images[:4], "t", image_size=32, cache_dir=tmp_path)
    assert not cached3 and other.shape == (4, 1280)
    assert len(list(tmp_path.glob("t_*.pt"))) == 2


def test_linear_probe_fits_separable_features() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 8, generator=g)
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
    predict = ex2.train_linear_probe(x, y, 4, epochs=60, lr=0.05)
    assert (predict(x).argmax(-1) == y).float().mean() > 0.9


def test_to_model_input_resizes_and_normalises() -> None:
    images = torch.full((2, 32, 32, 3), 255, dtype=torch.uint8)
    x = ex2.to_model_input(images, 64, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert x.shape == (2, 3, 64, 64)
    torch.testing.assert_close(x, torch.ones_like(x))


def test_format_table_and_csv(tmp_path: Path) -> None:
    rows = [{"method": "a", "acc": 0.5}, {"method": "bb", "acc": 0.25}]
    text = ex2.format_table(rows)
    assert "0.500" in text and "bb" in text
    assert _csv(ex2.save_csv(rows, tmp_path / "t.csv")) == [
        {"method": "a", "acc": "0.5"},
        {"method": "bb", "acc": "0.25"},
    ]


def test_fashion_mnist_idx_files_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    images = np.arange(3 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(3, 28, 28)
    labels = np.array([1, 7, 9], np.uint8)
    for split in ("train", "test"):
        img_name, lab_name = ex2.FASHION_MNIST_FILES[split]
        with gzip.open(folder / img_name, "wb") as f:
            f.write(
                bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (3, 28, 28)) + images.tobytes()
            )
        with gzip.open(folder / lab_name, "wb") as f:
            f.write(bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + labels.tobytes())
    monkeypatch.setattr(ex2.fashion, "_fashion_dirs", lambda: [folder])
    x, y, name = ex2.unrelated_source(10)
    assert name == "Fashion-MNIST" and x.shape == (3, 32, 32, 3) and x.dtype == np.uint8
    assert y.tolist() == [1, 7, 9]
    np.testing.assert_array_equal(x[:, 2:30, 2:30, 0], images)


def test_unrelated_source_falls_back_to_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ex2.fashion, "fetch_fashion_mnist", lambda verbose=True: None)
    x, y, name = ex2.unrelated_source(50)
    assert (
        "digits" in name and x.shape == (50, 32, 32, 3) and x.dtype == np.uint8 and set(y) <= set(range(10))
    )
    assert x.max() > 200  # strokes are bright


@pytest.mark.slow
def test_labels_experiment_tiny(runs: Path) -> None:
    _need_cifar()
    cfg = ex2.LabelsConfig(
        labels=(20,),
        test_per_class=2,
        feature_size=32,
        finetune_size=32,
        finetune_labels=(20,),
        scratch_images=20,
        finetune_images=20,
        probe_epochs=2,
        scratch_width=8,
    )
    rows = ex2.labels_experiment(cfg, out_dir=runs / "out", device=torch.device("cpu"))
    assert [r["method"] for r in rows] == ["features", "scratch", "finetune"]
    assert all(
        0.0 <= r["test_accuracy"] <= 1.0 and r["labels"] == 20 and r["test_images"] == 20 for r in rows
    )
    table = _csv(runs / "out" / "labels.csv")
    assert len(table) == 3 and {"method", "labels", "test_accuracy", "train_time_s", "images_seen"} <= set(
        table[0]
    )
    assert (runs / "out" / "labels.png").stat().st_size > 1000
    assert list((runs / "runs" / "ex2" / "labels").glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_domain_experiment_tiny(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _need_cifar()
    monkeypatch.setattr(ex2.fashion, "fetch_fashion_mnist", lambda verbose=True: None)
    cfg = ex2.DomainConfig(
        source_per_class=5,
        source_epochs=1,
        target_per_class=2,
        test_per_class=2,
        width=8,
        feature_size=32,
        finetune_epochs=1,
    )
    rows = ex2.domain_experiment(cfg, out_dir=runs / "out", device=torch.device("cpu"))
    sources = [r["source"] for r in rows]
    assert sources[0].startswith("CIFAR-10 animals") and "digits" in sources[2]
    assert any(s.startswith("ImageNet") for s in sources) and sources[-1].startswith("none (trained")
    assert {r["method"] for r in rows} == {"features", "finetune", "scratch"}
    assert (runs / "out" / "domain.csv").exists() and (runs / "out" / "domain.png").exists()


@pytest.mark.slow
def test_text_experiment_tiny(runs: Path) -> None:
    cfg = ex2.TextConfig(
        train_sentences=8, test_sentences=6, finetune_epochs=1, batch_size=4, head_epochs=2, max_length=16
    )
    rows = ex2.text_experiment(cfg, out_dir=runs / "out", device=torch.device("cpu"))
    assert [r["method"] for r in rows] == ["features", "features-mean", "finetune"]
    assert rows[0]["trainable_params"] == 770 and rows[2]["trainable_params"] == 22_713_986
    assert all(r["test_sentences"] == 6 for r in rows)
    assert (runs / "out" / "text.csv").exists() and (runs / "out" / "text.png").exists()
