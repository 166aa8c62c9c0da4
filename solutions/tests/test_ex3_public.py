"""Public checks for Exercise 3 (optimization and regularization).

They run your ``train_one_epoch``, ``build_optimizer`` and ``warmup_cosine`` on tiny models in seconds,
against the same references as the hidden tests (a float64 reference loop with torch's optimizers,
``torch.autocast`` + ``GradScaler``, ``transformers``' schedules). The hidden tests check more cases
(random models and data, float16 + GradScaler steps, a small CNN trained by your loop on CIFAR-10).
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


@pytest.mark.area("schedule")
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


# --------------------------------------------------------------------- numbers against references
def _reference_epoch(model, batches, lr=0.1, momentum=0.9, clip=None, scheduler=None):
    """The loop the docstring describes, k = 1, float32, no AMP."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    sched = scheduler(opt) if scheduler else None
    model.train()
    for x, y in batches:
        CE(model(x), y).backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        if sched is not None:
            sched.step()
        opt.zero_grad(set_to_none=True)
    return model


@pytest.mark.area("train_loop")
def test_train_loop_matches_the_reference_loop() -> None:
    x, y = _data(26)
    batches = _split(x, y, 8)  # 8, 8, 8, 2
    mine, ref = _tiny(), _reference_epoch(_tiny(), batches)
    mine.eval()  # train_one_epoch must switch the model to training mode itself
    out = train_one_epoch(mine, batches, torch.optim.SGD(mine.parameters(), lr=0.1, momentum=0.9), CE)
    assert mine.training, "call model.train() at the start of train_one_epoch"
    assert _max_diff(mine, ref) < 1e-6, (
        "weights after one epoch differ from the reference loop: forward, loss, backward, optimizer.step(), "
        "optimizer.zero_grad(set_to_none=True) after every step")
    with torch.no_grad():
        expected = CE(_tiny()(x), y).item()  # lr=0 would keep the weights; here: mean per sample at each step
    model = _tiny()
    out = train_one_epoch(model, batches, torch.optim.SGD(model.parameters(), lr=0.0), CE)
    assert out["loss"] == pytest.approx(expected, rel=1e-5), (
        f"'loss' should be the mean per-sample loss over the epoch ({expected:.6f}; batches of 8, 8, 8, 2 "
        f"weighted by their sizes), got {out['loss']:.6f}")


@pytest.mark.area("train_loop")
def test_clipping_without_amp() -> None:
    x, y = _data(24)
    batches = _split(x, y, 12)
    mine, ref = _tiny(), _reference_epoch(_tiny(), batches, lr=0.5, clip=0.05)
    train_one_epoch(mine, batches, torch.optim.SGD(mine.parameters(), lr=0.5, momentum=0.9), CE, max_grad_norm=0.05)
    assert _max_diff(mine, ref) < 1e-6, (
        "with max_grad_norm=0.05 (no AMP) the weights differ from the reference: clip with "
        "nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm) before every optimizer step, with or without AMP")


class _Writer:
    def __init__(self) -> None:
        self.scalars: list[tuple[str, float, int]] = []

    def add_scalar(self, tag, value, global_step=None, *args, **kwargs) -> None:
        self.scalars.append((tag, float(value), global_step))


@pytest.mark.area("train_loop")
def test_tensorboard_scalars() -> None:
    x, y = _data(24)
    model, writer = _tiny(), _Writer()
    train_one_epoch(model, _split(x, y, 8), torch.optim.SGD(model.parameters(), lr=0.1), CE, writer=writer,
                    max_grad_norm=1e3, global_step=10)
    tags = [t for t, _, _ in writer.scalars]
    for tag, n in (("train/loss", 3), ("train/lr", 3), ("train/grad_norm", 3), ("train/samples_per_s", 1)):
        got = tags.count(tag)
        assert got == n, f"{tag!r} should be logged {n} time(s) for 3 optimizer steps, got {got}"


class _SpyScaler(torch.amp.GradScaler):
    """A real GradScaler that records what the loop calls, in order."""

    def __init__(self, **kwargs) -> None:
        super().__init__("cpu", **kwargs)
        self.calls: list[str] = []

    def scale(self, outputs):
        self.calls.append("scale")
        return super().scale(outputs)

    def unscale_(self, optimizer):
        self.calls.append("unscale_")
        return super().unscale_(optimizer)

    def step(self, optimizer, *args, **kwargs):
        self.calls.append("step")
        return super().step(optimizer, *args, **kwargs)

    def update(self, new_scale=None):
        self.calls.append("update")
        return super().update(new_scale)


@pytest.mark.area("amp")
def test_float16_uses_the_grad_scaler_and_unscales_before_clipping() -> None:
    x, y = _data(16)
    model, scaler = _tiny(), _SpyScaler(init_scale=1024.0)
    train_one_epoch(model, _split(x, y, 8), torch.optim.SGD(model.parameters(), lr=0.1), CE, amp=True,
                    amp_dtype=torch.float16, scaler=scaler, max_grad_norm=1.0)
    assert model.seen == [torch.float16] * 2, f"with amp_dtype=float16 the forward must run in float16: {model.seen}"
    assert scaler.calls.count("scale") == 2, "in float16 back-propagate scaler.scale(loss), once per batch"
    assert scaler.calls == ["scale", "unscale_", "step", "update"] * 2, (
        f"expected scale, unscale_ (before clipping), step, update for each of the 2 steps; got {scaler.calls}")


