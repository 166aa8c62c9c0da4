"""Product tests of ``lab3.optim``: the warmup + cosine multiplier against Hugging Face
``transformers`` at every step, and the two parameter groups of ``build_optimizer``."""

from __future__ import annotations

import pytest
import torch
from lab3.optim import build_optimizer, build_scheduler, steps_per_epoch, warmup_cosine
from torch import nn
from transformers import get_cosine_schedule_with_warmup, get_cosine_with_min_lr_schedule_with_warmup

from autograder.child.probes.optim import GroupsNet as Model  # every kind of parameter (the grader uses it too)

CASES = [(0, 10), (1, 10), (3, 20), (10, 10), (5, 7), (100, 1000), (0, 1)]


def _lrs_of(scheduler: torch.optim.lr_scheduler.LRScheduler, steps: int) -> list[float]:
    lrs = []
    for _ in range(steps + 1):
        lrs.append(scheduler.optimizer.param_groups[0]["lr"])
        scheduler.optimizer.step()
        scheduler.step()
    return lrs


def _opt() -> torch.optim.Optimizer:
    return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)


@pytest.mark.parametrize(("warmup", "total"), CASES)
def test_warmup_cosine_equals_transformers(warmup: int, total: int) -> None:
    hf = get_cosine_schedule_with_warmup(_opt(), num_warmup_steps=warmup, num_training_steps=total)
    expected = [hf.lr_lambdas[0](step) for step in range(total + 1)]
    got = [warmup_cosine(step, warmup_steps=warmup, total_steps=total) for step in range(total + 1)]
    assert got == pytest.approx(expected, abs=1e-12)
    assert all(isinstance(v, float) for v in got)


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.5])
@pytest.mark.parametrize(("warmup", "total"), CASES)
def test_warmup_cosine_with_min_lr_equals_transformers(warmup: int, total: int, ratio: float) -> None:
    hf = get_cosine_with_min_lr_schedule_with_warmup(
        _opt(), num_warmup_steps=warmup, num_training_steps=total, min_lr_rate=ratio
    )
    for step in range(total + 1):
        expected = hf.lr_lambdas[0](step)
        got = warmup_cosine(step, warmup_steps=warmup, total_steps=total, min_lr_ratio=ratio)
        assert got == pytest.approx(expected, abs=1e-12), f"step {step}"
    assert warmup_cosine(total, warmup_steps=warmup, total_steps=total, min_lr_ratio=ratio) == pytest.approx(
        ratio if total > warmup else 1.0
    )


def test_warmup_cosine_shape() -> None:
    values = [warmup_cosine(s, warmup_steps=4, total_steps=12) for s in range(13)]
    assert values[:5] == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert values[8] == pytest.approx(0.5)  # half-way through the decay
    assert values[-1] == pytest.approx(0.0)
    assert all(a >= b for a, b in zip(values[4:], values[5:], strict=False))


@pytest.mark.parametrize("ratio", [0.0, 0.2])
def test_build_scheduler_steps_like_transformers(ratio: float) -> None:
    ours = build_scheduler(_opt(), warmup_steps=3, total_steps=15, min_lr_ratio=ratio)
    if ratio:
        theirs = get_cosine_with_min_lr_schedule_with_warmup(_opt(), 3, 15, min_lr_rate=ratio)
    else:
        theirs = get_cosine_schedule_with_warmup(_opt(), 3, 15)
    assert _lrs_of(ours, 15) == pytest.approx(_lrs_of(theirs, 15), abs=1e-12)


def test_steps_per_epoch_counts_the_leftover() -> None:
    assert steps_per_epoch(10, 3) == 4 and steps_per_epoch(9, 3) == 3 and steps_per_epoch(5) == 5


def _names(model: nn.Module, params) -> set[str]:
    ids = {id(p) for p in params}
    return {n for n, p in model.named_parameters() if id(p) in ids}


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("sgd", torch.optim.SGD),
        ("adam", torch.optim.Adam),
        ("adamw", torch.optim.AdamW),
        ("AdamW", torch.optim.AdamW),
    ],
)
def test_build_optimizer_groups(name: str, cls: type) -> None:
    model = Model()
    opt = build_optimizer(model, name, lr=0.01, weight_decay=0.05)
    assert type(opt) is cls
    assert len(opt.param_groups) == 2
    decay, no_decay = opt.param_groups
    assert _names(model, decay["params"]) == {"emb.weight", "conv.weight", "fc.weight", "head.weight"}
    assert _names(model, no_decay["params"]) == {
        "conv.bias",
        "bn.weight",
        "bn.bias",
        "fc.bias",
        "ln.weight",
        "ln.bias",
        "scale",
    }
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert decay["lr"] == no_decay["lr"] == 0.01


def test_build_optimizer_hyperparameters() -> None:
    sgd = build_optimizer(Model(), "sgd", lr=0.1)
    assert all(g["momentum"] == 0.9 for g in sgd.param_groups)
    assert build_optimizer(Model(), "sgd", lr=0.1, momentum=0.5).param_groups[0]["momentum"] == 0.5
    adam = build_optimizer(Model(), "adam", lr=0.1, betas=(0.8, 0.99))
    assert all(g["betas"] == (0.8, 0.99) for g in adam.param_groups)
    assert build_optimizer(Model(), "adamw", lr=0.1).param_groups[0]["weight_decay"] == 0.0


@pytest.mark.parametrize("name", ["rmsprop", "", "sgd-momentum", "lion"])
def test_build_optimizer_rejects_unknown_names(name: str) -> None:
    with pytest.raises(ValueError, match="sgd"):
        build_optimizer(Model(), name, lr=0.1)


def test_adamw_decay_is_decoupled_and_skips_no_decay() -> None:
    """One AdamW step with zero gradients: decayed weights shrink by lr*wd, biases do not move."""
    model = Model()
    opt = build_optimizer(model, "adamw", lr=0.1, weight_decay=0.5)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p) if p.requires_grad else None
    opt.step()
    assert torch.allclose(model.fc.weight, before["fc.weight"] * (1 - 0.1 * 0.5))
    assert torch.equal(model.fc.bias, before["fc.bias"]) and torch.equal(model.ln.weight, before["ln.weight"])


def test_build_optimizer_skips_frozen_and_places_shared_once() -> None:
    model = Model()
    model.tied = model.fc  # the same parameters reachable twice
    decay, no_decay = build_optimizer(model, "sgd", lr=0.1).param_groups
    ids = [id(p) for p in decay["params"] + no_decay["params"]]
    assert len(ids) == len(set(ids)) == len({id(p) for p in model.parameters() if p.requires_grad})
