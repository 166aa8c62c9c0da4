"""Hidden graders for Exercise 3, gradient accumulation in ``train_one_epoch`` (accumulation, 7 points):
k micro-batches equal one large batch (SGD and AdamW, float64), the leftover step, the undivided loss.
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
    flat_state,
    loop_kwargs,
    ref_train,
    split_batches,
    start_weights,
    student_weights,
    toy_data,
    train_student,
)


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
    w = start_weights(17)
    x, y = toy_data(24, seed=18, dtype=torch.float64)
    micro = split_batches(x, y, 6)
    opt = {"lr": 0.5, "momentum": 0.9}
    res = train_student(student, w, micro, dtype="float64", optimizer_kwargs=opt, accumulation_steps=4, epochs=2)
    expected = ref_train(w, [[x, y]], optimizer_kwargs=opt, k=1, epochs=2, **loop_kwargs(res))
    check_weights(
        res,
        expected,
        "weights after accumulating 4 micro-batches (2 epochs)",
        hints=_accumulation_hints(w, micro, 4, "sgd", opt, epochs=2),
    )


@pytest.mark.grade(points=2, tags=[EX, "accumulation"], visibility="visible")
def test_accumulation_adamw_equals_large_batch(student):
    """accumulation: 9 micro-batches with k=3 == 3 steps on batches of 3x (AdamW, float64)"""
    w = start_weights(19)
    x, y = toy_data(36, seed=20, dtype=torch.float64)
    micro = split_batches(x, y, 4)
    opt = {"lr": 0.01, "weight_decay": 0.1}
    res = train_student(
        student, w, micro, dtype="float64", optimizer="adamw", optimizer_kwargs=opt, accumulation_steps=3
    )
    expected = ref_train(w, split_batches(x, y, 12), optimizer="adamw", optimizer_kwargs=opt, k=1, **loop_kwargs(res))
    check_weights(
        res,
        expected,
        "weights after 3 accumulated AdamW steps",
        hints=_accumulation_hints(w, micro, 3, "adamw", opt)[1:],
    )


@pytest.mark.grade(points=2, tags=[EX, "accumulation"], visibility="visible")
def test_accumulation_leftover_step(student):
    """accumulation: leftover micro-batches at the end of the epoch still make an optimizer step"""
    w = start_weights(21)
    x, y = toy_data(40, seed=22, dtype=torch.float64)
    micro = split_batches(x, y, 8)  # 5 micro-batches, k = 2: steps after 2, 4 and the leftover 5th
    opt = {"lr": 0.3}
    res = train_student(student, w, micro, dtype="float64", optimizer_kwargs=opt, accumulation_steps=2)
    out = res["results"][-1]
    actual = student_weights(res, w, "weights")
    loop = loop_kwargs(res)
    dropped = ref_train(w, micro, optimizer_kwargs=opt, k=2, leftover="drop", **loop)
    if torch.allclose(actual, flat_state(dropped), rtol=1e-9, atol=1e-12) or out.get("steps") == 2:
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
            flat_state(ref_train(w, micro, optimizer_kwargs=opt, k=2, leftover=variant, **loop)),
            rtol=1e-9,
            atol=1e-12,
        ):
            return
    check_weights(
        res,
        ref_train(w, micro, optimizer_kwargs=opt, k=2, **loop),
        "weights after the leftover step",
        hints=_accumulation_hints(w, micro, 2, "sgd", opt),
    )


@pytest.mark.grade(points=1, tags=[EX, "accumulation"], visibility="visible")
def test_accumulation_reported_loss_is_undivided(student):
    """accumulation: the reported loss is the undivided mean per sample; steps counted per optimizer step"""
    w = start_weights(23)
    x, y = toy_data(28, seed=24, dtype=torch.float64)
    res = train_student(
        student, w, split_batches(x, y, 4), dtype="float64", optimizer_kwargs={"lr": 0.0}, accumulation_steps=3
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
