"""Probes for ``lab3.training`` (run in the sandbox; see ``autograder/child/probes/__init__.py``).

:func:`train_epoch` runs the student's ``train_one_epoch`` on :class:`ProbeNet` (a tiny MLP whose
weights the grader sends) with spies around it — an optimizer subclass, a ``GradScaler`` subclass, a
scheduler and a writer that record what happens, plus hooks inside the forward and backward pass —
and returns the final weights and the record. :func:`cifar_fit` trains :class:`TinyCNN` on CIFAR-10
images with the student's loop and returns test predictions (the grader holds the labels).

The model classes are plain torch and import nothing from ``lab3``: the graders build the same
models on the trusted side for their references.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from autograder.child.probes import one_thread


class _Recorder(nn.Module):
    """Identity that logs the dtype of its input and whether autocast is on."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.log is not None:
            self.log.append(
                f"fwd:{str(x.dtype).replace('torch.', '')}:{int(torch.is_autocast_enabled(x.device.type))}"
            )
        return x


class _BackwardTap(torch.autograd.Function):
    """Identity whose backward logs autocast state and the norm of the gradient flowing through."""

    @staticmethod
    def forward(ctx, x, sink):  # noqa: D102
        ctx.sink = sink
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        if ctx.sink is not None:
            log, norms = ctx.sink
            log.append(f"bwd:{int(torch.is_autocast_enabled(grad.device.type))}")
            norms.append(float(grad.detach().double().norm()))
        return grad, None


class ProbeNet(nn.Module):
    """``fc1 -> [tap] -> norm ("layer" | "batch" | "none") -> GELU -> fc2``; batch-first ``(B, d_in)``."""

    def __init__(self, d_in: int = 8, hidden: int = 16, classes: int = 3, norm: str = "layer") -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.norm = {"layer": nn.LayerNorm(hidden), "batch": nn.BatchNorm1d(hidden), "none": nn.Identity()}[
            norm
        ]
        self.fc2 = nn.Linear(hidden, classes)
        self.rec = _Recorder()
        self.sink: tuple[list, list] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.rec(self.fc1(x))  # (B, hidden)
        if self.sink is not None:
            h = _BackwardTap.apply(h, self.sink)
        return self.fc2(nn.functional.gelu(self.norm(h)))  # (B, classes)


class TinyCNN(nn.Module):
    """Two strided 3x3 convs with batch norm, global average pooling and a linear head (~6 k params)."""

    def __init__(self, width: int = 16, classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),  # (B, w, 16, 16)
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),  # (B, 2w, 8, 8)
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(4 * width),
            nn.ReLU(),  # (B, 4w, 4, 4)
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),  # (B, 4w)
        )
        self.head = nn.Linear(4 * width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))  # (B, classes)