@pytest.mark.area("amp")
def test_scaler_only_for_float16_and_backward_outside_autocast() -> None:
    x, y = _data(16)
    for kwargs in ({"amp": False}, {"amp": True}, {"amp": True, "amp_dtype": torch.bfloat16}):
        model, scaler = _tiny(), _SpyScaler(init_scale=1024.0)
        train_one_epoch(model, _split(x, y, 8), torch.optim.SGD(model.parameters(), lr=0.1), CE, scaler=scaler,
                        device="cpu", **kwargs)
        assert not scaler.calls, f"with {kwargs} (no float16) the given GradScaler must not be used: {scaler.calls}"
    model = _tiny()
    seen_in_backward: list[bool] = []
    model.fc1.weight.register_hook(lambda g: seen_in_backward.append(torch.is_autocast_enabled("cpu")))
    train_one_epoch(model, _split(x, y, 8), torch.optim.SGD(model.parameters(), lr=0.1), CE, amp=True)
    assert seen_in_backward and not any(seen_in_backward), (
        "backward() ran inside autocast: leave the autocast block before calling backward")
    model = _tiny()
    norms: list[float] = []
    model.fc2.weight.register_hook(lambda g: norms.append(g.float().norm().item()))
    train_one_epoch(model, _split(x, y, 8), torch.optim.SGD(model.parameters(), lr=0.0), CE, amp=True,
                    amp_dtype=torch.float16)  # no scaler given: make one
    plain = _tiny()
    CE(plain(x[:8]), y[:8]).backward()
    ratio = norms[0] / plain.fc2.weight.grad.norm().item() if norms else 0.0
    assert ratio > 100, (
        f"in float16 without a given scaler, make one (torch.amp.GradScaler(device.type)) and back-propagate "
        f"scaler.scale(loss): the gradient in backward is only {ratio:.3g}x the unscaled one")


@pytest.mark.area("accumulation")
def test_reported_loss_is_undivided() -> None:
    x, y = _data(24)
    model = _tiny()
    with torch.no_grad():
        expected = CE(model(x), y).item()
    out = train_one_epoch(model, _split(x, y, 8), torch.optim.SGD(model.parameters(), lr=0.0), CE,
                          accumulation_steps=3)
    assert out["loss"] == pytest.approx(expected, rel=1e-5), (
        f"'loss' should be the undivided mean per sample ({expected:.6f}), got {out['loss']:.6f}: divide only what "
        "goes into backward() by accumulation_steps")


@pytest.mark.area("schedule")
def test_warmup_cosine_equals_transformers() -> None:
    from transformers import get_cosine_schedule_with_warmup, get_cosine_with_min_lr_schedule_with_warmup

    for warmup, total, ratio in ((3, 11, 0.0), (0, 7, 0.0), (4, 10, 0.1)):
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
        if ratio:
            ref = get_cosine_with_min_lr_schedule_with_warmup(opt, warmup, total, min_lr_rate=ratio)
        else:
            ref = get_cosine_schedule_with_warmup(opt, warmup, total)
        for step in range(total + 1):
            expected = ref.lr_lambdas[0](step)
            got = warmup_cosine(step, warmup_steps=warmup, total_steps=total, min_lr_ratio=ratio)
            assert got == pytest.approx(expected, abs=1e-9), (
                f"warmup_cosine({step}, warmup_steps={warmup}, total_steps={total}, min_lr_ratio={ratio}) = {got}, "
                f"transformers gives {expected}")


@pytest.mark.area("schedule")
def test_scheduler_steps_after_the_optimizer() -> None:
    x, y = _data(16)
    model = _tiny()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    used: list[float] = []
    opt.register_step_pre_hook(lambda optimizer, args, kwargs: used.append(optimizer.param_groups[0]["lr"]))
    sched = build_scheduler(opt, warmup_steps=2, total_steps=6)
    train_one_epoch(model, _split(x, y, 4), opt, CE, scheduler=sched)
    expected = [warmup_cosine(s, warmup_steps=2, total_steps=6) for s in range(4)]
    assert used == pytest.approx(expected), (
        f"learning rates used by the 4 optimizer steps: {used}, expected {expected} — call scheduler.step() after "
        "optimizer.step()")


@pytest.mark.area("optimizer")
def test_build_optimizer_hyperparameters() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    sgd = build_optimizer(model, "SGD", lr=0.1, momentum=0.8)  # names are case-insensitive
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.8, "SGD uses the given momentum"
    adamw = build_optimizer(model, "AdamW", lr=1e-3, betas=(0.8, 0.95))
    assert isinstance(adamw, torch.optim.AdamW) and adamw.defaults["betas"] == (0.8, 0.95), "pass betas to AdamW"
    tied = nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 5, bias=False))
    tied[1].weight = tied[0].weight  # one parameter used by two modules
    listed = [p for g in build_optimizer(tied, "adam", lr=1e-3).param_groups for p in g["params"]]
    assert len(listed) == len({id(p) for p in listed}) == 1, "a tied weight must be listed only once"
    with pytest.raises(ValueError, match="(?i)sgd.*adam|adam.*sgd"):
        build_optimizer(model, "adagrad", lr=0.1)  # the message names the accepted values
