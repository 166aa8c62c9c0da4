"""Product tests of ``lab3.training.train_one_epoch`` and the given ``evaluate`` / ``fit`` /
``find_batch_size``. Tiny LayerNorm models on random tensors, CPU, float32 unless stated."""

from __future__ import annotations

import math

import pytest
import torch
from ex3_helpers import TinyNet, batches, cuda_only, make_data, make_net, max_param_diff
from lab3.optim import build_scheduler
from lab3.training import evaluate, find_batch_size, fit, train_one_epoch
from torch import nn

CE = nn.CrossEntropyLoss()


# --------------------------------------------------------------------------- accumulation


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("opt", ["sgd", "adamw"])
def test_accumulation_equals_one_large_batch(k: int, opt: str) -> None:
    """k micro-batches of b with accumulation_steps=k == one step on the concatenated k*b batch."""
    x, y = make_data(n=8 * k)
    small, large = make_net(), make_net()

    def optimizer(model: nn.Module) -> torch.optim.Optimizer:
        if opt == "sgd":
            return torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        return torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)

    o_small, o_large = optimizer(small), optimizer(large)
    for _ in range(2):  # two optimizer steps: momentum / Adam state must agree as well
        out_small = train_one_epoch(small, batches(x, y, 8), o_small, CE, accumulation_steps=k)
        out_large = train_one_epoch(large, [(x, y)], o_large, CE)
        assert out_small["steps"] == out_large["steps"] == 1
    assert max_param_diff(small, large) <= 1e-6
    assert out_small["loss"] == pytest.approx(out_large["loss"], abs=1e-6)


def test_accumulation_with_clipping_matches_large_batch() -> None:
    x, y = make_data(n=32)
    small, large = make_net(), make_net()
    o_small = torch.optim.SGD(small.parameters(), lr=0.5)
    o_large = torch.optim.SGD(large.parameters(), lr=0.5)
    train_one_epoch(small, batches(x, y, 8), o_small, CE, accumulation_steps=4, max_grad_norm=0.05)
    train_one_epoch(large, [(x, y)], o_large, CE, max_grad_norm=0.05)
    assert max_param_diff(small, large) <= 1e-6


def test_leftover_micro_batches_make_a_final_step() -> None:
    """5 micro-batches with k=2: steps after 2, 4 and a leftover step for the 5th (loss still / k)."""
    x, y = make_data(n=40)
    parts = batches(x, y, 8)
    model, ref = make_net(), make_net()
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    out = train_one_epoch(model, parts, opt, CE, accumulation_steps=2, global_step=10)
    assert out["steps"] == 3
    assert out["global_step"] == 13

    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.3)
    for group in ([0, 1], [2, 3], [4]):
        for i in group:
            (CE(ref(parts[i][0]), parts[i][1]) / 2).backward()
        ref_opt.step()
        ref_opt.zero_grad(set_to_none=True)
    assert max_param_diff(model, ref) <= 1e-6

    dropped = make_net()  # a loop that forgets the leftover ends elsewhere
    train_one_epoch(
        dropped, parts[:4], torch.optim.SGD(dropped.parameters(), lr=0.3), CE, accumulation_steps=2
    )
    assert max_param_diff(model, dropped) > 1e-4


def test_steps_count_and_grads_cleared(net: TinyNet, data) -> None:
    x, y = data
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    out = train_one_epoch(net, batches(x, y, 6), opt, CE, accumulation_steps=3)  # 8 micro-batches
    assert out["steps"] == math.ceil(8 / 3)
    assert all(p.grad is None for p in net.parameters()), "zero_grad(set_to_none=True) after each step"


# --------------------------------------------------------------------------- scheduler


class CountingScheduler:
    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer, self.calls, self.steps_seen = optimizer, 0, []
        self._step_count = 0

    def step(self) -> None:
        self.calls += 1


class CountingSGD(torch.optim.SGD):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0
        self.grad_norms: list[float] = []

    def step(self, closure=None):  # noqa: D102
        self.calls += 1
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        self.grad_norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())
        return super().step(closure)


@pytest.mark.parametrize(("n_batches", "k"), [(7, 3), (6, 2), (5, 1)])
def test_scheduler_steps_once_per_optimizer_step(net: TinyNet, n_batches: int, k: int) -> None:
    x, y = make_data(n=4 * n_batches)
    opt = CountingSGD(net.parameters(), lr=0.1)
    sched = CountingScheduler(opt)
    out = train_one_epoch(net, batches(x, y, 4), opt, CE, accumulation_steps=k, scheduler=sched)
    assert opt.calls == out["steps"] == math.ceil(n_batches / k)
    assert sched.calls == opt.calls


