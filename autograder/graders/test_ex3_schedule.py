"""Hidden graders for Exercise 3, the learning-rate schedule (schedule, 6 points): ``warmup_cosine`` against
the closed form of Hugging Face's cosine schedules, and ``train_one_epoch`` stepping the scheduler once
after each optimizer step.
"""

from __future__ import annotations

import math

import pytest

from autograder.child.probes.training import warmup_cosine_ref
from autograder.graders.checks import fail
from autograder.graders.ex3_common import (
    EX,
    T_CALL,
    events,
    numbers_close,
    split_batches,
    start_weights,
    toy_data,
    train_student,
)

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
    w = start_weights(25)
    for k, n_micro, size in ((3, 7, 4), (1, 5, 5)):
        x, y = toy_data(n_micro * size, seed=26)
        res = train_student(
            student,
            w,
            split_batches(x, y, size),
            optimizer_kwargs={"lr": 0.1},
            accumulation_steps=k,
            scheduler="count",
        )
        # judged against the optimizer steps the loop actually took: how many it should take is graded
        # by the accumulation tests
        sched, steps = len(events(res, "sched.step")), len(events(res, "opt.step"))
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
    w = start_weights(27)
    x, y = toy_data(32, seed=28)
    res = train_student(
        student,
        w,
        split_batches(x, y, 8),  # 4 batches, 4 optimizer steps (accumulation is graded by its own tests)
        optimizer_kwargs={"lr": 1.0},
        scheduler="lambda",
        schedule={"warmup_steps": 2, "total_steps": 6},
    )
    lrs = [s["lr"] for s in res.get("opt_steps", [])]
    expected = [warmup_cosine_ref(i, 2, 6) for i in range(4)]
    if len(lrs) != 4:
        fail(f"4 batches make 4 optimizer steps, got {len(lrs)}")
    if numbers_close(lrs, expected, 1e-12):
        return
    if numbers_close(lrs, [warmup_cosine_ref(i + 1, 2, 6) for i in range(4)], 1e-12):
        fail("the scheduler is stepped before the optimizer: call scheduler.step() after optimizer.step()")
    fail(
        f"learning rates used by the 4 optimizer steps: {[round(v, 4) for v in lrs]}, expected "
        f"{[round(v, 4) for v in expected]}"
    )
