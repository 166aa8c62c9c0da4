"""Public checks for Exercise 2 (transfer learning).

They run your ``replace_head``, ``freeze_backbone`` and ``param_groups`` on small, randomly
initialised torchvision models in a few seconds. The hidden tests check the same rules on more
model families (timm models, ViT, MobileNet), with real images and more steps.
Run them with ``lab3 check`` or ``pytest tests/test_ex2_public.py -q``.
"""

from __future__ import annotations

import copy

import pytest
import torch
from lab3.transfer import freeze_backbone, param_groups, replace_head
from torch import nn
from torchvision import models


def _resnet18() -> nn.Module:
    torch.manual_seed(0)
    return models.resnet18(weights=None)


def _mobilenet() -> nn.Module:
    torch.manual_seed(0)
    return models.mobilenet_v3_small(weights=None)


def _images(n: int = 8, size: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return 2.0 + 3.0 * torch.randn(n, 3, size, size, generator=g)  # far from ImageNet statistics on purpose


# ---------------------------------------------------------------------------------------- replace_head
@pytest.mark.area("replace_head")
@pytest.mark.parametrize("make, where", [(_resnet18, "fc"), (_mobilenet, "classifier[-1]")])
def test_replace_head_puts_a_new_linear_in_place(make, where) -> None:
    model = make()
    old = model.fc if where == "fc" else model.classifier[-1]
    head = replace_head(model, 7)
    assert isinstance(head, nn.Linear), f"return the new nn.Linear, not a {type(head).__name__}"
    now = model.fc if where == "fc" else model.classifier[-1]
    assert now is head, f"the returned layer must be the one now at model.{where}"
    assert head is not old, "the head must be a new layer, not the old one"
    assert (head.in_features, head.out_features) == (old.in_features, 7), (
        f"expected Linear({old.in_features}, 7), got Linear({head.in_features}, {head.out_features})"
    )
    model.eval()
    with torch.no_grad():
        out = model(_images(2))
    assert out.shape == (2, 7), f"model output should be (2, 7) after replace_head, got {tuple(out.shape)}"


@pytest.mark.area("replace_head")
def test_replace_head_on_a_timm_model() -> None:
    import timm

    torch.manual_seed(0)
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    head = replace_head(model, 6)
    assert isinstance(head, nn.Linear) and (head.in_features, head.out_features) == (1280, 6)
    assert model.get_classifier() is head, "for timm models the new head must be model.get_classifier()"
    model.eval()
    with torch.no_grad():
        assert model(_images(1)).shape == (1, 6)


@pytest.mark.area("replace_head")
def test_replace_head_leaves_the_backbone_alone() -> None:
    model = _resnet18()
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}
    replace_head(model, 3)
    after = model.state_dict()
    changed = [k for k, v in before.items() if not torch.equal(v, after[k])]
    assert not changed, f"replace_head changed backbone tensors: {changed[:3]}"


@pytest.mark.area("replace_head")
def test_replace_head_rejects_an_unknown_model() -> None:
    with pytest.raises(TypeError):
        replace_head(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten()), 10)


# ------------------------------------------------------------------------------------- freeze_backbone
@pytest.mark.area("freeze")
def test_freeze_returns_exactly_the_head_parameters() -> None:
    model = _resnet18()
    head = replace_head(model, 5)
    params = freeze_backbone(model, head)
    assert isinstance(params, list), "freeze_backbone must return a list"
    assert [id(p) for p in params] == [id(p) for p in head.parameters()], (
        "freeze_backbone must return exactly list(head.parameters())"
    )
    frozen = [n for n, p in model.named_parameters() if p.requires_grad and not n.startswith("fc.")]
    assert not frozen, f"backbone parameters still trainable: {frozen[:3]}"
    assert all(p.requires_grad for p in head.parameters()), "the head must stay trainable"


@pytest.mark.area("freeze")
def test_frozen_backbone_does_not_move_even_in_train_mode() -> None:
    model = _resnet18()
    head = replace_head(model, 5)
    params = freeze_backbone(model, head)
    before = copy.deepcopy(model.state_dict())
    model.train()  # every training loop does this
    opt = torch.optim.SGD(params, lr=0.1)
    x, y = _images(8), torch.arange(8) % 5
    for _ in range(2):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = model.state_dict()
    moved = [k for k in before if not k.startswith("fc.") and not torch.equal(before[k], after[k])]
    assert not moved, (
        f"backbone tensors changed after model.train() and two steps: {moved[:4]} — requires_grad=False "
        "does not stop batch-norm running statistics; model.train() switches batch norm back to training"
    )
    assert not torch.equal(before["fc.weight"], after["fc.weight"]), "the head did not learn"


