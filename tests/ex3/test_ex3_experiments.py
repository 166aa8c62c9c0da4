"""Smoke tests of ``lab3.ex3_experiments`` on random tensors (the notebook runs them on CIFAR-10)."""

from __future__ import annotations

import csv

import pytest
import torch
from lab3 import ex3_experiments as ex3


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> tuple[ex3.Ex3Config, ex3.Ex3Data]:
    monkeypatch.setenv("LAB3_RUNS_DIR", str(tmp_path / "runs"))
    g = torch.Generator().manual_seed(0)
    data = ex3.Ex3Data(
        torch.randn(64, 3, 32, 32, generator=g),
        torch.randint(0, 10, (64,), generator=g),
        torch.randn(32, 3, 32, 32, generator=g),
        torch.randint(0, 10, (32,), generator=g),
    )
    cfg = ex3.Ex3Config(
        epochs=1, ablation_epochs=1, amp_epochs=1, batch_size=32, width=4, accumulation_steps=4
    )
    return cfg, data


def test_quick_config_is_small(monkeypatch) -> None:
    monkeypatch.setenv("LAB3_QUICK", "1")
    quick = ex3.Ex3Config.for_mode()
    assert quick.train_per_class * 10 <= 1000 and quick.width <= 8 and quick.epochs <= 4
    monkeypatch.setenv("LAB3_QUICK", "0")
    assert ex3.Ex3Config.for_mode() == ex3.Ex3Config()


@pytest.mark.slow
def test_optimizer_comparison_rows_and_logs(tiny, tmp_path) -> None:
    cfg, data = tiny
    rows, hist = ex3.optimizer_comparison(data, cfg, "cpu", optimizers=("sgd", "adamw"))
    assert [(r["optimizer"], r["schedule"]) for r in rows] == [
        ("sgd", "constant"),
        ("sgd", "warmup_cosine"),
        ("adamw", "constant"),
        ("adamw", "warmup_cosine"),
    ]
    assert set(hist) == {"sgd/constant", "sgd/warmup_cosine", "adamw/constant", "adamw/warmup_cosine"}
    assert all(0 <= r["final_test_acc"] <= 1 for r in rows)
    assert list(
        (tmp_path / "runs" / "ex3" / "optimizers" / "sgd_warmup_cosine").glob("events.out.tfevents.*")
    )
    path = ex3.save_csv(rows, tmp_path / "t.csv")
    assert len(list(csv.DictReader(path.open()))) == 4
    fig = ex3.plot_histories(hist, path=tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 0 and len(fig.axes) == 2


@pytest.mark.slow
def test_regularization_ablation_reports_the_gap(tiny, tmp_path) -> None:
    cfg, data = tiny
    rows, _ = ex3.regularization_ablation(data, cfg, "cpu", variants=("none", "augmentation"))
    assert [r["variant"] for r in rows] == ["none", "augmentation"]
    for r in rows:
        assert r["gap"] == pytest.approx(r["train_acc"] - r["test_acc"], abs=1e-3)
    ex3.plot_gap(rows, path=tmp_path / "gap.png")
    assert "variant" in ex3.format_table(rows)


@pytest.mark.slow
def test_amp_comparison_on_cpu_uses_bfloat16(tiny) -> None:
    cfg, data = tiny
    rows = ex3.amp_comparison(data, cfg, "cpu")
    assert [(r["amp"], r["dtype"], r["grad_scaler"]) for r in rows] == [
        (False, "float32", False),
        (True, "bfloat16", False),
    ]


@pytest.mark.slow
def test_accumulation_matches_large_batch(tiny) -> None:
    cfg, data = tiny
    rows, hist = ex3.accumulation_vs_large_batch(data, cfg, "cpu")
    assert rows[0]["max_weight_diff_one_step"] < 1e-5
    assert rows[0]["effective_batch"] == rows[1]["effective_batch"] == 32
    a, b = hist.values()
    assert a[-1]["train_loss"] == pytest.approx(b[-1]["train_loss"], rel=1e-4)


def test_checkpointing_saves_activation_memory() -> None:
    rows = ex3.checkpointing_comparison(ex3.Ex3Config(width=4), "cpu", batch_size=8, repeats=1)
    assert rows[1]["saved_activations_MB"] < rows[0]["saved_activations_MB"]
