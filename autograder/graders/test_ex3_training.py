"""Hidden graders for Exercise 3: ``train_one_epoch`` (train_loop 8, amp 8 + 4 on CUDA, accumulation 7),
``build_optimizer`` (optimizer 6) and ``warmup_cosine`` (schedule 6) — 35 CPU points.

References are independent of the student's code: float64 training loops written here with torch's own
optimizers, ``torch.autocast`` + ``torch.amp.GradScaler`` for the mixed-precision paths, the closed form
of Hugging Face's cosine schedules, and the CIFAR-10 test labels, which only this side reads. The probes
(``autograder/child/probes/training.py``, ``optim.py``) run the student's code on the same tiny models with
spies that record the order of events, the dtypes inside the forward pass and the gradients the
optimizer receives.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from autograder.child.probes import single_threaded
from autograder.child.probes.training import ProbeNet, warmup_cosine_ref
from autograder.engine.errors import StudentError
from autograder.graders.checks import check_close, cifar10_arrays, fail

EX = "ex3"
T_CALL = 30  # seconds per probe call (tiny models; bfloat16 on CPU is slow on some machines)
NET = {"d_in": 8, "hidden": 16, "classes": 3}


# ------------------------------------------------------------------------------------------ helpers
def _weights(seed: int, norm: str = "layer") -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    net = ProbeNet(**NET, norm=norm)
    with torch.no_grad():  # a non-trivial norm affine, so that a missing step shows everywhere
        for name, p in net.named_parameters():
            if name.startswith("norm."):
                p.add_(0.1 * torch.randn_like(p))
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _data(n: int, seed: int, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, NET["d_in"], generator=g, dtype=dtype), torch.randint(
        0, NET["classes"], (n,), generator=g
    )


def _split(x: torch.Tensor, y: torch.Tensor, size: int) -> list[list[torch.Tensor]]:
    return [[x[i : i + size], y[i : i + size]] for i in range(0, len(x), size)]


def _flat(state: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([state[k].double().reshape(-1) for k in sorted(state) if state[k].is_floating_point()])


def _student_weights(res: dict, expected: dict[str, torch.Tensor], what: str) -> torch.Tensor:
    w = res.get("weights") if isinstance(res, dict) else None
    if not isinstance(w, dict) or set(w) != set(expected):
        fail(f"{what}: the model's parameters could not be read back after training")
    return _flat(w)


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


def _train(student, weights, batches, **kwargs) -> dict:
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


def _close(actual, expected, tol: float = 1e-9) -> bool:
    """``actual`` equals the number (or list of numbers) ``expected`` within ``tol``; else False."""
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(actual, (list, tuple))
            and len(actual) == len(expected)
            and all(_close(a, e, tol) for a, e in zip(actual, expected, strict=True))
        )
    return (
        isinstance(actual, (int, float))
        and not isinstance(actual, bool)
        and math.isfinite(actual)
        and abs(actual - expected) <= tol * max(1.0, abs(expected))
    )


def _loop_kwargs(res: dict) -> dict:
    """The student's loop-level choice that other areas' weight checks must not charge again: a loop that never
    zeroes the gradients (graded by ``test_train_loop_matches_reference``) is compared with a reference that
    does the same, so an AMP or accumulation test judges only its own promise."""
    log = [e for e in res.get("log", []) if isinstance(e, str)]
    zeroed = sum(e.startswith("zero_grad") for e in log) >= max(1, log.count("opt.step"))  # once per step
    pending = not all(res.get("grads_none") or [True])
    return {"zero_grad_each": "never"} if pending and not zeroed else {}


def _events(res: dict, prefix: str) -> list[str]:
    return [e for e in res.get("log", []) if isinstance(e, str) and e.startswith(prefix)]


def _check_weights(res, expected, what, *, rtol=1e-9, atol=1e-12, hints=()):
    actual = _student_weights(res, expected, what)
    check_close(
        actual,
        _flat(expected),
        rtol=rtol,
        atol=atol,
        what=what,
        dtype=False,
        hints=[(msg, _flat(h)) for msg, h in hints],
    )


# ======================================================================================== train_loop
@pytest.mark.grade(points=2, tags=[EX, "train_loop"], visibility="visible")
def test_train_loop_matches_reference(student):
    """train_one_epoch: one epoch of SGD with momentum gives the reference weights (float64, batch norm)"""
    w = _weights(1, norm="batch")
    x, y = _data(32, seed=2, dtype=torch.float64)
    batches = _split(x, y, 8)
    opt = {"lr": 0.1, "momentum": 0.9}
    res = _train(student, w, batches, norm="batch", dtype="float64", optimizer_kwargs=opt)
    expected = ref_train(w, batches, norm="batch", optimizer_kwargs=opt)
    hints = [
        (
            "gradients pile up across steps — call optimizer.zero_grad(set_to_none=True) after every step",
            ref_train(w, batches, norm="batch", optimizer_kwargs=opt, zero_grad_each="never"),
        ),
        ("the weights never changed — is optimizer.step() (or scaler.step(optimizer)) called?", w),
    ]
    _check_weights(res, expected, "weights (and batch-norm statistics) after one epoch", hints=hints)


@pytest.mark.grade(points=2, tags=[EX, "train_loop"], visibility="visible")
def test_train_loop_return_values(student):
    """train_one_epoch: returns loss (mean per sample), steps, samples_per_s, global_step; train mode"""
    w = _weights(3)
    x, y = _data(13, seed=4, dtype=torch.float64)
    batches = _split(x, y, 5)  # batches of 5, 5, 3 (accumulation is graded by its own tests)
    res = _train(
        student,
        w,
        batches,
        dtype="float64",
        optimizer_kwargs={"lr": 0.0},
        global_step=7,
        start_in_eval=True,
    )
    out = res["results"][-1]
    missing = [k for k in ("loss", "steps", "samples_per_s", "global_step") if k not in out]
    if missing:
        fail(f"the returned dict lacks {missing}")
    for key, kind in (("loss", float), ("samples_per_s", float), ("steps", int), ("global_step", int)):
        value = out[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (kind is int and not isinstance(value, int))
        ):
            fail(f"'{key}' must be a Python {kind.__name__}, got {str(value)[:60]} (use .item() for tensors)")
    if out["steps"] != 3:
        fail(f"3 batches (accumulation_steps=1) make 3 optimizer steps; 'steps' is {out['steps']}")
    if out["global_step"] != 10:
        fail(
            "'global_step' must be the given global_step (7) plus the steps taken (3); "
            f"got {out['global_step']}"
        )
    if not (math.isfinite(out["samples_per_s"]) and out["samples_per_s"] > 0):
        fail(f"'samples_per_s' must be a positive throughput, got {out['samples_per_s']}")
    model = ProbeNet(**NET).double()
    model.load_state_dict({k: v.double() for k, v in w.items()})
    with torch.no_grad():
        per_batch = [nn.functional.cross_entropy(model(bx), by).item() for bx, by in batches]
        expected = nn.functional.cross_entropy(model(x), y).item()
    loss = out["loss"]
    if not math.isclose(loss, expected, rel_tol=1e-7):
        if math.isclose(loss, sum(per_batch) / len(per_batch), rel_tol=1e-7):
            fail(
                f"'loss' = {loss:.6g} is the plain mean of the micro-batch losses; weight each by its size "
                f"(mean per sample over the epoch = {expected:.6g})"
            )
        fail(f"'loss' should be the mean per-sample loss over the epoch, {expected:.6g}; got {loss:.6g}")
    if not all(res.get("grads_none", [False])):
        fail("gradients are left after the epoch: call optimizer.zero_grad(set_to_none=True) after each step")
    if "zero_grad:0" in res.get("log", []):
        fail("zero_grad was called with set_to_none=False: use optimizer.zero_grad(set_to_none=True)")
    if not res.get("training", False):
        fail(
            "the model was in eval mode and stayed there: call model.train() at the start of train_one_epoch"
        )


@pytest.mark.grade(points=1, tags=[EX, "train_loop"], visibility="visible")
def test_train_loop_writer(student):
    """train_one_epoch: TensorBoard train/loss, train/lr, train/grad_norm per optimizer step, samples_per_s"""
    w = _weights(5)
    x, y = _data(48, seed=6)
    res = _train(
        student,
        w,
        _split(x, y, 16),  # 3 batches, 3 optimizer steps (accumulation is graded by its own tests)
        optimizer_kwargs={"lr": 0.1},
        writer=True,
        global_step=10,
        max_grad_norm=1e3,
    )
    scalars = res.get("scalars") or []
    if not scalars:
        fail("with a writer, train_one_epoch must log scalars (writer.add_scalar(tag, value, global_step))")
    bad = [s for s in scalars if not (isinstance(s[1], float) and math.isfinite(s[1]))]
    if bad:
        fail(f"a logged scalar is not a finite number: {bad[0][0]!r} = {bad[0][1]}")
    steps = {s[2] for s in scalars if s[2] is not None}
    if not ({11, 12, 13} <= steps or {10, 11, 12} <= steps):
        fail(
            f"expected scalars at every optimizer step (global steps 11, 12, 13 for 3 steps after "
            f"global_step=10); logged at {sorted(steps)[:10]}"
        )
    per_tag: dict[str, int] = {}
    for tag, _, _ in scalars:
        per_tag[tag] = per_tag.get(tag, 0) + 1
    if max(per_tag.values()) > 3 + 1:
        tag = max(per_tag, key=per_tag.get)
        fail(
            f"{tag!r} was logged {per_tag[tag]} times for 3 optimizer steps — log once per optimizer step"
        )
    for tag, n in (("train/loss", 3), ("train/lr", 3), ("train/grad_norm", 3), ("train/samples_per_s", 1)):
        if per_tag.get(tag) != n:
            fail(f"with a writer and max_grad_norm, {tag!r} must be logged {n} time(s) for 3 optimizer steps; "
                 f"it was logged {per_tag.get(tag, 0)} time(s) (tags logged: {sorted(per_tag)[:8]})")
    by_tag = {tag: [v for t, v, _ in scalars if t == tag] for tag in per_tag}
    if not _close(by_tag["train/lr"], [0.1, 0.1, 0.1], 1e-9):
        fail(f"'train/lr' must be optimizer.param_groups[0]['lr'] used by each step (0.1), got {by_tag['train/lr']}")
    model = ProbeNet(**NET)
    model.load_state_dict(w)
    with torch.no_grad():  # the first step's loss: the mean over its 16 samples, at the initial weights
        first = nn.functional.cross_entropy(model(x[:16]), y[:16]).item()
    x16, y16 = x[:16].clone(), y[:16]
    model.zero_grad()
    nn.functional.cross_entropy(model(x16), y16).backward()
    norm = math.sqrt(sum(float(p.grad.double().norm()) ** 2 for p in model.parameters()))
    if not math.isclose(by_tag["train/loss"][0], first, rel_tol=1e-4):
        fail(f"the first 'train/loss' should be that step's mean loss over its 16 samples, {first:.6g}; "
             f"got {by_tag['train/loss'][0]:.6g}")
    if not math.isclose(by_tag["train/grad_norm"][0], norm, rel_tol=1e-4):
        fail(f"the first 'train/grad_norm' should be the total gradient norm before clipping, {norm:.6g}; got "
             f"{by_tag['train/grad_norm'][0]:.6g} (log what clip_grad_norm_ returns)")


def _cifar_subsets(train_per_class: int, test_per_class: int, seed: int = 3):
    tx, ty, sx, sy = cifar10_arrays()
    rng = np.random.default_rng(seed)

    def pick(labels, per_class):
        return np.sort(
            np.concatenate(
                [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)]
            )
        )

    i, j = pick(ty, train_per_class), pick(sy, test_per_class)

    def chw(images):
        return (
            torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
        )  # (N, 3, 32, 32)

    return (
        chw(tx[i]),
        torch.from_numpy(ty[i].astype(np.int64)),
        chw(sx[j]),
        torch.from_numpy(sy[j].astype(np.int64)),
    )


CIFAR_THRESHOLD = 0.30  # the reference loop reaches ~0.40 with this budget; chance is 0.10


@pytest.mark.grade(points=2, tags=[EX, "train_loop"], visibility="hidden")
def test_train_loop_cifar_accuracy(student):
    """train_one_epoch: trains a small CNN on 2 000 CIFAR-10 images to >= 0.30 test accuracy"""
    x, y, xt, yt = _cifar_subsets(200, 100)
    res = student.call("training.cifar_fit", timeout=120, train_x=x, train_y=y, test_x=xt, epochs=5)
    preds = res.get("predictions") if isinstance(res, dict) else None
    if type(preds) is not torch.Tensor or tuple(preds.shape) != tuple(yt.shape):
        fail("the CIFAR-10 run returned no predictions")
    acc = float((preds.long() == yt).double().mean())
    if acc < CIFAR_THRESHOLD:
        losses = [f"{v:.3f}" if isinstance(v, float) else "?" for v in res.get("losses", [])]
        fail(
            f"a small CNN trained for 5 epochs by your train_one_epoch reaches {acc:.3f} test accuracy "
            f"(needed: {CIFAR_THRESHOLD:.2f}; the reference loop gets about 0.40). Epoch losses: {losses}"
        )


@pytest.mark.grade(points=1, tags=[EX, "train_loop"], visibility="hidden")
def test_train_loop_clipping_without_amp(student):
    """train_one_epoch: max_grad_norm clips the total gradient norm before each step (no AMP, float64)"""
    w = _weights(29)
    x, y = _data(24, seed=30, dtype=torch.float64)
    batches = _split(x, y, 12)  # 2 batches, 2 steps (accumulation is graded by its own tests)
    clip, opt = 0.05, {"lr": 0.5}
    res = _train(student, w, batches, dtype="float64", optimizer_kwargs=opt, max_grad_norm=clip)
    norms = [s.get("grad_norm") for s in res.get("opt_steps") or []]
    if len(norms) != 2:
        fail(f"2 batches make 2 optimizer steps, got {len(norms)}")
    if any(n > clip * (1 + 1e-6) for n in norms):
        fail(f"with max_grad_norm={clip} and amp=False the optimizer received gradients of norm "
             f"{[round(n, 4) for n in norms]}: clip with nn.utils.clip_grad_norm_(model.parameters(), "
             "max_grad_norm) before every step, with or without AMP")
    expected = ref_train(w, batches, optimizer_kwargs=opt, clip=clip)
    _check_weights(res, expected, "weights after 2 clipped steps (float64, no AMP)",
                   hints=[("the gradients were not clipped", ref_train(w, batches, optimizer_kwargs=opt))])


# =============================================================================================== amp
@pytest.mark.grade(points=1, tags=[EX, "amp"], visibility="hidden")
def test_amp_float16_makes_a_grad_scaler(student):
    """AMP in float16 without a given scaler: train_one_epoch makes a GradScaler and scales the loss"""
    w = _weights(31)
    x, y = _data(24, seed=32)
    batches = _split(x, y, 12)
    res = _train(student, w, batches, optimizer_kwargs={"lr": 0.05}, amp=True, amp_dtype="float16")
    fwd = _events(res, "fwd:")
    if not fwd or any(e != "fwd:float16:1" for e in fwd):
        fail(f"with amp=True, amp_dtype=float16 the forward must run under float16 autocast; found {fwd[:1]}")
    norms = res.get("bwd_norms") or []
    ref = _hidden_grad_norm(w, *batches[0], k=1)
    ratio = norms[0] / ref if norms and ref > 0 else float("nan")
    if not ratio > 100:
        fail(f"in float16 without a given scaler, make one (torch.amp.GradScaler(device.type)) and back-propagate "
             f"scaler.scale(loss): the gradient in backward is only {ratio:.3g}x the unscaled one")
    final = res.get("weights") or {}
    if not all(bool(torch.isfinite(v).all()) for v in final.values()):
        fail("the weights became inf/NaN after float16 steps: step through scaler.step(optimizer) and "
             "scaler.update(), which unscale the gradients and skip overflowed steps")
    expected = ref_train(w, batches, dtype=torch.float32, optimizer_kwargs={"lr": 0.05},
                         autocast_dtype=torch.float16, scale=65536.0, **_loop_kwargs(res))
    _check_weights(res, expected, "weights after a float16 epoch with a new GradScaler", rtol=1e-3, atol=1e-4)


@pytest.mark.grade(points=2, tags=[EX, "amp"], visibility="visible")
def test_amp_bfloat16_on_cpu(student):
    """AMP on CPU: forward and loss under bfloat16 autocast, backward outside it, float32 weights"""
    w = _weights(7)
    x, y = _data(32, seed=8)
    batches = _split(x, y, 16)
    opt = {"lr": 0.1}
    res = _train(student, w, batches, optimizer_kwargs=opt, amp=True)
    fwd, loss, bwd = _events(res, "fwd:"), _events(res, "loss:"), _events(res, "bwd:")
    if not fwd:
        fail("the model's forward pass never ran")
    if any(e != "fwd:bfloat16:1" for e in fwd):
        bad = next(e for e in fwd if e != "fwd:bfloat16:1").split(":")
        fail(
            f"with amp=True on CPU, activations inside the forward must be bfloat16 under autocast; found "
            f"{bad[1]} with autocast {'on' if bad[2] == '1' else 'off'} — torch.autocast(device.type, "
            "dtype=amp_dtype or (float16 on CUDA, bfloat16 on CPU), enabled=amp)"
        )
    if any(e != "loss:1" for e in loss):
        fail("the loss must be computed inside the autocast region too (forward and loss under autocast)")
    if any(e != "bwd:0" for e in bwd) or not bwd:
        fail("backward() ran inside autocast: leave the autocast block before calling backward")
    if res.get("param_dtypes") != ["float32"]:
        fail(
            f"the weights must stay float32 under autocast; found {res.get('param_dtypes')} "
            "(do not call model.half() / model.bfloat16())"
        )
    if _events(res, "scale"):
        fail("bfloat16 needs no GradScaler: scale the loss only when AMP runs in float16")
    expected = ref_train(w, batches, dtype=torch.float32, optimizer_kwargs=opt, autocast_dtype=torch.bfloat16,
                         **_loop_kwargs(res))
    plain = _flat(ref_train(w, batches, dtype=torch.float32, optimizer_kwargs=opt, **_loop_kwargs(res)))
    # bfloat16 rounding moves the weights by `gap` from the float32 path; a correct run lands near the bfloat16
    # reference (a few roundings may flip with another summation order), a float32 run near `plain`.
    actual, bf16 = _student_weights(res, expected, "weights"), _flat(expected)
    gap = float((plain - bf16).norm())
    assert gap > 1e-6, "grader setup: bfloat16 and float32 references coincide"
    if float((actual - bf16).norm()) > 0.25 * gap:
        if float((actual - plain).norm()) <= 0.25 * gap:
            fail("the weights after the epoch equal the float32 path's: the forward (or the loss) did not "
                 "compute in bfloat16 — run both inside torch.autocast('cpu', dtype=torch.bfloat16)")
        _check_weights(res, expected, "weights after a bfloat16-autocast epoch", rtol=1e-4, atol=1e-5)


@pytest.mark.grade(points=1, tags=[EX, "amp"], visibility="visible")
def test_amp_scaler_only_for_float16(student):
    """AMP: a given GradScaler is left alone with amp=False and with bfloat16; amp=False is plain float32"""
    w = _weights(9)
    x, y = _data(24, seed=10)
    for kwargs, what in (
        ({"amp": False}, "amp=False"),
        ({}, "the default amp"),
        ({"amp": True, "amp_dtype": "bfloat16"}, "amp=True with bfloat16"),
    ):
        res = _train(student, w, _split(x, y, 8), optimizer_kwargs={"lr": 0.1}, scaler_scale=1024.0, **kwargs)
        if _events(res, "scale") or _events(res, "update"):
            fail(f"with {what} the given GradScaler must not be used (scaling is only for float16)")
        fwd = _events(res, "fwd:")
        if "bfloat16" not in what and any(e != "fwd:float32:0" for e in fwd):
            fail(f"with {what}, nothing may run under autocast: found {fwd[0]}")


def _hidden_grad_norm(w, x, y, k: int) -> float:
    """Norm of d(loss / k)/d(hidden) for one micro-batch, float32, no scaling (the unscaled reference)."""
    model = ProbeNet(**NET)
    model.load_state_dict(w)
    log, norms = [], []
    model.sink = (log, norms)
    (nn.functional.cross_entropy(model(x), y) / k).backward()
    return norms[0]


@pytest.mark.grade(points=2, tags=[EX, "amp"], visibility="visible")
def test_amp_float16_uses_the_grad_scaler(student):
    """AMP in float16: the GradScaler scales each loss, steps and updates once per optimizer step"""
    w = _weights(11)
    x, y = _data(48, seed=12)
    batches = _split(x, y, 24)  # 2 batches, 2 optimizer steps (accumulation is graded by its own tests)
    opt = {"lr": 0.1}
    scale = 1024.0
    res = _train(student, w, batches, optimizer_kwargs=opt, amp=True, amp_dtype="float16", scaler_scale=scale)
    if any(e != "fwd:float16:1" for e in _events(res, "fwd:")):
        fail("with amp_dtype=float16 the forward must run under float16 autocast")
    calls = [e for e in res.get("log", []) if e in ("scale", "scaler.step", "update", "opt.step")]
    if calls.count("scale") == 0:
        fail("in float16 the given GradScaler must scale the loss: scaler.scale(loss).backward()")
    if calls.count("scale") != 2:
        fail(f"scaler.scale should run once per batch (2), ran {calls.count('scale')} times")
    if calls.count("scaler.step") != 2 or calls.count("update") != 2:
        fail(
            f"scaler.step(optimizer) and scaler.update() should run once per optimizer step (2 each); got "
            f"{calls.count('scaler.step')} and {calls.count('update')}"
        )
    norms = res.get("bwd_norms") or []
    ref = _hidden_grad_norm(w, *batches[0], k=1)
    ratio = norms[0] / ref if norms and ref > 0 else float("nan")
    if not (0.5 * scale < ratio < 2 * scale):
        fail(
            f"the gradient in backward is {ratio:.4g}x the unscaled one; with a scale of {scale:g} it should "
            f"be {scale:g}x — is the scaled loss (scaler.scale(loss)) what backward() runs on?"
        )
    expected = ref_train(
        w, batches, dtype=torch.float32, optimizer_kwargs=opt, autocast_dtype=torch.float16, scale=scale,
        **_loop_kwargs(res),
    )
    _check_weights(res, expected, "weights after a float16 + GradScaler epoch", rtol=1e-4, atol=1e-5)


def _clips_without_amp(student) -> bool:
    """Whether the student's loop clips at all (float32, no AMP): clipping itself is graded by
    ``test_train_loop_clipping_without_amp``; the AMP test below grades only what AMP adds to it."""
    w = _weights(13)
    x, y = _data(24, seed=14)
    clip = 0.01
    res = _train(student, w, _split(x, y, 12), optimizer_kwargs={"lr": 0.1}, max_grad_norm=clip)
    norms = [s.get("grad_norm") for s in res.get("opt_steps") or []]
    return bool(norms) and all(n <= clip * (1 + 1e-3) for n in norms)


@pytest.mark.grade(points=2, tags=[EX, "amp"], visibility="visible")
def test_amp_unscale_before_clipping(student):
    """AMP + clipping: scaler.unscale_ before clip_grad_norm_, so the true gradients are clipped"""
    w = _weights(13)
    x, y = _data(48, seed=14)
    batches = _split(x, y, 24)  # 2 batches, 2 optimizer steps (accumulation is graded by its own tests)
    clip, scale = 0.01, 4096.0
    opt = {"lr": 0.1}
    res = _train(student, w, batches, optimizer_kwargs=opt, amp=True, amp_dtype="float16", scaler_scale=scale,
                 max_grad_norm=clip)
    steps = res.get("opt_steps") or []
    if len(steps) != 2:
        fail(f"expected 2 optimizer steps that were not skipped, got {len(steps)}")
    clips = _clips_without_amp(student)
    clipped_here = all(math.isclose(s["grad_norm"], clip, rel_tol=2e-2) for s in steps)
    for s in steps:
        norm = s["grad_norm"]
        if math.isclose(norm, clip, rel_tol=2e-2):
            continue
        if math.isclose(norm, clip / scale, rel_tol=5e-2):
            fail(
                f"the optimizer received gradients of norm {norm:.3g} = max_grad_norm / scale: the *scaled* "
                "gradients were clipped. Call scaler.unscale_(optimizer) before clip_grad_norm_"
            )
        if not clips:
            continue  # no clipping at all, with or without AMP: charged by the clipping test, not here
        if norm > 1.5 * clip:
            fail(
                f"with AMP the optimizer received gradients of norm {norm:.3g} > max_grad_norm = {clip}, while "
                "without AMP your loop clips: clip in the AMP path too (scaler.unscale_, then clip_grad_norm_)"
            )
        fail(
            f"the optimizer received gradients of norm {norm:.3g}; after unscale_ and clipping it should be "
            f"{clip} — unscale_ first, then clip_grad_norm_, then scaler.step"
        )
    log = [e for e in res.get("log", []) if e in ("unscale_", "scaler.step")]
    if clipped_here and (log.count("unscale_") < 2 or any(
        a == "scaler.step" and b != "unscale_" for b, a in zip(log, log[1:], strict=False)
    )):
        fail("call scaler.unscale_(optimizer) before clipping, once per optimizer step")
    expected = ref_train(w, batches, dtype=torch.float32, optimizer_kwargs=opt, autocast_dtype=torch.float16,
                         scale=scale, clip=clip if clipped_here else None, **_loop_kwargs(res))
    _check_weights(res, expected, "weights after clipped float16 steps", rtol=1e-4, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.grade(points=4, tags=[EX, "amp"], visibility="visible")
def test_amp_cuda_float16_with_a_new_grad_scaler(student):
    """AMP on CUDA: float16 autocast by default and a GradScaler made when none is given"""
    w = _weights(15)
    x, y = _data(64, seed=16)
    batches = _split(x, y, 16)
    res = _train(student, w, batches, optimizer_kwargs={"lr": 0.05}, amp=True, device="cuda")
    fwd = _events(res, "fwd:")
    if not fwd or any(e != "fwd:float16:1" for e in fwd):
        fail(f"with amp=True on CUDA the forward must run under float16 autocast; found {fwd[:1]}")
    if any(e != "bwd:0" for e in _events(res, "bwd:")):
        fail("backward() ran inside autocast: leave the autocast block before calling backward")
    norms = res.get("bwd_norms") or []
    ref = _hidden_grad_norm(w, *batches[0], k=1)
    ratio = norms[0] / ref if norms and ref > 0 else float("nan")
    if not ratio > 100:
        fail(
            f"in float16 without a given scaler, make one (torch.amp.GradScaler('cuda')) and scale the loss: "
            f"the gradient in backward is only {ratio:.3g}x the unscaled one"
        )
    out = res["results"][-1]
    if out.get("steps") != 4:
        fail(f"4 batches with accumulation_steps=1 make 4 optimizer steps, got {out.get('steps')}")
    final = res.get("weights") or {}
    if not all(bool(torch.isfinite(v).all()) for v in final.values()):
        fail("the weights became inf/NaN: were skipped (overflowed) steps applied anyway?")


# ====================================================================================== accumulation
def _accumulation_hints(w, batches, k, opt_name, opt, epochs=1):
    return [
        (
            "the loss is not divided by accumulation_steps (the accumulated gradient is k times too large)",
            ref_train(w, batches, optimizer=opt_name, optimizer_kwargs=opt, k=k, divide=False, epochs=epochs),
        ),
        (
            "the gradients are zeroed after every micro-batch, so only the last one counts",
            ref_train(
                w,
                batches,
                optimizer=opt_name,
                optimizer_kwargs=opt,
                k=k,
                zero_grad_each="micro",
                epochs=epochs,
            ),
        ),
        (
            "the optimizer steps after every micro-batch instead of every accumulation_steps micro-batches",
            ref_train(w, batches, optimizer=opt_name, optimizer_kwargs=opt, k=1, epochs=epochs),
        ),
    ]


@pytest.mark.grade(points=2, tags=[EX, "accumulation"], visibility="visible")
def test_accumulation_sgd_equals_large_batch(student):
    """accumulation: 4 micro-batches of 6 == one step on the batch of 24 (SGD + momentum, float64)"""
    w = _weights(17)
    x, y = _data(24, seed=18, dtype=torch.float64)
    micro = _split(x, y, 6)
    opt = {"lr": 0.5, "momentum": 0.9}
    res = _train(student, w, micro, dtype="float64", optimizer_kwargs=opt, accumulation_steps=4, epochs=2)
    expected = ref_train(w, [[x, y]], optimizer_kwargs=opt, k=1, epochs=2, **_loop_kwargs(res))
    _check_weights(
        res,
        expected,
        "weights after accumulating 4 micro-batches (2 epochs)",
        hints=_accumulation_hints(w, micro, 4, "sgd", opt, epochs=2),
    )


@pytest.mark.grade(points=2, tags=[EX, "accumulation"], visibility="visible")
def test_accumulation_adamw_equals_large_batch(student):
    """accumulation: 9 micro-batches with k=3 == 3 steps on batches of 3x (AdamW, float64)"""
    w = _weights(19)
    x, y = _data(36, seed=20, dtype=torch.float64)
    micro = _split(x, y, 4)
    opt = {"lr": 0.01, "weight_decay": 0.1}
    res = _train(
        student, w, micro, dtype="float64", optimizer="adamw", optimizer_kwargs=opt, accumulation_steps=3
    )
    expected = ref_train(w, _split(x, y, 12), optimizer="adamw", optimizer_kwargs=opt, k=1, **_loop_kwargs(res))
    _check_weights(
        res,
        expected,
        "weights after 3 accumulated AdamW steps",
        hints=_accumulation_hints(w, micro, 3, "adamw", opt)[1:],
    )


@pytest.mark.grade(points=2, tags=[EX, "accumulation"], visibility="visible")
def test_accumulation_leftover_step(student):
    """accumulation: leftover micro-batches at the end of the epoch still make an optimizer step"""
    w = _weights(21)
    x, y = _data(40, seed=22, dtype=torch.float64)
    micro = _split(x, y, 8)  # 5 micro-batches, k = 2: steps after 2, 4 and the leftover 5th
    opt = {"lr": 0.3}
    res = _train(student, w, micro, dtype="float64", optimizer_kwargs=opt, accumulation_steps=2)
    out = res["results"][-1]
    actual = _student_weights(res, w, "weights")
    loop = _loop_kwargs(res)
    dropped = ref_train(w, micro, optimizer_kwargs=opt, k=2, leftover="drop", **loop)
    if torch.allclose(actual, _flat(dropped), rtol=1e-9, atol=1e-12) or out.get("steps") == 2:
        fail(
            "5 micro-batches with accumulation_steps=2: the 5th (leftover) micro-batch never made an "
            "optimizer "
            "step — after the loop, step once more when gradients are pending"
        )
    if out.get("steps") != 3:
        fail(
            f"5 micro-batches with accumulation_steps=2 make 3 optimizer steps; 'steps' is {out.get('steps')}"
        )
    for variant in ("step_k", "step_r"):  # loss / k (the contract) or / (leftover count): both accepted
        if torch.allclose(
            actual,
            _flat(ref_train(w, micro, optimizer_kwargs=opt, k=2, leftover=variant, **loop)),
            rtol=1e-9,
            atol=1e-12,
        ):
            return
    _check_weights(
        res,
        ref_train(w, micro, optimizer_kwargs=opt, k=2, **loop),
        "weights after the leftover step",
        hints=_accumulation_hints(w, micro, 2, "sgd", opt),
    )


@pytest.mark.grade(points=1, tags=[EX, "accumulation"], visibility="visible")
def test_accumulation_reported_loss_is_undivided(student):
    """accumulation: the reported loss is the undivided mean per sample; steps counted per optimizer step"""
    w = _weights(23)
    x, y = _data(28, seed=24, dtype=torch.float64)
    res = _train(
        student, w, _split(x, y, 4), dtype="float64", optimizer_kwargs={"lr": 0.0}, accumulation_steps=3
    )
    out = res["results"][-1]
    model = ProbeNet(**NET).double()
    model.load_state_dict({k: v.double() for k, v in w.items()})
    with torch.no_grad():
        expected = nn.functional.cross_entropy(model(x), y).item()
    loss = out.get("loss")
    if not isinstance(loss, (int, float)) or isinstance(loss, bool):
        fail(f"'loss' must be a float, got {str(loss)[:60]}")
    if math.isclose(loss, expected / 3, rel_tol=1e-6):
        fail("the reported 'loss' is divided by accumulation_steps: divide only what goes into backward()")
    if not math.isclose(loss, expected, rel_tol=1e-7):
        fail(f"'loss' should be the mean per-sample loss {expected:.6g}, got {loss:.6g}")
    if out.get("steps") != 3 or len(res.get("opt_steps", [])) != 3:
        fail(
            f"7 micro-batches with accumulation_steps=3 make 3 optimizer steps (2 full + the leftover); "
            f"'steps' is {out.get('steps')}, the optimizer stepped {len(res.get('opt_steps', []))} times"
        )


# ========================================================================================= optimizer
DECAY = {"emb.weight", "conv.weight", "fc.weight", "head.weight"}
NO_DECAY = {"conv.bias", "bn.weight", "bn.bias", "fc.bias", "ln.weight", "ln.bias", "scale"}


def _build(student, name, lr, **kwargs):
    res = student.call("optim.build", timeout=T_CALL, name=name, lr=lr, **kwargs)
    if not isinstance(res, dict) or not isinstance(res.get("groups"), list):
        fail(f"build_optimizer({name!r}) did not return a torch optimizer")
    return res


@pytest.mark.grade(points=2, tags=[EX, "optimizer"], visibility="visible")
def test_build_optimizer_param_groups(student):
    """build_optimizer: two groups — decay on >=2-D weights, none on biases and norm parameters"""
    res = _build(student, "adamw", 1e-3, weight_decay=0.05)
    groups = res["groups"]
    if len(groups) != 2:
        fail(f"expected exactly two param groups (decay, no decay), got {len(groups)}")
    names = [g["params"] for g in groups]
    flat = [n for ns in names for n in ns]
    if "<not a model parameter>" in flat:
        fail("a param group holds tensors that are not the model's parameters")
    if any(n.startswith("frozen.") for n in flat):
        fail("frozen parameters (requires_grad=False) must not be given to the optimizer")
    if len(flat) != len(set(flat)):
        fail("a parameter appears in more than one group (every parameter exactly once)")
    missing = (DECAY | NO_DECAY) - set(flat)
    if missing:
        fail(f"trainable parameters missing from the optimizer: {sorted(missing)}")
    decay, no_decay = set(names[0]), set(names[1])
    if decay == NO_DECAY and no_decay == DECAY:
        fail("the groups are in the wrong order: first the decayed weights (ndim >= 2), then the rest")
    if decay != DECAY:
        wrong = sorted(decay - DECAY)
        fail(
            f"the decay group must hold exactly the >=2-D weights; it has {wrong or sorted(decay)}"
            + (" — biases and batch/layer-norm parameters take no weight decay" if wrong else "")
        )
    if no_decay != NO_DECAY:
        fail(f"the no-decay group must hold the biases and norm parameters, got {sorted(no_decay)}")
    wd = [g.get("weight_decay") for g in groups]
    if not (_close(wd[0], 0.05) and _close(wd[1], 0.0)):
        fail(f"weight_decay must be {0.05} on the first group and 0.0 on the second; got {wd}")


@pytest.mark.grade(points=2, tags=[EX, "optimizer"], visibility="visible")
def test_build_optimizer_types_and_hyperparameters(student):
    """build_optimizer: SGD with momentum, Adam, AdamW with the given lr, momentum and betas"""
    for name, cls in (("sgd", "SGD"), ("adam", "Adam"), ("adamw", "AdamW")):
        res = _build(student, name, 0.02)
        if res.get("torch_class") != cls:
            fail(f"build_optimizer({name!r}) must return torch.optim.{cls}, got {res.get('class')}")
        if not all(_close(g.get("lr"), 0.02) for g in res["groups"]):
            fail(
                f"build_optimizer({name!r}, lr=0.02): every group needs lr 0.02, got "
                f"{[g.get('lr') for g in res['groups']]}"
            )
    res = _build(student, "sgd", 0.1)
    if not all(_close(g.get("momentum"), 0.9) for g in res["groups"]):
        fail(
            f"SGD must use momentum (default 0.9); got momentum {[g.get('momentum') for g in res['groups']]}"
        )
    res = _build(student, "sgd", 0.1, momentum=0.5)
    if not all(_close(g.get("momentum"), 0.5) for g in res["groups"]):
        fail("build_optimizer('sgd', momentum=0.5) must pass the momentum to torch.optim.SGD")
    res = _build(student, "adam", 0.1, betas=(0.8, 0.99))
    if not all(_close(g.get("betas"), [0.8, 0.99]) for g in res["groups"]):
        fail("build_optimizer('adam', betas=(0.8, 0.99)) must pass the betas to torch.optim.Adam")
    res = _build(student, "sgd", 0.1, weight_decay=0.01)
    if not _close([g.get("weight_decay") for g in res["groups"]], [0.01, 0.0]):
        fail("build_optimizer('sgd', weight_decay=0.01): decay 0.01 on the weights, 0.0 on the rest")


@pytest.mark.grade(points=1, tags=[EX, "optimizer"], visibility="hidden")
def test_build_optimizer_names_betas_and_tied_weights(student):
    """build_optimizer: case-insensitive names, AdamW betas, a parameter shared by two modules listed once"""
    for name, cls in (("SGD", "SGD"), ("AdamW", "AdamW"), ("Adam", "Adam")):
        try:
            res = _build(student, name, 0.01)
        except StudentError as exc:
            if exc.not_implemented:
                raise
            fail(f"build_optimizer({name!r}) raised {exc.exc_type}: the name is case-insensitive")
        if res.get("torch_class") != cls:
            fail(f"build_optimizer({name!r}) must return torch.optim.{cls} (names are case-insensitive), got "
                 f"{res.get('class')}")
    res = _build(student, "adamw", 0.1, betas=(0.8, 0.99))
    if not all(_close(g.get("betas"), [0.8, 0.99]) for g in res["groups"]):
        fail("build_optimizer('adamw', betas=(0.8, 0.99)) must pass the betas to torch.optim.AdamW")
    try:
        res = _build(student, "adamw", 0.1, weight_decay=0.1, tie=True)
    except StudentError as exc:
        if exc.not_implemented:
            raise
        fail(f"build_optimizer on a model with a tied weight (fc.weight shared by a second layer) raised "
             f"{exc.exc_type}: {exc.exc_message[:150]} — list a shared parameter once")
    flat = [n for g in res["groups"] for n in g["params"]]
    if len(flat) != len(set(flat)):
        fail("a tied weight (fc.weight shared by a second layer) is listed twice: every parameter exactly once")


@pytest.mark.grade(points=1, tags=[EX, "optimizer"], visibility="visible")
def test_build_optimizer_unknown_name(student):
    """build_optimizer: ValueError for a name other than sgd, adam, adamw"""
    for name in ("rmsprop", "lion"):
        try:
            res = student.call("optim.build", timeout=T_CALL, name=name, lr=0.1)
        except StudentError as exc:
            if exc.not_implemented:
                raise
            if exc.exc_type != "ValueError":
                fail(f"build_optimizer({name!r}) raised {exc.exc_type}; it must raise ValueError")
            named = [n for n in ("sgd", "adam", "adamw") if n in exc.exc_message.lower()]
            if len(named) < 3:
                fail(f"build_optimizer({name!r}) raised ValueError({exc.exc_message[:100]!r}); the message must "
                     "name the accepted values sgd, adam and adamw")
            continue
        fail(
            f"build_optimizer({name!r}) returned {res.get('class') if isinstance(res, dict) else res!r} "
            "instead of raising ValueError"
        )


# ========================================================================================== schedule
SCHEDULES = [(0, 10), (3, 20), (10, 10), (5, 7), (100, 1000), (1, 2)]


def _hf_cosine(step: int, warmup: int, total: int, min_ratio: float = 0.0) -> float:
    """Hugging Face's get_cosine(_with_min_lr)_schedule_with_warmup lambdas, written out."""
    if step < warmup:
        return float(step) / float(max(1, warmup))
    progress = float(step - warmup) / float(max(1, total - warmup))
    factor = 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress))
    return max(0.0, factor * (1 - min_ratio) + min_ratio)


