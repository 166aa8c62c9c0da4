"""replace_head / freeze_backbone / param_groups (the solution in source/lab3) on real model families."""

from __future__ import annotations

import copy

import pytest
import timm
import torch
from ex2_helpers import eval_once_freeze, images, moved_keys, naive_freeze, train_steps
from lab3.models import SmallCNN
from lab3.transfer import freeze_backbone, param_groups, replace_head
from torch import nn
from torchvision import models as tvm


def tiny_tv_vit() -> nn.Module:
    """torchvision's VisionTransformer class, tiny (same head layout as vit_b_16)."""
    return tvm.VisionTransformer(image_size=32, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16,
                                 mlp_dim=32)


# name -> (constructor, path of the head, input size for a forward pass or None)
FAMILIES = {
    "tv_resnet18": (lambda: tvm.resnet18(weights=None), "fc", 64),
    "tv_efficientnet_b0": (lambda: tvm.efficientnet_b0(weights=None), "classifier.1", 64),
    "tv_mobilenet_v3_small": (lambda: tvm.mobilenet_v3_small(weights=None), "classifier.3", 64),
    "tv_mobilenet_v2": (lambda: tvm.mobilenet_v2(weights=None), "classifier.1", 64),
    "tv_vit_b_16": (lambda: tvm.vit_b_16(weights=None), "heads.head", None),
    "tv_vit_tiny": (tiny_tv_vit, "heads.head", 32),
    "timm_lite0": (lambda: timm.create_model("efficientnet_lite0"), "classifier", 64),
    "timm_resnet18": (lambda: timm.create_model("resnet18"), "fc", 64),
    "timm_vit_tiny": (lambda: timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8), "head",
                      32),
    "timm_convnext_atto": (lambda: timm.create_model("convnext_atto"), "head.fc", 64),
}


def build(name: str) -> tuple[nn.Module, str, int | None]:
    torch.manual_seed(0)
    make, path, size = FAMILIES[name]
    return make(), path, size


@pytest.mark.parametrize("name", list(FAMILIES))
def test_replace_head_every_family(name: str) -> None:
    model, path, size = build(name)
    old = model.get_submodule(path)
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(path + ".")}
    head = replace_head(model, 7)
    assert isinstance(head, nn.Linear)
    assert model.get_submodule(path) is head and head is not old
    assert (head.in_features, head.out_features) == (old.in_features, 7)
    assert head.bias is not None
    after = model.state_dict()
    assert not moved_keys(before, after, path + ".")
    if size is not None:
        model.eval()
        with torch.no_grad():
            assert model(torch.randn(2, 3, size, size)).shape == (2, 7)


def test_replace_head_keeps_dtype_and_timm_num_classes() -> None:
    model = tvm.resnet18(weights=None).double()
    head = replace_head(model, 3)
    assert head.weight.dtype == torch.float64
    model.eval()
    assert model(torch.randn(1, 3, 32, 32, dtype=torch.float64)).shape == (1, 3)
    tm = timm.create_model("efficientnet_lite0")
    replace_head(tm, 5)
    assert tm.num_classes == 5 and tm.get_classifier().out_features == 5


def test_replace_head_on_the_lab_models() -> None:
    model = SmallCNN(num_classes=10)
    head = replace_head(model, 4)
    assert model.fc is head and head.out_features == 4


UNKNOWN = [nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()), nn.LSTM(4, 4), nn.Linear(3, 3)]


@pytest.mark.parametrize("bad", UNKNOWN)
def test_replace_head_unknown_model_raises_type_error(bad: nn.Module) -> None:
    with pytest.raises(TypeError, match="replace_head"):
        replace_head(bad, 3)


def test_replace_head_rejects_zero_classes() -> None:
    with pytest.raises(ValueError):
        replace_head(tvm.resnet18(weights=None), 0)


FREEZE = ["tv_resnet18", "tv_mobilenet_v3_small", "timm_lite0", "timm_convnext_atto"]


