"""Hidden graders for Exercise 3, ``build_optimizer`` (optimizer, 6 points): two parameter groups (decay on
the >=2-D weights only), the optimizer types and their hyperparameters, names, tied weights, unknown names.
"""

from __future__ import annotations

import pytest

from autograder.engine.errors import StudentError
from autograder.graders.checks import fail
from autograder.graders.ex3_common import EX, T_CALL, numbers_close

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
    if not (numbers_close(wd[0], 0.05) and numbers_close(wd[1], 0.0)):
        fail(f"weight_decay must be {0.05} on the first group and 0.0 on the second; got {wd}")


@pytest.mark.grade(points=2, tags=[EX, "optimizer"], visibility="visible")
def test_build_optimizer_types_and_hyperparameters(student):
    """build_optimizer: SGD with momentum, Adam, AdamW with the given lr, momentum and betas"""
    for name, cls in (("sgd", "SGD"), ("adam", "Adam"), ("adamw", "AdamW")):
        res = _build(student, name, 0.02)
        if res.get("torch_class") != cls:
            fail(f"build_optimizer({name!r}) must return torch.optim.{cls}, got {res.get('class')}")
        if not all(numbers_close(g.get("lr"), 0.02) for g in res["groups"]):
            fail(
                f"build_optimizer({name!r}, lr=0.02): every group needs lr 0.02, got "
                f"{[g.get('lr') for g in res['groups']]}"
            )
    res = _build(student, "sgd", 0.1)
    if not all(numbers_close(g.get("momentum"), 0.9) for g in res["groups"]):
        fail(
            f"SGD must use momentum (default 0.9); got momentum {[g.get('momentum') for g in res['groups']]}"
        )
    res = _build(student, "sgd", 0.1, momentum=0.5)
    if not all(numbers_close(g.get("momentum"), 0.5) for g in res["groups"]):
        fail("build_optimizer('sgd', momentum=0.5) must pass the momentum to torch.optim.SGD")
    res = _build(student, "adam", 0.1, betas=(0.8, 0.99))
    if not all(numbers_close(g.get("betas"), [0.8, 0.99]) for g in res["groups"]):
        fail("build_optimizer('adam', betas=(0.8, 0.99)) must pass the betas to torch.optim.Adam")
    res = _build(student, "sgd", 0.1, weight_decay=0.01)
    if not numbers_close([g.get("weight_decay") for g in res["groups"]], [0.01, 0.0]):
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
    if not all(numbers_close(g.get("betas"), [0.8, 0.99]) for g in res["groups"]):
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