def _check_schedule(student, warmup, total, ratio=None):
    steps = list(range(total + 1))
    res = student.call(
        "optim.warmup_cosine",
        timeout=T_CALL,
        steps=steps,
        warmup_steps=warmup,
        total_steps=total,
        min_lr_ratio=ratio,
    )
    values = res.get("values") if isinstance(res, dict) else None
    if not isinstance(values, list) or len(values) != len(steps):
        fail("warmup_cosine returned no values")
    for s, v in zip(steps, values, strict=True):
        if isinstance(v, dict):
            fail(f"warmup_cosine must return a Python float, got {str(v)[:60]} at step {s}")
        if not isinstance(v, (int, float)):
            fail(f"warmup_cosine({s}) is {v!r}, not a finite number")
        e = _hf_cosine(s, warmup, total, ratio or 0.0)
        if abs(v - e) <= 1e-9:
            continue
        where = f"warmup_cosine({s}, warmup_steps={warmup}, total_steps={total}" + (
            f", min_lr_ratio={ratio})" if ratio is not None else ")"
        )
        hint = ""
        if s < warmup and abs(v - (s + 1) / warmup) < 1e-9:
            hint = " — the warmup starts at 0: step / warmup_steps (not (step + 1) / ...)"
        elif s >= warmup and abs(v - _hf_cosine(s, 0, total, ratio or 0.0)) < 1e-9:
            hint = (
                " — measure the cosine progress from the end of the warmup: "
                "(step - warmup) / (total - warmup)"
            )
        elif s >= warmup and ratio and abs(v - _hf_cosine(s, warmup, total) * 1.0) < 1e-9:
            hint = " — min_lr_ratio is ignored: the cosine must decay to min_lr_ratio, not 0"
        elif (
            s >= warmup
            and abs(v - 0.5 * (1 + math.cos(2 * math.pi * (s - warmup) / max(1, total - warmup)))) < 1e-9
        ):
            hint = " — a half cosine: cos(pi * progress), not cos(2 pi * progress)"
        fail(f"{where} = {v:.6g}, expected {e:.6g}{hint}")


