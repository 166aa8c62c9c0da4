"""Regularization for Exercise 3: augmentation pipelines, model variants, gradient checkpointing.

* Augmentation with ``torchvision.transforms.v2``: a padded random crop and a horizontal flip (the
  standard CIFAR-10 recipe), optionally a stronger policy (TrivialAugment + random erasing). For
  in-memory tensor subsets, :func:`augment_batch` / :class:`AugmentedLoader` apply the same crop and
  flip to a whole batch at once (per-sample offsets, vectorised), which is much faster on a CPU.
* Model variants of the regularization study (:func:`make_variant`): the small CNN without any
  regularizer, with dropout, with batch norm, with layer norm, and with augmentation.
* Gradient checkpointing switches (:func:`set_gradient_checkpointing`): trade compute for memory by
  recomputing a block's activations during backward instead of storing them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from lab3.data import CIFAR10_MEAN, CIFAR10_STD

__all__ = [
    "AUGMENT_POLICIES",
    "REGULARIZERS",
    "AugmentedLoader",
    "Variant",
    "activation_bytes",
    "augment_batch",
    "cifar_eval_transform",
    "cifar_train_transform",
    "enable_checkpointing",
    "make_variant",
    "set_gradient_checkpointing",
]

AUGMENT_POLICIES = ("none", "standard", "strong")  # accepted by cifar_train_transform
REGULARIZERS = ("none", "dropout", "batchnorm", "layernorm", "augmentation")  # the ablation's variants


# --------------------------------------------------------------------------- augmentation


def cifar_train_transform(policy: str = "standard", *, padding: int = 4, normalize: bool = True):
    """The training transform for CIFAR-10 PIL images (or uint8 ``(H, W, C)`` arrays / tensors).

    ``"none"``: to float tensor (+ normalize). ``"standard"``: padded random crop (32, reflect padding
    ``padding``) + horizontal flip. ``"strong"``: standard + ``TrivialAugmentWide`` before the tensor
    conversion + ``RandomErasing(p=0.25)`` after normalization.
    """
    from torchvision.transforms import v2

    if policy not in AUGMENT_POLICIES:
        raise ValueError(f"policy must be one of {AUGMENT_POLICIES}, got {policy!r}")
    steps: list = [v2.ToImage()]  # PIL / ndarray -> uint8 tv_tensors.Image (C, H, W)
    if policy in ("standard", "strong"):
        steps += [v2.RandomCrop(32, padding=padding, padding_mode="reflect"), v2.RandomHorizontalFlip()]
    if policy == "strong":
        steps.append(v2.TrivialAugmentWide())
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if normalize:
        steps.append(v2.Normalize(CIFAR10_MEAN, CIFAR10_STD))
    if policy == "strong":
        steps.append(v2.RandomErasing(p=0.25))
    return v2.Compose(steps)


def cifar_eval_transform(normalize: bool = True):
    """The evaluation transform: to float tensor (+ normalize), no randomness."""
    return cifar_train_transform("none", normalize=normalize)


def augment_batch(
    x: torch.Tensor, *, padding: int = 4, flip: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random translation (reflect-pad by ``padding`` then crop back) and horizontal flip of a batch,
    with independent offsets and flips per sample. ``x``: ``(B, C, H, W)`` float, on any device."""
    b, c, h, w = x.shape
    if padding > 0:
        padded = nn.functional.pad(x, (padding,) * 4, mode="reflect")  # (B, C, H+2p, W+2p)
        dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
        dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
        batch = torch.arange(b, device=x.device)[:, None, None, None]  # (B, 1, 1, 1)
        chans = torch.arange(c, device=x.device)[None, :, None, None]  # (1, C, 1, 1)
        x = padded[batch, chans, rows, cols]  # (B, C, H, W)
    if flip:
        mask = (torch.rand(b, generator=generator) < 0.5).to(x.device)[:, None, None, None]  # (B, 1, 1, 1)
        x = torch.where(mask, x.flip(-1), x)
    return x


class AugmentedLoader:
    """Wraps a loader of ``(images, labels)`` tensor batches and applies :func:`augment_batch` to the
    images (training only). ``len()`` and iteration behave like the wrapped loader."""

    def __init__(
        self, loader: Iterable, *, padding: int = 4, flip: bool = True, seed: int | None = None
    ) -> None:
        self.loader, self.padding, self.flip = loader, padding, flip
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.loader:
            yield augment_batch(x, padding=self.padding, flip=self.flip, generator=self.generator), y