def warmup_cosine_ref(step: int, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0) -> float:
    """The probe's own schedule (the student's ``warmup_cosine`` is graded separately)."""
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return max(0.0, min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


_DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
_OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def _spy_optimizer(name: str, params, log: list, steps: list, **kwargs):
    base = _OPTIMIZERS[name]

    class SpyOptimizer(base):  # type: ignore[misc, valid-type]
        def step(self, closure=None):  # noqa: D102
            grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
            norm = math.sqrt(sum(float(g.detach().double().norm()) ** 2 for g in grads))
            log.append("opt.step")
            steps.append({"grad_norm": norm, "lr": float(self.param_groups[0]["lr"]), "grads": len(grads)})
            return super().step(closure)

        def zero_grad(self, set_to_none: bool = True):  # noqa: D102
            log.append(f"zero_grad:{int(bool(set_to_none))}")
            return super().zero_grad(set_to_none=set_to_none)

    return SpyOptimizer(params, **kwargs)


def _spy_scaler(device: str, init_scale: float, log: list):
    class SpyScaler(torch.amp.GradScaler):
        def scale(self, outputs):  # noqa: D102
            log.append("scale")
            return super().scale(outputs)

        def unscale_(self, optimizer):  # noqa: D102
            log.append("unscale_")
            return super().unscale_(optimizer)

        def step(self, optimizer, *args, **kwargs):  # noqa: D102
            log.append("scaler.step")
            return super().step(optimizer, *args, **kwargs)

        def update(self, new_scale=None):  # noqa: D102
            log.append("update")
            return super().update(new_scale)

    return SpyScaler(device, init_scale=init_scale)


class _CountingScheduler:
    def __init__(self, optimizer, log: list) -> None:
        self.optimizer, self.log = optimizer, log

    def step(self, *args, **kwargs) -> None:
        self.log.append("sched.step")


class _Writer:
    def __init__(self) -> None:
        self.scalars: list[list] = []

    def add_scalar(self, tag, value, global_step=None, *args, **kwargs) -> None:
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = float("nan")
        self.scalars.append([str(tag)[:80], value, None if global_step is None else int(global_step)])

    def __getattr__(self, name: str):  # add_scalars, flush, ... accepted and ignored
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None


def _plain(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, torch.Tensor):
        return {"tensor": str(value.dtype).replace("torch.", ""), "shape": list(value.shape)}
    return {"type": type(value).__name__[:40]}


def _probe_net(weights: dict[str, torch.Tensor], d_in: int, hidden: int, classes: int, norm: str, dtype: str,
               device: torch.device, log: list[str], bwd_norms: list[float]) -> ProbeNet:
    """A :class:`ProbeNet` with ``weights`` in ``dtype`` on ``device``, logging into ``log`` / ``bwd_norms``."""
    model = ProbeNet(d_in, hidden, classes, norm).to(_DTYPES[dtype])
    model.load_state_dict({k: v.to(_DTYPES[dtype]) for k, v in weights.items()})
    model.to(device)
    model.rec.log = log
    model.sink = (log, bwd_norms)
    return model


def _probe_scheduler(kind: str | None, schedule: dict | None, opt: torch.optim.Optimizer, log: list[str]) -> Any:
    """``"count"``: a counter; ``"lambda"``: ``LambdaLR`` with :func:`warmup_cosine_ref` whose steps are logged."""
    if kind == "count":
        return _CountingScheduler(opt, log)
    if kind != "lambda":
        return None
    s = schedule or {}
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: warmup_cosine_ref(step, s.get("warmup_steps", 0), s.get("total_steps", 1))
    )
    original = sched.step

    def logged_step(*args, **kwargs):
        log.append("sched.step")
        return original(*args, **kwargs)

    sched.step = logged_step  # type: ignore[method-assign]
    return sched


def train_epoch(
    weights: dict[str, torch.Tensor],
    batches: list,
    *,
    d_in: int = 8,
    hidden: int = 16,
    classes: int = 3,
    norm: str = "layer",
    dtype: str = "float32",
    optimizer: str = "sgd",
    optimizer_kwargs: dict | None = None,
    epochs: int = 1,
    accumulation_steps: int | None = None,
    max_grad_norm: float | None = None,
    amp: bool | None = None,
    amp_dtype: str | None = None,
    scaler_scale: float | None = None,
    scheduler: str | None = None,
    schedule: dict | None = None,
    writer: bool = False,
    global_step: int | None = None,
    device: str | None = None,
    start_in_eval: bool = False,
) -> dict[str, Any]:
    """Run the student's ``train_one_epoch`` ``epochs`` times on a :class:`ProbeNet` with ``weights``.

    Keyword arguments left as ``None`` are not passed (the student's defaults apply). ``scheduler``:
    ``"count"`` (a counter) or ``"lambda"`` (``LambdaLR`` with :func:`warmup_cosine_ref`, ``schedule``
    holding its ``warmup_steps`` / ``total_steps``). ``scaler_scale``: pass a spy ``GradScaler`` with this
    initial scale. Returns the final weights, the student's return values, an ordered event log, the
    gradient norm / LR seen by each optimizer step, the gradient norms seen in backward, the writer's
    scalars and whether gradients were left ``None``.
    """
    from lab3.training import train_one_epoch

    run_device = torch.device(device or "cpu")
    log: list[str] = []
    opt_steps: list[dict] = []
    bwd_norms: list[float] = []
    model = _probe_net(weights, d_in, hidden, classes, norm, dtype, run_device, log, bwd_norms)
    if start_in_eval:
        model.eval()
    opt = _spy_optimizer(optimizer, model.parameters(), log, opt_steps, **(optimizer_kwargs or {}))

    def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log.append(f"loss:{int(torch.is_autocast_enabled(outputs.device.type))}")
        return nn.functional.cross_entropy(outputs, targets)

    kwargs: dict[str, Any] = {
        key: value
        for key, value in (("accumulation_steps", accumulation_steps), ("max_grad_norm", max_grad_norm),
                           ("amp", amp), ("global_step", global_step), ("device", device))
        if value is not None
    }
    if amp_dtype is not None:
        kwargs["amp_dtype"] = _DTYPES[amp_dtype]
    if scaler_scale is not None:
        kwargs["scaler"] = _spy_scaler(run_device.type, scaler_scale, log)
    sched = _probe_scheduler(scheduler, schedule, opt, log)
    if sched is not None:
        kwargs["scheduler"] = sched
    out_writer = _Writer() if writer else None
    if out_writer is not None:
        kwargs["writer"] = out_writer

    data = [(torch.as_tensor(x).to(_DTYPES[dtype]), torch.as_tensor(y)) for x, y in batches]
    results = _run_epochs(train_one_epoch, epochs, (model, data, opt, loss_fn), kwargs, log)
    model.rec.log = None
    model.sink = None
    return {
        **_final_state(model),
        "results": results,
        "log": log,
        "opt_steps": opt_steps,
        "bwd_norms": bwd_norms,
        "scalars": out_writer.scalars if out_writer is not None else None,
    }