@pytest.mark.grade(points=2, tags=[EX, "schedule"], visibility="visible")
def test_warmup_cosine_matches_transformers(student):
    """warmup_cosine: equals transformers.get_cosine_schedule_with_warmup at every step"""
    for warmup, total in SCHEDULES:
        _check_schedule(student, warmup, total)


@pytest.mark.grade(points=1, tags=[EX, "schedule"], visibility="visible")
def test_warmup_cosine_min_lr_ratio(student):
    """warmup_cosine: equals get_cosine_with_min_lr_schedule_with_warmup(min_lr_rate=...) at every step"""
    for warmup, total in SCHEDULES[:4]:
        for ratio in (0.1, 0.5):
            _check_schedule(student, warmup, total, ratio)


@pytest.mark.grade(points=2, tags=[EX, "schedule"], visibility="visible")
def test_scheduler_steps_once_per_optimizer_step(student):
    """train_one_epoch: scheduler.step() once per optimizer step, not per micro-batch"""
    w = _weights(25)
    for k, n_micro, size in ((3, 7, 4), (1, 5, 5)):
        x, y = _data(n_micro * size, seed=26)
        res = _train(
            student,
            w,
            _split(x, y, size),
            optimizer_kwargs={"lr": 0.1},
            accumulation_steps=k,
            scheduler="count",
        )
        # judged against the optimizer steps the loop actually took: how many it should take is graded
        # by the accumulation tests
        sched, steps = len(_events(res, "sched.step")), len(_events(res, "opt.step"))
        if sched == 0:
            fail("scheduler.step() was never called: step the scheduler after each optimizer step")
        if sched == n_micro and steps != n_micro:
            fail(
                f"the scheduler stepped once per micro-batch ({sched} times for {steps} optimizer steps, "
                f"accumulation_steps={k}); step it once per optimizer step"
            )
        if sched != steps:
            fail(
                f"{n_micro} micro-batches, accumulation_steps={k}: scheduler.step() ran {sched} times for "
                f"{steps} optimizer steps; call it once after each optimizer step"
            )