# --------------------------------------------------------------------------- model variants


@dataclass
class Variant:
    """One arm of the regularization ablation: the model and whether its training data is augmented."""

    name: str
    model: nn.Module
    augment: bool


def make_variant(name: str, *, num_classes: int = 10, width: int = 32, dropout: float = 0.3) -> Variant:
    """The small CNN (``lab3.models.SmallCNN``) configured for one arm of the ablation.

    ``"none"``: no norm, no dropout, no augmentation (the baseline that overfits most);
    ``"dropout"``: + dropout ``dropout`` before the head; ``"batchnorm"`` / ``"layernorm"``: that norm
    after every conv; ``"augmentation"``: the baseline model trained on augmented images; ``"all"``
    (not in :data:`REGULARIZERS`, ask for it by name): batch norm + dropout + augmentation together.
    """
    from lab3.models import SmallCNN

    if name not in (*REGULARIZERS, "all"):
        raise ValueError(f"unknown variant {name!r}: expected one of {', '.join(REGULARIZERS)} or all")
    norm = {"batchnorm": "batch", "layernorm": "layer", "all": "batch"}.get(name, "none")
    p = dropout if name in ("dropout", "all") else 0.0
    model = SmallCNN(num_classes=num_classes, width=width, dropout=p, norm=norm)
    return Variant(name=name, model=model, augment=name in ("augmentation", "all"))


# --------------------------------------------------------------------------- gradient checkpointing


def _checkpointed_forward(module: nn.Module, original, *args, **kwargs):
    if module.training and torch.is_grad_enabled():
        # Keep only the block's inputs; recompute its activations during backward.
        return checkpoint(original, *args, use_reentrant=False, **kwargs)
    return original(*args, **kwargs)


def enable_checkpointing(module: nn.Module, enabled: bool = True) -> nn.Module:
    """Switch gradient checkpointing of one module on or off (in place; weights and ``state_dict`` keys
    unchanged). In training mode with gradients enabled, its forward runs under
    ``torch.utils.checkpoint.checkpoint(..., use_reentrant=False)``: outputs and gradients are the same,
    memory for its inner activations is freed, and backward recomputes them."""
    original = module.__dict__.get("_lab3_original_forward")
    if enabled and original is None:
        original = module.forward
        module._lab3_original_forward = original
        module.forward = functools.partial(_checkpointed_forward, module, original)
    elif not enabled and original is not None:
        del module.__dict__["forward"]
        del module.__dict__["_lab3_original_forward"]
    return module


def _blocks(model: nn.Module) -> list[nn.Module]:
    """The blocks worth checkpointing: children of the first ``nn.Sequential`` with learnable blocks."""
    for module in model.modules():
        if isinstance(module, nn.Sequential):
            blocks = [m for m in module if any(True for _ in m.parameters())]
            if len(blocks) >= 2:
                return blocks
    return []


def set_gradient_checkpointing(model: nn.Module, enabled: bool = True) -> int:
    """Turn gradient checkpointing on or off for a whole model; returns how many switches it set.

    Models with a ``gradient_checkpointing`` attribute (the lab's Transformers) get that flag set on
    every submodule carrying it; others (e.g. ``SmallCNN``) get :func:`enable_checkpointing` on each
    block of their main ``nn.Sequential``.
    """
    flagged = [m for m in model.modules() if hasattr(m, "gradient_checkpointing")]
    for m in flagged:
        m.gradient_checkpointing = enabled
    if flagged:
        return len(flagged)
    blocks = _blocks(model)
    for block in blocks:
        enable_checkpointing(block, enabled)
    return len(blocks)


def activation_bytes(model: nn.Module, inputs: torch.Tensor) -> int:
    """Bytes of the tensors autograd saves for backward during one training forward of ``model``
    (a device-independent proxy for activation memory; with checkpointing, a checkpointed block keeps
    only its input, counted once here). The model's mode is restored; no backward is run."""
    total = 0
    seen: set[int] = set()

    def pack(t: torch.Tensor):
        nonlocal total
        key = t.untyped_storage().data_ptr()
        if key not in seen and not isinstance(t, nn.Parameter):
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    was_training = model.training
    model.train()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(inputs)
    finally:
        model.train(was_training)
    return total