def test_lambda_lr_follows_the_optimizer_steps(net: TinyNet, data) -> None:
    x, y = data
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    sched = build_scheduler(opt, warmup_steps=2, total_steps=8)
    out = train_one_epoch(
        net, batches(x, y, 4), opt, CE, accumulation_steps=3, scheduler=sched
    )  # 12 -> 4 steps
    assert out["steps"] == 4
    assert sched.last_epoch == 4
    assert opt.param_groups[0]["lr"] == pytest.approx(sched.lr_lambdas[0](4))


# --------------------------------------------------------------------------- AMP


class SpyScaler(torch.amp.GradScaler):
    """A real GradScaler (large initial scale) that records the order of the calls made on it."""

    def __init__(self, device: str = "cpu", init_scale: float = 2.0**12) -> None:
        super().__init__(device, init_scale=init_scale)
        self.calls: list[str] = []

    def scale(self, outputs):  # noqa: D102
        self.calls.append("scale")
        return super().scale(outputs)

    def unscale_(self, optimizer):  # noqa: D102
        self.calls.append("unscale_")
        return super().unscale_(optimizer)

    def step(self, optimizer, *args, **kwargs):  # noqa: D102
        self.calls.append("step")
        return super().step(optimizer, *args, **kwargs)

    def update(self, new_scale=None):  # noqa: D102
        self.calls.append("update")
        return super().update(new_scale)


def test_unscale_before_clipping_with_a_large_scale(
    monkeypatch: pytest.MonkeyPatch, net: TinyNet, data
) -> None:
    """With scale 2**12, clipping must see (and the optimizer get) the true gradients clipped to 0.01."""
    x, y = data
    clip_calls: list[int] = []
    original_clip = nn.utils.clip_grad_norm_

    def spy_clip(*args, **kwargs):
        clip_calls.append(len(scaler.calls))
        return original_clip(*args, **kwargs)

    monkeypatch.setattr(nn.utils, "clip_grad_norm_", spy_clip)
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy_clip)
    scaler = SpyScaler()
    opt = CountingSGD(net.parameters(), lr=0.1)
    out = train_one_epoch(
        net,
        batches(x, y, 12),
        opt,
        CE,
        amp=True,
        amp_dtype=torch.float16,
        scaler=scaler,
        accumulation_steps=2,
        max_grad_norm=0.01,
    )
    assert out["steps"] == 2 and opt.calls == 2
    assert scaler.calls == ["scale", "scale", "unscale_", "step", "update"] * 2
    assert [scaler.calls[i - 1] for i in clip_calls] == ["unscale_", "unscale_"], "clip right after unscale_"
    for norm in opt.grad_norms:  # unscaled and clipped: 0.01, not 0.01 / 2**12
        assert norm == pytest.approx(0.01, rel=1e-3)


def test_float16_uses_the_given_scaler_and_makes_one_when_missing(monkeypatch, net: TinyNet, data) -> None:
    x, y = data
    scaler = SpyScaler()
    train_one_epoch(
        net,
        batches(x, y, 16),
        torch.optim.SGD(net.parameters(), lr=0.1),
        CE,
        amp=True,
        amp_dtype=torch.float16,
        scaler=scaler,
    )
    assert scaler.calls.count("scale") == 3 and scaler.calls.count("update") == 3
    assert net.probe.dtypes == [torch.float16] * 3

    made: list[SpyScaler] = []

    class Factory(SpyScaler):
        def __init__(self, device="cpu", *args, **kwargs) -> None:
            super().__init__(device)
            made.append(self)

    monkeypatch.setattr(torch.amp, "GradScaler", Factory)
    train_one_epoch(
        net,
        batches(x, y, 16),
        torch.optim.SGD(net.parameters(), lr=0.1),
        CE,
        amp=True,
        amp_dtype=torch.float16,
    )
    assert [s.calls.count("scale") for s in made if s.is_enabled()] == [3]


@pytest.mark.parametrize(
    ("amp", "dtype"), [(True, torch.bfloat16), (True, None), (False, None), (False, torch.float16)]
)
def test_no_scaling_unless_float16(net: TinyNet, data, amp: bool, dtype) -> None:
    """bfloat16 (the CPU default) and float32 need no scaler: a given one stays untouched."""
    x, y = data
    scaler = SpyScaler()
    train_one_epoch(
        net,
        batches(x, y, 16),
        torch.optim.SGD(net.parameters(), lr=0.1),
        CE,
        amp=amp,
        amp_dtype=dtype,
        scaler=scaler,
    )
    assert scaler.calls == []
    assert net.probe.dtypes == [torch.bfloat16 if amp else torch.float32] * 3


