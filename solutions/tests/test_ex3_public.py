"""Public checks for Exercise 3 (optimization and regularization).

They run your ``train_one_epoch``, ``build_optimizer`` and ``warmup_cosine`` on tiny models in seconds.
The hidden tests check the same rules more thoroughly (float16 + GradScaler, clipping order, the
schedule at every step, accuracy of a small CNN trained by your loop on CIFAR-10).
Run them with ``lab3 check`` or ``pytest tests/test_ex3_public.py -q``.
"""

from __future__ import annotations

import math

import pytest
import torch
from lab3.optim import build_optimizer, build_scheduler, warmup_cosine
from lab3.training import train_one_epoch
from torch import nn

CE = nn.CrossEntropyLoss()


class Tiny(nn.Module):
    """Linear -> LayerNorm -> ReLU -> Linear; records the dtype of the hidden activation."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.norm, self.fc2 = nn.Linear(6, 12), nn.LayerNorm(12), nn.Linear(12, 3)
        self.seen: list[torch.dtype] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)  # (B, 12)
        self.seen.append(h.dtype)
        return self.fc2(torch.relu(self.norm(h)))  # (B, 3)


def _tiny(seed: int = 0) -> Tiny:
    torch.manual_seed(seed)
    return Tiny()


def _data(n: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


def _split(x, y, size: int):
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]


def _max_diff(a: nn.Module, b: nn.Module) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters(), strict=True))


# ------------------------------------------------------------------------------------ train_one_epoch
@pytest.mark.area("train_loop")
def test_returns_the_four_keys() -> None:
    model, (x, y) = _tiny(), _data(20)
    out = train_one_epoch(model, _split(x, y, 5), torch.optim.SGD(model.parameters(), lr=0.1), CE)
    assert isinstance(out, dict), "train_one_epoch must return a dict"
    missing = {"loss", "steps", "samples_per_s", "global_step"} - set(out)
    assert not missing, f"the returned dict lacks {sorted(missing)}"
    assert out["steps"] == 4 and out["global_step"] == 4, f"4 batches, k=1 -> 4 steps; got {out}"
    assert math.isfinite(out["loss"]) and out["samples_per_s"] > 0


@pytest.mark.area("accumulation")
def test_accumulation_equals_one_big_batch() -> None:
    x, y = _data(32)
    small, big = _tiny(), _tiny()
    train_one_epoch(
        small, _split(x, y, 8), torch.optim.SGD(small.parameters(), lr=0.5), CE, accumulation_steps=4
    )
    train_one_epoch(big, [(x, y)], torch.optim.SGD(big.parameters(), lr=0.5), CE)
    diff = _max_diff(small, big)
    assert diff <= 1e-6, (
        f"4 micro-batches of 8 with accumulation_steps=4 should equal one step on 32 samples; weights differ "
        f"by {diff:.2e}. Is the loss divided by accumulation_steps, and zero_grad only after the step?"
    )


@pytest.mark.area("accumulation")
def test_leftover_micro_batches_still_step() -> None:
    x, y = _data(40)
    model = _tiny()
    out = train_one_epoch(
        model,
        _split(x, y, 8),
        torch.optim.SGD(model.parameters(), lr=0.1),
        CE,
        accumulation_steps=2,
        global_step=7,
    )
    assert out["steps"] == 3, (
        f"5 micro-batches with k=2 -> steps after 2, 4 and the leftover 5th; got {out['steps']}"
    )
    assert out["global_step"] == 10
    assert all(p.grad is None for p in model.parameters()), "zero_grad(set_to_none=True) after every step"


@pytest.mark.area("train_loop")
def test_scheduler_steps_once_per_optimizer_step() -> None:
    x, y = _data(36)
    model = _tiny()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = build_scheduler(opt, warmup_steps=2, total_steps=10)
    out = train_one_epoch(model, _split(x, y, 4), opt, CE, accumulation_steps=3, scheduler=sched)
    assert sched.last_epoch == out["steps"] == 3, (
        f"9 micro-batches with k=3 -> 3 optimizer steps and 3 scheduler steps; "
        f"the scheduler stepped {sched.last_epoch} times"
    )


@pytest.mark.area("amp")
def test_bfloat16_autocast_on_cpu() -> None:
    x, y = _data(16)
    model = _tiny()
    train_one_epoch(
        model, _split(x, y, 8), torch.optim.SGD(model.parameters(), lr=0.1), CE, amp=True, device="cpu"
    )
    assert model.seen == [torch.bfloat16] * 2, (
        f"with amp=True on CPU the linear layer's output should be bfloat16 (autocast), got {model.seen}"
    )
    assert all(p.dtype == torch.float32 for p in model.parameters()), "autocast must not change the weights"
    model.seen.clear()
    train_one_epoch(model, _split(x, y, 8), torch.optim.SGD(model.parameters(), lr=0.1), CE, amp=False)
    assert model.seen == [torch.float32] * 2, "with amp=False everything stays float32"


# ------------------------------------------------------------------------------------------------ optim
@pytest.mark.area("schedule")
def test_warmup_cosine_key_points() -> None:
    f = lambda s, r=0.0: warmup_cosine(s, warmup_steps=4, total_steps=12, min_lr_ratio=r)  # noqa: E731
    assert f(0) == pytest.approx(0.0) and f(2) == pytest.approx(0.5), "linear warmup: step / warmup_steps"
    assert f(4) == pytest.approx(1.0), "the multiplier is 1 right after the warmup"
    assert f(8) == pytest.approx(0.5), "half-way through the cosine the multiplier is 0.5"
    assert f(12) == pytest.approx(0.0) and f(12, 0.1) == pytest.approx(0.1), "it ends at min_lr_ratio"
    assert f(8, 0.1) == pytest.approx(0.55)


@pytest.mark.area("optimizer")
def test_build_optimizer_two_groups() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    opt = build_optimizer(model, "adamw", lr=1e-3, weight_decay=0.1)
    assert isinstance(opt, torch.optim.AdamW)
    assert len(opt.param_groups) == 2, "two param groups: decay and no-decay"
    decay, no_decay = opt.param_groups
    assert {p.ndim for p in decay["params"]} == {2} and decay["weight_decay"] == 0.1
    assert len(no_decay["params"]) == 4 and no_decay["weight_decay"] == 0.0, "biases and LayerNorm: no decay"
    assert isinstance(build_optimizer(model, "sgd", lr=0.1), torch.optim.SGD)
    with pytest.raises(ValueError):
        build_optimizer(model, "adagrad", lr=0.1)
