"""Hidden graders for Exercise 3, mixed precision in ``train_one_epoch`` (amp, 8 points + 4 on CUDA):
bfloat16 autocast on CPU, float16 with a given or a new ``torch.amp.GradScaler``, unscaling before clipping.
The references are the loop of ``ex3_common.py`` under ``torch.autocast`` with torch's own GradScaler.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from autograder.child.probes.training import ProbeNet
from autograder.graders.checks import fail
from autograder.graders.ex3_common import (
    EX,
    NET,
    check_weights,
    events,
    flat_state,
    loop_kwargs,
    ref_train,
    split_batches,
    start_weights,
    student_weights,
    toy_data,
    train_student,
)


@pytest.mark.grade(points=1, tags=[EX, "amp"], visibility="hidden")
def test_amp_float16_makes_a_grad_scaler(student):
    """AMP in float16 without a given scaler: train_one_epoch makes a GradScaler and scales the loss"""
    w = start_weights(31)
    x, y = toy_data(24, seed=32)
    batches = split_batches(x, y, 12)
    res = train_student(student, w, batches, optimizer_kwargs={"lr": 0.05}, amp=True, amp_dtype="float16")
    fwd = events(res, "fwd:")
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
                         autocast_dtype=torch.float16, scale=65536.0, **loop_kwargs(res))
    check_weights(res, expected, "weights after a float16 epoch with a new GradScaler", rtol=1e-3, atol=1e-4)


@pytest.mark.grade(points=2, tags=[EX, "amp"], visibility="visible")
def test_amp_bfloat16_on_cpu(student):
    """AMP on CPU: forward and loss under bfloat16 autocast, backward outside it, float32 weights"""
    w = start_weights(7)
    x, y = toy_data(32, seed=8)
    batches = split_batches(x, y, 16)
    opt = {"lr": 0.1}
    res = train_student(student, w, batches, optimizer_kwargs=opt, amp=True)
    fwd, loss, bwd = events(res, "fwd:"), events(res, "loss:"), events(res, "bwd:")
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
    if events(res, "scale"):
        fail("bfloat16 needs no GradScaler: scale the loss only when AMP runs in float16")
    expected = ref_train(w, batches, dtype=torch.float32, optimizer_kwargs=opt, autocast_dtype=torch.bfloat16,
                         **loop_kwargs(res))
    plain = flat_state(ref_train(w, batches, dtype=torch.float32, optimizer_kwargs=opt, **loop_kwargs(res)))
    # bfloat16 rounding moves the weights by `gap` from the float32 path; a correct run lands near the bfloat16
    # reference (a few roundings may flip with another summation order), a float32 run near `plain`.
    actual, bf16 = student_weights(res, expected, "weights"), flat_state(expected)
    gap = float((plain - bf16).norm())
    assert gap > 1e-6, "grader setup: bfloat16 and float32 references coincide"
    if float((actual - bf16).norm()) > 0.25 * gap:
        if float((actual - plain).norm()) <= 0.25 * gap:
            fail("the weights after the epoch equal the float32 path's: the forward (or the loss) did not "
                 "compute in bfloat16 — run both inside torch.autocast('cpu', dtype=torch.bfloat16)")
        check_weights(res, expected, "weights after a bfloat16-autocast epoch", rtol=1e-4, atol=1e-5)


@pytest.mark.grade(points=1, tags=[EX, "amp"], visibility="visible")
def test_amp_scaler_only_for_float16(student):
    """AMP: a given GradScaler is left alone with amp=False and with bfloat16; amp=False is plain float32"""
    w = start_weights(9)
    x, y = toy_data(24, seed=10)
    for kwargs, what in (
        ({"amp": False}, "amp=False"),
        ({}, "the default amp"),
        ({"amp": True, "amp_dtype": "bfloat16"}, "amp=True with bfloat16"),
    ):
        res = train_student(student, w, split_batches(x, y, 8), optimizer_kwargs={"lr": 0.1}, scaler_scale=1024.0,
                            **kwargs)
        if events(res, "scale") or events(res, "update"):
            fail(f"with {what} the given GradScaler must not be used (scaling is only for float16)")
        fwd = events(res, "fwd:")
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
    w = start_weights(11)
    x, y = toy_data(48, seed=12)
    batches = split_batches(x, y, 24)  # 2 batches, 2 optimizer steps (accumulation is graded by its own tests)
    opt = {"lr": 0.1}
    scale = 1024.0
    res = train_student(student, w, batches, optimizer_kwargs=opt, amp=True, amp_dtype="float16", scaler_scale=scale)
    if any(e != "fwd:float16:1" for e in events(res, "fwd:")):
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
        **loop_kwargs(res),
    )
    check_weights(res, expected, "weights after a float16 + GradScaler epoch", rtol=1e-4, atol=1e-5)


def _clips_without_amp(student) -> bool:
    """Whether the student's loop clips at all (float32, no AMP): clipping itself is graded by
    ``test_train_loop_clipping_without_amp``; the AMP test below grades only what AMP adds to it."""
    w = start_weights(13)
    x, y = toy_data(24, seed=14)
    clip = 0.01
    res = train_student(student, w, split_batches(x, y, 12), optimizer_kwargs={"lr": 0.1}, max_grad_norm=clip)
    norms = [s.get("grad_norm") for s in res.get("opt_steps") or []]
    return bool(norms) and all(n <= clip * (1 + 1e-3) for n in norms)


@pytest.mark.grade(points=2, tags=[EX, "amp"], visibility="visible")
def test_amp_unscale_before_clipping(student):
    """AMP + clipping: scaler.unscale_ before clip_grad_norm_, so the true gradients are clipped"""
    w = start_weights(13)
    x, y = toy_data(48, seed=14)
    batches = split_batches(x, y, 24)  # 2 batches, 2 optimizer steps (accumulation is graded by its own tests)
    clip, scale = 0.01, 4096.0
    opt = {"lr": 0.1}
    res = train_student(student, w, batches, optimizer_kwargs=opt, amp=True, amp_dtype="float16", scaler_scale=scale,
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
                         scale=scale, clip=clip if clipped_here else None, **loop_kwargs(res))
    check_weights(res, expected, "weights after clipped float16 steps", rtol=1e-4, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.grade(points=4, tags=[EX, "amp"], visibility="visible")
def test_amp_cuda_float16_with_a_new_grad_scaler(student):
    """AMP on CUDA: float16 autocast by default and a GradScaler made when none is given"""
    w = start_weights(15)
    x, y = toy_data(64, seed=16)
    batches = split_batches(x, y, 16)
    res = train_student(student, w, batches, optimizer_kwargs={"lr": 0.05}, amp=True, device="cuda")
    fwd = events(res, "fwd:")
    if not fwd or any(e != "fwd:float16:1" for e in fwd):
        fail(f"with amp=True on CUDA the forward must run under float16 autocast; found {fwd[:1]}")
    if any(e != "bwd:0" for e in events(res, "bwd:")):
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