def test_bfloat16_autocast_on_cpu_forward_inside_backward_outside(net: TinyNet, data) -> None:
    x, y = data
    seen_in_loss: list[bool] = []

    def loss_fn(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        seen_in_loss.append(torch.is_autocast_enabled("cpu"))
        return CE(out, target)

    before = [p.detach().clone() for p in net.parameters()]
    out = train_one_epoch(
        net, batches(x, y, 24), torch.optim.SGD(net.parameters(), lr=0.1), loss_fn, amp=True
    )
    assert net.probe.dtypes == [torch.bfloat16, torch.bfloat16], "activations inside the forward are bfloat16"
    assert net.probe.autocast == [True, True]
    assert seen_in_loss == [True, True], "the loss is computed under autocast"
    assert net.backward_autocast == [False, False], "backward runs outside autocast"
    assert all(p.dtype == torch.float32 for p in net.parameters()), "weights stay float32"
    assert any((p - b).abs().max() > 0 for p, b in zip(net.parameters(), before, strict=True))
    assert math.isfinite(out["loss"])


def test_amp_off_stays_float32(net: TinyNet, data) -> None:
    x, y = data
    train_one_epoch(net, batches(x, y, 24), torch.optim.SGD(net.parameters(), lr=0.1), CE, amp=False)
    assert net.probe.dtypes == [torch.float32] * 2 and net.probe.autocast == [False, False]


@pytest.mark.gpu
@cuda_only
def test_cuda_float16_with_grad_scaler() -> None:
    device = torch.device("cuda")
    x, y = make_data(n=256)
    net = make_net().to(device)
    scaler = SpyScaler("cuda", init_scale=2.0**16)
    opt = CountingSGD(net.parameters(), lr=0.1)
    first = train_one_epoch(net, batches(x, y, 32), opt, CE, amp=True, scaler=scaler, max_grad_norm=1.0)
    assert net.probe.dtypes[0] == torch.float16, "CUDA autocast defaults to float16"
    assert net.backward_autocast and not any(net.backward_autocast)
    assert scaler.calls[:4] == ["scale", "unscale_", "step", "update"]
    assert first["steps"] == 8
    for _ in range(5):
        last = train_one_epoch(net, batches(x, y, 32), opt, CE, amp=True, scaler=scaler)
    assert last["loss"] < first["loss"]
    assert all(p.grad is None for p in net.parameters())

    made = make_net().to(device)  # no scaler given: one is made (scale > 1 on the first step)
    train_one_epoch(
        made, batches(x, y, 32), torch.optim.SGD(made.parameters(), lr=0.1), CE, amp=True, device="cuda"
    )
    assert made.probe.dtypes == [torch.float16] * 8


@pytest.mark.gpu
@cuda_only
def test_cuda_float32_and_cpu_give_the_same_weights() -> None:
    """Same code path on both devices: amp=False trains identically (to float32 noise)."""
    x, y = make_data(n=64)
    cpu, gpu = make_net(), make_net().to("cuda")
    train_one_epoch(
        cpu, batches(x, y, 16), torch.optim.SGD(cpu.parameters(), lr=0.1), CE, accumulation_steps=2
    )
    train_one_epoch(
        gpu, batches(x, y, 16), torch.optim.SGD(gpu.parameters(), lr=0.1), CE, accumulation_steps=2
    )
    assert max_param_diff(cpu, gpu.cpu()) <= 1e-5


# --------------------------------------------------------------------------- returned dict, writer


def test_returned_loss_is_mean_per_sample_with_uneven_batches(net: TinyNet) -> None:
    x, y = make_data(n=13)
    opt = torch.optim.SGD(net.parameters(), lr=0.0)  # weights fixed: every loss uses the same weights
    out = train_one_epoch(net, batches(x, y, 5), opt, CE, accumulation_steps=2)  # sizes 5, 5, 3
    with torch.no_grad():
        expected = nn.functional.cross_entropy(net(x), y).item()
    assert set(out) >= {"loss", "steps", "samples_per_s", "global_step"}
    assert out["loss"] == pytest.approx(expected, rel=1e-6)
    assert out["steps"] == 2 and out["global_step"] == 2
    assert isinstance(out["loss"], float) and out["samples_per_s"] > 0


class FakeWriter:
    def __init__(self) -> None:
        self.scalars: list[tuple[str, float, int]] = []

    def add_scalar(self, tag: str, value, step: int | None = None, *args, **kwargs) -> None:
        self.scalars.append((tag, float(value), step))


def test_writer_gets_one_scalar_per_optimizer_step(net: TinyNet, data) -> None:
    x, y = data
    writer = FakeWriter()
    opt = torch.optim.SGD(net.parameters(), lr=0.2)
    out = train_one_epoch(
        net, batches(x, y, 8), opt, CE, accumulation_steps=2, max_grad_norm=1.0, writer=writer, global_step=5
    )
    by_tag: dict[str, list[int]] = {}
    for tag, value, step in writer.scalars:
        assert math.isfinite(value)
        by_tag.setdefault(tag, []).append(step)
    assert by_tag["train/loss"] == [6, 7, 8] and by_tag["train/lr"] == [6, 7, 8]
    assert by_tag["train/grad_norm"] == [6, 7, 8]
    assert "train/samples_per_s" in by_tag
    assert out["global_step"] == 8


def test_device_defaults_to_the_model_device(net: TinyNet, data) -> None:
    x, y = data
    out = train_one_epoch(net, batches(x, y, 24), torch.optim.SGD(net.parameters(), lr=0.1), CE, device=None)
    assert out["steps"] == 2


def test_bad_accumulation_steps(net: TinyNet, data) -> None:
    with pytest.raises(ValueError):
        train_one_epoch(net, [data], torch.optim.SGD(net.parameters(), lr=0.1), CE, accumulation_steps=0)


# --------------------------------------------------------------------------- evaluate, fit


def test_evaluate_matches_a_manual_computation(net: TinyNet, data) -> None:
    x, y = data
    net.train()
    out = evaluate(net, batches(x, y, 10))
    with torch.no_grad():
        logits = net(x)
    assert out["loss"] == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert out["accuracy"] == pytest.approx((logits.argmax(1) == y).float().mean().item())
    assert net.training, "evaluate restores the train/eval mode"


def test_fit_logs_checkpoints_and_resumes(tmp_path, net: TinyNet) -> None:
    x, y = make_data(n=64)
    loader = batches(x, y, 16)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    sched = build_scheduler(opt, warmup_steps=1, total_steps=6)
    kwargs = dict(
        optimizer=opt,
        scheduler=sched,
        log_dir=tmp_path / "tb",
        checkpoint_dir=tmp_path / "ckpt",
        accumulation_steps=2,
        progress=False,
        train_eval_loader=loader,
    )
    history = fit(net, loader, loader, epochs=2, **kwargs)
    assert [row["epoch"] for row in history] == [1, 2]
    assert {"train_loss", "val_loss", "val_accuracy", "train_accuracy", "lr", "samples_per_s"} <= set(
        history[0]
    )
    assert history[-1]["global_step"] == 4
    assert (tmp_path / "ckpt" / "best.pt").exists() and (tmp_path / "ckpt" / "last.pt").exists()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))

    history = fit(net, loader, loader, epochs=3, resume=True, **kwargs)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert history[-1]["global_step"] == 6 and sched.last_epoch == 6