@pytest.mark.parametrize("name", FREEZE)
def test_freeze_backbone_survives_train_mode(name: str) -> None:
    model, path, size = build(name)
    head = replace_head(model, 5)
    params = freeze_backbone(model, head)
    assert [id(p) for p in params] == [id(p) for p in head.parameters()]
    assert all(p.requires_grad == (id(p) in {id(q) for q in params}) for p in model.parameters())
    before = copy.deepcopy(model.state_dict())
    train_steps(model, params, images(8, size), 5, steps=2)
    model.train()  # once more, after the steps
    train_steps(model, params, images(8, size, seed=2), 5, steps=1)
    after = model.state_dict()
    assert set(after) == set(before), "freeze_backbone must keep the state-dict keys"
    assert not moved_keys(before, after, path + "."), moved_keys(before, after, path + ".")
    assert not torch.equal(before[path + ".weight"], after[path + ".weight"]), "the head must learn"


def test_frozen_resnet_in_train_mode_computes_what_eval_mode_computes() -> None:
    model, _, _ = build("tv_resnet18")
    head = replace_head(model, 5)
    freeze_backbone(model, head)
    x = images(4, 64)
    model.train()
    with torch.no_grad():
        train_out = model(x)
    model.eval()
    with torch.no_grad():
        eval_out = model(x)
    torch.testing.assert_close(train_out, eval_out, rtol=0, atol=0)


def test_frozen_timm_bn_act_still_applies_its_activation() -> None:
    model, _, _ = build("timm_lite0")
    reference = copy.deepcopy(model).eval()
    head = replace_head(model, 5)
    freeze_backbone(model, head)
    model.train()
    x = images(2, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(x), reference.forward_features(x))


def test_freeze_survives_deepcopy() -> None:
    model, _, _ = build("tv_resnet18")
    head = replace_head(model, 5)
    freeze_backbone(model, head)
    clone = copy.deepcopy(model)
    before = copy.deepcopy(clone.state_dict())
    train_steps(clone, list(clone.fc.parameters()), images(4, 64), 5, steps=1)
    assert not moved_keys(before, clone.state_dict(), "fc.")


@pytest.mark.parametrize("mistake", [naive_freeze, eval_once_freeze])
def test_the_classic_mistakes_do_move_bn_statistics(mistake) -> None:
    """The check above has teeth: the two common wrong answers fail it."""
    model, _, _ = build("tv_resnet18")
    head = replace_head(model, 5)
    params = mistake(model, head)
    before = copy.deepcopy(model.state_dict())
    train_steps(model, params, images(8, 64), 5, steps=1)
    moved = moved_keys(before, model.state_dict(), "fc.")
    assert moved and all("running_" in k or "num_batches" in k for k in moved)


def test_param_groups_cover_each_trainable_parameter_once() -> None:
    model, _, _ = build("timm_lite0")
    head = replace_head(model, 10)
    groups = param_groups(model, head, backbone_lr=1e-4, head_lr=1e-2, weight_decay=0.01)
    assert [g["lr"] for g in groups] == [1e-4, 1e-2]
    assert all(g["weight_decay"] == 0.01 for g in groups)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in head.parameters()}
    opt = torch.optim.AdamW(groups)
    assert len(opt.param_groups) == 2


def test_param_groups_skip_frozen_parameters_and_empty_groups() -> None:
    model, _, _ = build("tv_resnet18")
    head = replace_head(model, 10)
    freeze_backbone(model, head)
    groups = param_groups(model, head, 1e-4, 1e-2)
    assert len(groups) == 1 and groups[0]["lr"] == 1e-2
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in head.parameters()}


def test_param_groups_shared_parameter_once() -> None:
    shared = nn.Linear(4, 4)
    model = nn.Module()
    model.a, model.b, model.fc = shared, shared, nn.Linear(4, 2)
    groups = param_groups(model, model.fc, 1e-3, 1e-2)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == 4
