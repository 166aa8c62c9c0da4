"""Product tests of ``lab3.regularization``: augmentation pipelines, the ablation's model variants,
gradient checkpointing switches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lab3.models import SmallCNN
from lab3.regularization import (
    REGULARIZERS,
    AugmentedLoader,
    activation_bytes,
    augment_batch,
    cifar_eval_transform,
    cifar_train_transform,
    enable_checkpointing,
    make_variant,
    set_gradient_checkpointing,
)
from torch import nn


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize("policy", ["none", "standard", "strong"])
def test_train_transform_output(policy: str) -> None:
    torch.manual_seed(0)
    out = cifar_train_transform(policy)(_image())
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32


def test_eval_transform_is_deterministic_and_normalized() -> None:
    from PIL import Image

    image = Image.fromarray(_image())
    a, b = cifar_eval_transform()(image), cifar_eval_transform()(image)
    assert torch.equal(a, b)
    raw = cifar_eval_transform(normalize=False)(image)
    assert raw.min() >= 0 and raw.max() <= 1
    assert torch.allclose(raw * 255, torch.from_numpy(_image()).permute(2, 0, 1).float(), atol=1e-3)
    with pytest.raises(ValueError):
        cifar_train_transform("autoaugment-ish")


def test_standard_policy_translates_and_flips() -> None:
    x = torch.from_numpy(_image()).permute(2, 0, 1).float() / 255
    torch.manual_seed(0)
    outs = [cifar_train_transform("standard", normalize=False)(_image()) for _ in range(20)]
    assert any(not torch.allclose(o, x) for o in outs), "random crop/flip changes some images"


def test_augment_batch_is_a_per_sample_shift_or_flip() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 8, 8)
    flipped_only = augment_batch(x, padding=0, generator=g)
    same = [torch.equal(a, b) for a, b in zip(flipped_only, x, strict=True)]
    flipped = [torch.equal(a, b.flip(-1)) for a, b in zip(flipped_only, x, strict=True)]
    assert all(s or f for s, f in zip(same, flipped, strict=True)) and 10 < sum(flipped) < 54

    shifted = augment_batch(x, padding=2, flip=False, generator=g)
    assert shifted.shape == x.shape
    # the centre 4x4 of every output is a translated window of the input (shift within +-2)
    for out, src in zip(shifted, x, strict=True):
        centre = out[:, 2:6, 2:6]
        assert any(
            torch.equal(centre, src[:, 2 + dy : 6 + dy, 2 + dx : 6 + dx])
            for dy in range(-2, 3)
            for dx in range(-2, 3)
        )
    assert len({tuple(o[:, 2:6, 2:6].flatten()[:3].tolist()) for o in shifted}) > 1


def test_augmented_loader_wraps_a_loader() -> None:
    data = [(torch.randn(4, 3, 8, 8), torch.arange(4)) for _ in range(3)]
    loader = AugmentedLoader(data, seed=0)
    assert len(loader) == 3
    out = list(loader)
    assert all(x.shape == (4, 3, 8, 8) and torch.equal(y, torch.arange(4)) for x, y in out)


@pytest.mark.parametrize("name", REGULARIZERS)
def test_variants(name: str) -> None:
    variant = make_variant(name, width=8)
    model = variant.model
    norms = {type(m) for m in model.modules()}
    assert (nn.BatchNorm2d in norms) == (name == "batchnorm")
    assert (nn.LayerNorm in norms) == (name == "layernorm")
    assert (model.dropout.p > 0) == (name == "dropout")
    assert variant.augment == (name == "augmentation")
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError):
        make_variant("weight-noise")


def test_gradient_checkpointing_same_gradients_less_memory() -> None:
    torch.manual_seed(0)
    plain = SmallCNN(width=8, norm="layer")
    ckpt = SmallCNN(width=8, norm="layer")
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(4, 3, 32, 32)
    assert set_gradient_checkpointing(ckpt, True) == 4
    assert list(ckpt.state_dict()) == list(plain.state_dict())
    assert activation_bytes(ckpt, x) < 0.5 * activation_bytes(plain, x)
    for model in (plain, ckpt):
        model(x).square().sum().backward()
    for p, q in zip(plain.parameters(), ckpt.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6)
    assert set_gradient_checkpointing(ckpt, False) == 4
    assert activation_bytes(ckpt, x) == activation_bytes(plain, x)


def test_checkpointing_is_idempotent_and_off_in_eval() -> None:
    block = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    enable_checkpointing(block)
    enable_checkpointing(block)
    x = torch.randn(2, 4, requires_grad=True)
    block(x).sum().backward()
    block.eval()
    with torch.no_grad():
        assert block(x).shape == (2, 4)
    enable_checkpointing(block, False)
    enable_checkpointing(block, False)
    assert "forward" not in block.__dict__


def test_flag_models_get_the_flag() -> None:
    class Flagged(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gradient_checkpointing = False
            self.fc = nn.Linear(2, 2)

    model = Flagged()
    assert set_gradient_checkpointing(model, True) == 1 and model.gradient_checkpointing