def _run_epochs(train_one_epoch: Callable, epochs: int, args: tuple, kwargs: dict[str, Any],
                log: list[str]) -> list[Any]:
    """The student's ``train_one_epoch(*args, **kwargs)`` ``epochs`` times, single-threaded like the reference
    (the same CPU kernels, the same rounding); a returned ``global_step`` is passed on when one was given."""
    results = []
    with one_thread():
        for _ in range(epochs):
            log.append("epoch")
            res = train_one_epoch(*args, **kwargs)
            results.append({k: _plain(v) for k, v in res.items()} if isinstance(res, dict) else _plain(res))
            if isinstance(res, dict) and isinstance(res.get("global_step"), int) and "global_step" in kwargs:
                kwargs["global_step"] = res["global_step"]
    return results


def _final_state(model: nn.Module) -> dict[str, Any]:
    """What training left in the model: weights, which gradients are ``None``, dtypes, train/eval mode."""
    return {
        "weights": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "grads_none": [p.grad is None for p in model.parameters()],
        "param_dtypes": sorted({str(p.dtype).replace("torch.", "") for p in model.parameters()}),
        "training": bool(model.training),
    }


def cifar_fit(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    *,
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 4e-3,
    width: int = 16,
    accumulation_steps: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Train a :class:`TinyCNN` on uint8 ``train_x (N, 3, 32, 32)`` with the student's ``train_one_epoch``
    (AdamW + warmup/cosine owned by the probe) and return the predicted classes of ``test_x``."""
    import time

    from lab3.training import train_one_epoch

    torch.manual_seed(seed)
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
    x = (train_x.float() / 255 - mean) / std
    xt = (test_x.float() / 255 - mean) / std
    y = train_y.long()
    model = TinyCNN(width)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    per_epoch = math.ceil(math.ceil(len(x) / batch_size) / accumulation_steps)
    total = epochs * per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine_ref(s, per_epoch // 2, total))
    g = torch.Generator().manual_seed(seed)
    losses, start = [], time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        batches = [
            (x[perm[i : i + batch_size]], y[perm[i : i + batch_size]]) for i in range(0, len(x), batch_size)
        ]
        res = train_one_epoch(
            model, batches, opt, nn.CrossEntropyLoss(), scheduler=sched, accumulation_steps=accumulation_steps
        )
        losses.append(_plain(res.get("loss")) if isinstance(res, dict) else None)
    train_s = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        preds = torch.cat([model(xt[i : i + 500]).argmax(-1) for i in range(0, len(xt), 500)])
    return {
        "predictions": preds,
        "losses": losses,
        "train_s": train_s,
        "steps_expected": total,
        "lr_final": float(opt.param_groups[0]["lr"]),
    }
