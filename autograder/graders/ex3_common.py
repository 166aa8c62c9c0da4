"""Shared by the Exercise 3 graders (``test_ex3_*.py``): the reference training loop and the helpers that
call the student's ``train_one_epoch`` through the probe and compare the weights it leaves.

References are independent of the student's code: float64 training loops written here with torch's own
optimizers, ``torch.autocast`` + ``torch.amp.GradScaler`` for the mixed-precision paths. The probes
(``autograder/child/probes/training.py``, ``optim.py``) run the student's code on the same tiny models with
spies that record the order of events, the dtypes inside the forward pass and the gradients the
optimizer receives.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from autograder.child.probes import single_threaded
from autograder.child.probes.training import ProbeNet, warmup_cosine_ref
from autograder.graders.checks import check_close, fail

EX = "ex3"
T_CALL = 30  # seconds per probe call (tiny models; bfloat16 on CPU is slow on some machines)
NET = {"d_in": 8, "hidden": 16, "classes": 3}


def start_weights(seed: int, norm: str = "layer") -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    net = ProbeNet(**NET, norm=norm)
    with torch.no_grad():  # a non-trivial norm affine, so that a missing step shows everywhere
        for name, p in net.named_parameters():
            if name.startswith("norm."):
                p.add_(0.1 * torch.randn_like(p))
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def toy_data(n: int, seed: int, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, NET["d_in"], generator=g, dtype=dtype), torch.randint(
        0, NET["classes"], (n,), generator=g
    )


def split_batches(x: torch.Tensor, y: torch.Tensor, size: int) -> list[list[torch.Tensor]]:
    return [[x[i : i + size], y[i : i + size]] for i in range(0, len(x), size)]


def flat_state(state: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([state[k].double().reshape(-1) for k in sorted(state) if state[k].is_floating_point()])


def student_weights(res: dict, expected: dict[str, torch.Tensor], what: str) -> torch.Tensor:
    w = res.get("weights") if isinstance(res, dict) else None
    if not isinstance(w, dict) or set(w) != set(expected):
        fail(f"{what}: the model's parameters could not be read back after training")
    return flat_state(w)


@single_threaded
def ref_train(
    weights: dict[str, torch.Tensor],
    batches,
    *,
    norm: str = "layer",
    dtype=torch.float64,
    optimizer: str = "sgd",
    optimizer_kwargs: dict | None = None,
    k: int = 1,
    epochs: int = 1,
    clip: float | None = None,
    autocast_dtype=None,
    scale: float | None = None,
    eval_mode: bool = False,
    divide: bool = True,
    leftover: str = "step_k",  # "step_k": loss / k, "step_r": loss / (leftover count), "drop": no step
    zero_grad_each: str = "step",  # "step" | "never" | "micro"
    schedule: tuple[int, int] | None = None,
) -> dict[str, torch.Tensor]:
    """The reference loop (and, through its switches, the common mistakes), on one CPU thread like the
    probe: multi-threaded CPU kernels may sum in another order, which bfloat16 rounding magnifies."""
    torch.manual_seed(0)
    model = ProbeNet(**NET, norm=norm).to(dtype)
    model.load_state_dict({k_: v.to(dtype) for k_, v in weights.items()})
    model.train(not eval_mode)
    opt_cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[optimizer]
    opt = opt_cls(model.parameters(), **(optimizer_kwargs or {}))
    sched = None
    if schedule is not None:
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: warmup_cosine_ref(s, schedule[0], schedule[1])
        )
    scaler = torch.amp.GradScaler("cpu", init_scale=scale, enabled=scale is not None) if scale else None
    data = [(x.to(dtype), y) for x, y in batches]
    n = len(data)
    for _ in range(epochs):
        for i, (x, y) in enumerate(data):
            group_start = (i // k) * k
            in_group = min(k, n - group_start)
            if in_group < k and leftover == "drop":
                break
            div = (in_group if (in_group < k and leftover == "step_r") else k) if divide else 1
            with torch.autocast(
                "cpu", dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None
            ):
                loss = nn.functional.cross_entropy(model(x), y)
            (scaler.scale(loss / div) if scaler else loss / div).backward()
            if zero_grad_each == "micro" and (i + 1) % k != 0 and i != n - 1:
                opt.zero_grad(set_to_none=True)
            if (i + 1) % k == 0 or i == n - 1:
                if clip is not None:
                    if scaler:
                        scaler.unscale_(opt)
                    nn.utils.clip_grad_norm_(model.parameters(), clip)
                if scaler:
                    scaler.step(opt)
                    scaler.update()
                else:
                    opt.step()
                if sched is not None:
                    sched.step()
                if zero_grad_each != "never":
                    opt.zero_grad(set_to_none=True)
    return {k_: v.detach().clone() for k_, v in model.state_dict().items()}


def train_student(student, weights, batches, **kwargs) -> dict:
    res = student.call(
        "training.train_epoch", timeout=T_CALL, weights=weights, batches=batches, **NET, **kwargs
    )
    results = res.get("results") if isinstance(res, dict) else None
    if not results or not isinstance(results[-1], dict):
        got = results[-1] if results else None
        fail(
            "train_one_epoch must return a dict with loss, steps, samples_per_s, global_step; "
            f"got {str(got)[:80]}"
        )
    return res


def numbers_close(actual, expected, tol: float = 1e-9) -> bool:
    """``actual`` equals the number (or list of numbers) ``expected`` within ``tol``; else False."""
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(actual, (list, tuple))
            and len(actual) == len(expected)
            and all(numbers_close(a, e, tol) for a, e in zip(actual, expected, strict=True))
        )
    return (
        isinstance(actual, (int, float))
        and not isinstance(actual, bool)
        and math.isfinite(actual)
        and abs(actual - expected) <= tol * max(1.0, abs(expected))
    )


def loop_kwargs(res: dict) -> dict:
    """The student's loop-level choice that other areas' weight checks must not charge again: a loop that never
    zeroes the gradients (graded by ``test_train_loop_matches_reference``) is compared with a reference that
    does the same, so an AMP or accumulation test judges only its own promise."""
    log = [e for e in res.get("log", []) if isinstance(e, str)]
    zeroed = sum(e.startswith("zero_grad") for e in log) >= max(1, log.count("opt.step"))  # once per step
    pending = not all(res.get("grads_none") or [True])
    return {"zero_grad_each": "never"} if pending and not zeroed else {}


def events(res: dict, prefix: str) -> list[str]:
    return [e for e in res.get("log", []) if isinstance(e, str) and e.startswith(prefix)]


def check_weights(res, expected, what, *, rtol=1e-9, atol=1e-12, hints=()):
    actual = student_weights(res, expected, what)
    check_close(
        actual,
        flat_state(expected),
        rtol=rtol,
        atol=atol,
        what=what,
        dtype=False,
        hints=[(msg, flat_state(h)) for msg, h in hints],
    )