def test_fit_learns_a_separable_problem() -> None:
    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = (x[:, 0] > 0).long()
    model = make_net(classes=2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    history = fit(model, batches(x, y, 32), batches(x, y, 64), optimizer=opt, epochs=5, progress=False)
    assert history[-1]["val_accuracy"] >= 0.95


# --------------------------------------------------------------------------- find_batch_size


class OOMNet(TinyNet):
    """Raises CUDA's out-of-memory error for batches larger than ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit, self.tried = limit, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.tried.append(len(x))
        if len(x) > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().forward(x)


def test_find_batch_size_backs_off_and_keeps_the_effective_batch() -> None:
    torch.manual_seed(0)
    model = OOMNet(limit=24)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    micro, k = find_batch_size(model, lambda b: (torch.randn(b, 8), torch.randint(0, 3, (b,))), 128)
    assert (micro, k) == (16, 8) and micro * k == 128
    assert model.tried == [128, 64, 32, 16]
    assert all(torch.equal(before[n], v) for n, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())

    micro, k = find_batch_size(
        OOMNet(limit=1000), lambda b: (torch.randn(b, 8), torch.randint(0, 3, (b,))), 96
    )
    assert (micro, k) == (96, 1)
    odd = OOMNet(limit=20)
    assert find_batch_size(odd, lambda b: (torch.randn(b, 8), torch.randint(0, 3, (b,))), 90) == (18, 5)
    assert odd.tried == [90, 45, 18]  # each try: the largest divisor of 90 at most half the last


def test_find_batch_size_gives_up_and_reraises_other_errors() -> None:
    make = lambda b: (torch.randn(b, 8), torch.randint(0, 3, (b,)))  # noqa: E731
    with pytest.raises(RuntimeError, match="out of memory"):
        find_batch_size(OOMNet(limit=2), make, 64, min_batch_size=4)
    with pytest.raises(RuntimeError, match="mat1 and mat2"):
        find_batch_size(make_net(), lambda b: (torch.randn(b, 5), torch.randint(0, 3, (b,))), 8)