@pytest.mark.grade(points=1, tags=[EX, "schedule"], visibility="visible")
def test_scheduler_steps_after_the_optimizer(student):
    """train_one_epoch: each optimizer step uses the LR of the schedule at that step"""
    w = _weights(27)
    x, y = _data(32, seed=28)
    res = _train(
        student,
        w,
        _split(x, y, 8),  # 4 batches, 4 optimizer steps (accumulation is graded by its own tests)
        optimizer_kwargs={"lr": 1.0},
        scheduler="lambda",
        schedule={"warmup_steps": 2, "total_steps": 6},
    )
    lrs = [s["lr"] for s in res.get("opt_steps", [])]
    expected = [warmup_cosine_ref(i, 2, 6) for i in range(4)]
    if len(lrs) != 4:
        fail(f"4 batches make 4 optimizer steps, got {len(lrs)}")
    if _close(lrs, expected, 1e-12):
        return
    if _close(lrs, [warmup_cosine_ref(i + 1, 2, 6) for i in range(4)], 1e-12):
        fail("the scheduler is stepped before the optimizer: call scheduler.step() after optimizer.step()")
    fail(
        f"learning rates used by the 4 optimizer steps: {[round(v, 4) for v in lrs]}, expected "
        f"{[round(v, 4) for v in expected]}"
    )
