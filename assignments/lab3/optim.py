"""Optimizers with a no-decay group, and the warmup + cosine learning-rate schedule (Exercise 3).

Two helpers every training script needs:

* ``build_optimizer`` — SGD with momentum, Adam or AdamW over **two** parameter groups: weight
  decay on the matrices / kernels (parameters with ``ndim >= 2``) and none on biases and
  normalisation parameters (``ndim < 2``), the convention of BERT, GPT-2 and nanoGPT.
* ``warmup_cosine`` — the LR *multiplier* of a linear warmup followed by a half-cosine decay,
  the same numbers as Hugging Face ``transformers``' schedules; ``build_scheduler`` wraps it in a
  ``torch.optim.lr_scheduler.LambdaLR`` that is stepped once per optimizer step.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

__all__ = [
    "OPTIMIZERS",
    "build_optimizer",
    "build_scheduler",
    "learning_rates",
    "steps_per_epoch",
    "warmup_cosine",
]

OPTIMIZERS = ("sgd", "adam", "adamw")  # the names `build_optimizer` accepts


def build_optimizer(
    model: nn.Module,
    name: str,
    lr: float,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.Optimizer:
    """Build ``torch.optim.SGD`` / ``Adam`` / ``AdamW`` over two parameter groups.

    Args:
        model: the module whose trainable parameters (``requires_grad=True``) are optimized.
        name: ``"sgd"``, ``"adam"`` or ``"adamw"`` (case-insensitive); anything else raises
            ``ValueError`` naming the accepted values.
        lr: the base learning rate of both groups.
        weight_decay: the decay of the first group. For ``"adam"`` it is torch's coupled L2
            penalty, for ``"adamw"`` the decoupled decay, for ``"sgd"`` plain L2.
        momentum: SGD momentum (SGD always uses it; ignored by Adam/AdamW).
        betas: Adam/AdamW ``betas`` (ignored by SGD).

    Returns:
        An optimizer whose ``param_groups`` are exactly two, in this order:
        ``[0]`` the parameters with ``ndim >= 2`` (weight matrices, conv kernels, embeddings) with
        ``weight_decay=weight_decay``; ``[1]`` the parameters with ``ndim < 2`` (biases, batch-norm /
        layer-norm weights and biases) with ``weight_decay=0.0``. Frozen parameters
        (``requires_grad=False``) are in neither group; every trainable parameter is in exactly one
        (a parameter shared by two modules only once).

    Hint: ``torch.optim.SGD([{"params": decay, "weight_decay": wd}, {"params": no_decay,
    "weight_decay": 0.0}], lr=lr, momentum=momentum)`` — a group may override any default.
    """
    # TODO: implement build_optimizer as its docstring describes.
    raise NotImplementedError("build_optimizer (lab3/optim.py) is not implemented yet: see its docstring")


def warmup_cosine(step: int, *, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0) -> float:
    """The learning-rate multiplier at optimizer step ``step`` (0-based): linear warmup, then cosine.

    * ``step < warmup_steps``: ``step / max(1, warmup_steps)`` (0 at step 0, rising linearly).
    * otherwise, with ``progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)``:
      ``cosine = 0.5 * (1 + cos(pi * progress))`` and the multiplier is
      ``max(0.0, min_lr_ratio + (1 - min_lr_ratio) * cosine)`` — 1 right after the warmup and
      ``min_lr_ratio`` at ``step == total_steps``.

    This equals ``transformers.get_cosine_schedule_with_warmup(opt, warmup_steps, total_steps)``
    when ``min_lr_ratio == 0`` and ``get_cosine_with_min_lr_schedule_with_warmup(opt, warmup_steps,
    total_steps, min_lr_rate=min_lr_ratio)`` otherwise, at every step ``0 <= step <= total_steps``.
    Use ``math`` (plain Python floats), not tensors. The result multiplies the base LR
    (``torch.optim.lr_scheduler.LambdaLR``).
    """
    # TODO: implement warmup_cosine as its docstring describes.
    raise NotImplementedError("warmup_cosine (lab3/optim.py) is not implemented yet: see its docstring")


def build_scheduler(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0
) -> LambdaLR:
    """A ``LambdaLR`` applying :func:`warmup_cosine` to every param group; call ``.step()`` once per
    optimizer step (``train_one_epoch`` does). ``total_steps`` counts optimizer steps, not micro-batches:
    ``epochs * ceil(len(loader) / accumulation_steps)``."""
    lr_lambda = functools.partial(
        warmup_cosine, warmup_steps=warmup_steps, total_steps=total_steps, min_lr_ratio=min_lr_ratio
    )
    return LambdaLR(optimizer, lr_lambda)


def steps_per_epoch(num_batches: int, accumulation_steps: int = 1) -> int:
    """Optimizer steps in one epoch of ``num_batches`` micro-batches (the leftover counts as a step)."""
    return math.ceil(num_batches / max(1, accumulation_steps))


def learning_rates(optimizer: torch.optim.Optimizer) -> list[float]:
    """The current learning rate of each param group."""
    return [group["lr"] for group in optimizer.param_groups]
