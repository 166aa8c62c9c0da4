"""SST-2: through Hugging Face ``datasets`` (exercised on a local copy with the GLUE layout), through
``LAB3_SST2_DIR`` (checksums), and one clear error that names both ways."""

from __future__ import annotations

from pathlib import Path

import pytest
from lab3 import data
from lab3.settings import value

GLUE_README = """---
configs:
- config_name: sst2
  data_files:
  - split: train
    path: sst2/train-*
  - split: validation
    path: sst2/validation-*
  - split: test
    path: sst2/test-*
---
"""


def local_copy() -> Path:
    path = value("LAB3_SST2_DIR")
    if path is None:
        pytest.skip("LAB3_SST2_DIR is not set (make test sets it to the local SST-2 copy)")
    return path


def glue_like(src: Path, folder: Path, sizes: dict[str, int] | None = None) -> Path:
    """A folder with the GLUE SST-2 layout (parquet per split, README configs), from the local copy."""
    import datasets

    sizes = sizes or data.GLUE_SST2_SIZES
    rows = {s: data._sst2_from_dir(src, s) for s in ("train", "dev", "test")}
    parts = {"train": rows["train"], "validation": rows["dev"], "test": [(s, -1) for s, _ in rows["test"]]}
    (folder / "sst2").mkdir(parents=True)
    for split, n in sizes.items():
        pool = parts[split]
        picked = [pool[i % len(pool)] for i in range(n)]  # GLUE's train has 67 349 rows (phrases too)
        ds = datasets.Dataset.from_dict({"sentence": [s + " " for s, _ in picked], "label": [y for _, y in picked],
                                         "idx": list(range(n))})
        ds.to_parquet(str(folder / "sst2" / f"{split}-00000-of-00001.parquet"))
    (folder / "README.md").write_text(GLUE_README)
    return folder


@pytest.fixture
def src() -> Path:
    """The local copy (read before hf_env removes LAB3_SST2_DIR)."""
    return local_copy()


@pytest.fixture
def hf_env(tmp_path, monkeypatch):
    """Offline, a private datasets cache, no LAB3_SST2_DIR: only the datasets way is left."""
    monkeypatch.delenv("LAB3_SST2_DIR", raising=False)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path


def test_datasets_loader_on_a_local_glue_copy(src, hf_env, tmp_path, monkeypatch):
    folder = glue_like(src, tmp_path / "glue")
    monkeypatch.setenv("LAB3_SST2_HF", str(folder))
    train, dev, test = data.sst2("train"), data.sst2("dev"), data.sst2("test")
    assert len(train) == 67_349 and len(dev) == 872
    assert test == dev  # GLUE hides its test labels: the lab tests on the labelled validation split
    assert {y for _, y in train} == {0, 1} and all(s == s.strip() for s, _ in dev[:20])
    assert "datasets" in data.download_sst2() and str(folder) in data.download_sst2()


def test_datasets_loader_checks_split_sizes(src, hf_env, tmp_path, monkeypatch):
    folder = glue_like(src, tmp_path / "short", {"train": 100, "validation": 872, "test": 1821})
    monkeypatch.setenv("LAB3_SST2_HF", str(folder))
    with pytest.raises(data.DataError, match="split train has 100 rows, expected 67349"):
        data.sst2("dev")


def test_local_folder_is_verified(src, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB3_SST2_DIR", str(src))
    assert len(data.sst2("train")) == 6920 and len(data.sst2("test")) == 1821
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in data.SST2_FILES.values():
        (bad / name).write_bytes((src / name).read_bytes())
    (bad / "stsa.binary.dev").write_text("1 a changed sentence\n")
    monkeypatch.setenv("LAB3_SST2_DIR", str(bad))
    with pytest.raises(data.DataError, match="SHA-256"):
        data.sst2("dev")


def test_neither_way_is_one_error_naming_both(hf_env, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB3_SST2_HF", str(tmp_path / "no-such-copy"))
    with pytest.raises(data.DataError) as info:
        data.sst2("train")
    message = str(info.value)
    assert "LAB3_SST2_DIR" in message and "datasets" in message and "stsa.binary.train" in message