# ---------------------------------------------------------------------------------------- param_groups
@pytest.mark.area("param_groups")
def test_param_groups_cover_every_parameter_once() -> None:
    model = _resnet18()
    head = replace_head(model, 4)
    groups = param_groups(model, head, backbone_lr=1e-4, head_lr=1e-2, weight_decay=0.05)
    assert isinstance(groups, list) and all(isinstance(g, dict) for g in groups), "return a list of dicts"
    seen = [id(p) for g in groups for p in g["params"]]
    assert len(seen) == len(set(seen)), "a parameter appears in more than one group"
    assert set(seen) == {id(p) for p in model.parameters()}, "some trainable parameter is in no group"
    head_ids = {id(p) for p in head.parameters()}
    for g in groups:
        lrs = {1e-2 if id(p) in head_ids else 1e-4 for p in g["params"]}
        assert lrs == {g["lr"]}, "head parameters need lr=head_lr and backbone parameters lr=backbone_lr"
        assert g.get("weight_decay") == 0.05, "each group needs weight_decay"
    torch.optim.AdamW(groups)  # a valid optimizer argument


# ------------------------------------------------------------------------------ more of the docstrings
@pytest.mark.area("replace_head")
def test_replace_head_on_a_torchvision_vit_and_keeps_dtype() -> None:
    torch.manual_seed(0)
    vit = models.VisionTransformer(image_size=32, patch_size=16, num_layers=1, num_heads=2, hidden_dim=16,
                                   mlp_dim=32, num_classes=10)
    head = replace_head(vit, 3)
    assert vit.heads.head is head and (head.in_features, head.out_features) == (16, 3), (
        "for a torchvision VisionTransformer the head is model.heads.head")
    model = _resnet18().double()
    head = replace_head(model, 4)
    assert head.weight.dtype == torch.float64, (
        f"the model is float64 but the new head is {head.weight.dtype}: create it with the old head's device and dtype")


@pytest.mark.area("freeze")
def test_freeze_keeps_the_head_trainable_even_if_it_was_frozen() -> None:
    model = _resnet18()
    head = replace_head(model, 5)
    for p in model.parameters():
        p.requires_grad_(False)  # e.g. frozen earlier by another experiment
    params = freeze_backbone(model, head)
    assert params and all(p.requires_grad for p in params), (
        "freeze_backbone left the head frozen: every parameter of head must end with requires_grad=True")


@pytest.mark.area("freeze")
def test_freeze_a_timm_model_keeps_its_forward() -> None:
    import timm

    torch.manual_seed(0)
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    head = replace_head(model, 3)
    model.eval()
    x = _images(2)
    with torch.no_grad():
        before = model(x)
    freeze_backbone(model, head)
    model.eval()
    with torch.no_grad():
        after = model(x)
    assert torch.allclose(before, after, atol=1e-5), (
        "freeze_backbone changed what the model computes in eval mode (timm's BatchNormAct2d also applies an "
        "activation): stop the statistics with eval() on the batch-norm layers, do not replace them")


@pytest.mark.area("param_groups")
def test_param_groups_leave_out_frozen_parameters_and_empty_groups() -> None:
    model = _resnet18()
    head = replace_head(model, 4)
    for name, p in model.named_parameters():
        if name.startswith(("conv1", "bn1", "layer1")):
            p.requires_grad_(False)
    groups = param_groups(model, head, backbone_lr=1e-4, head_lr=1e-2)
    listed = {id(p) for g in groups for p in g["params"]}
    frozen = {id(p) for p in model.parameters() if not p.requires_grad}
    assert not listed & frozen, "frozen parameters (requires_grad=False) are in a group: leave them out"
    assert listed == {id(p) for p in model.parameters() if p.requires_grad}, "some trainable parameter is missing"
    freeze_backbone(model, head)
    groups = param_groups(model, head, backbone_lr=1e-4, head_lr=1e-2)
    assert all(g["params"] for g in groups), "an empty group (here: the frozen backbone) must be left out"
