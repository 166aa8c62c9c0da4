"""Mistakes and alternatives for lab3/transfer.py (replace_head, freeze_backbone, param_groups)."""

from corpus import Alternative, Mistake, change

T = "transfer"
HOOKS = "            module.train(False)\n            module.register_forward_pre_hook(keep_eval)\n"
FREEZE_BODY_START = "    head_params = list(head.parameters())\n    head_ids = {id(p) for p in head_params}\n"
FREEZE_LOOP = """    head_modules = set(head.modules())
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module not in head_modules:
""" + HOOKS

MISTAKES = [
    Mistake(
        "freeze-requires-grad-only",
        (change(T, HOOKS, "            pass\n"),),
        ("freeze",),
        ("test_freeze_bn_statistics_resnet_after_train", "test_freeze_timm_efficientnet_bn_act",
         "test_freeze_mobilenet_v3"),
        r"batch-norm statistics.*requires_grad=False stops gradients",
        passes=("test_freeze_returns_head_parameters",),
    ),
    Mistake(
        "freeze-eval-once",
        (change(T, HOOKS, "            module.eval()\n"),),
        ("freeze",),
        ("test_freeze_bn_statistics_resnet_after_train",),
        r"eval\(\) once is not enough",
        passes=("test_freeze_returns_head_parameters",),
    ),
    Mistake(
        "freeze-returns-every-parameter",
        (change(T, "            module.register_forward_pre_hook(keep_eval)\n    return head_params\n",
                "            module.register_forward_pre_hook(keep_eval)\n"
                "    return list(model.parameters())\n"),),
        ("freeze",),
        ("test_freeze_returns_head_parameters",),
        r"exactly the head's parameters",
    ),
    Mistake(
        "freeze-head-frozen-too",
        (change(T, "    for p in head_params:\n        p.requires_grad_(True)\n", ""),
         change(T, "        p.requires_grad_(id(p) in head_ids)\n", "        p.requires_grad_(False)\n")),
        ("freeze",),
        ("test_freeze_returns_head_parameters", "test_freeze_bn_statistics_resnet_after_train"),
        r"head.*(trainable|did not learn)",
    ),
    Mistake(
        "freeze-frozen-bn-drops-timm-activation",
        (change(T, FREEZE_LOOP, """    from torchvision.ops.misc import FrozenBatchNorm2d

    head_modules = set(head.modules())
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm2d) and child not in head_modules:
                frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
                frozen.weight.copy_(child.weight.detach())
                frozen.bias.copy_(child.bias.detach())
                frozen.running_mean.copy_(child.running_mean)
                frozen.running_var.copy_(child.running_var)
                setattr(parent, name, frozen)
"""),),
        ("freeze",),
        ("test_freeze_timm_efficientnet_bn_act",),
        r"BatchNormAct2d",
        passes=("test_freeze_bn_statistics_resnet_after_train", "test_freeze_returns_head_parameters"),
    ),
    Mistake(
        "replace-head-no-vit",
        (change(T, "    elif isinstance(getattr(heads, \"head\", None), nn.Linear):  "
                   "# torchvision VisionTransformer\n        heads.head = head = fresh(heads.head)\n", ""),),
        ("replace_head",),
        ("test_replace_head_torchvision_vit",),
        r"TypeError",
        passes=("test_replace_head_torchvision_resnet", "test_replace_head_timm"),
    ),
    Mistake(
        "replace-head-value-error",
        (change(T, "        raise TypeError(\n            f\"replace_head does not know",
                "        raise ValueError(\n            f\"replace_head does not know"),),
        ("replace_head",),
        ("test_replace_head_unknown_model_type_error",),
        r"raised ValueError; raise TypeError",
    ),
    Mistake(
        "replace-head-classifier-out-features",
        (change(T, "        return nn.Linear(old.in_features, num_classes,",
                "        return nn.Linear(old.out_features, num_classes,"),),
        ("replace_head",),
        ("test_replace_head_torchvision_resnet",),
        r"in_features",
    ),
    Mistake(
        "param-groups-one-lr",
        (change(T, '        {"params": backbone, "lr": backbone_lr, "weight_decay": weight_decay},',
                '        {"params": backbone, "lr": head_lr, "weight_decay": weight_decay},'),),
        ("param_groups",),
        ("test_param_groups_learning_rates_and_weight_decay",),
        r"backbone parameter .* expected backbone_lr",
        passes=("test_param_groups_cover_each_parameter_once",),
    ),
    Mistake(
        "param-groups-head-twice",
        (change(T, "            (head_params if id(p) in head_ids else backbone).append(p)",
                "            backbone.append(p)\n            if id(p) in head_ids:\n"
                "                head_params.append(p)"),),
        ("param_groups",),
        ("test_param_groups_cover_each_parameter_once",),
        r"more than one group",
    ),
    Mistake(
        "param-groups-no-weight-decay",
        (change(T, '        {"params": backbone, "lr": backbone_lr, "weight_decay": weight_decay},\n'
                   '        {"params": head_params, "lr": head_lr, "weight_decay": weight_decay},',
                '        {"params": backbone, "lr": backbone_lr},\n'
                '        {"params": head_params, "lr": head_lr},'),),
        ("param_groups",),
        ("test_param_groups_learning_rates_and_weight_decay",),
        r"weight_decay",
    ),
]

ALTERNATIVES = [
    Alternative(
        "freeze-timm-frozen-batchnorm-modules",
        (change(T, FREEZE_LOOP, """    from timm.layers import freeze_batch_norm_2d

    for name, child in list(model.named_children()):
        if not any(m is head for m in child.modules()):
            setattr(model, name, freeze_batch_norm_2d(child))
"""),),
        ("freeze",),
        notes="replaces BatchNorm2d by FrozenBatchNorm2d and BatchNormAct2d by FrozenBatchNormAct2d",
    ),
    Alternative(
        "freeze-train-override",
        (change(T, HOOKS, "            module.eval()\n            module.train = "
                          "types.MethodType(lambda self, mode=True: self, module)\n"),
         change(T, "    head_params = list(head.parameters())\n    head_ids",
                "    import types\n\n    head_params = list(head.parameters())\n    head_ids")),
        ("freeze",),
        notes="batch-norm layers whose train() does nothing",
    ),
    Alternative(
        "param-groups-by-name-head-first",
        (change(T, "    return [g for g in groups if g[\"params\"]]",
                "    names = (\"backbone\", \"head\")\n"
                "    groups = [dict(g, name=n) for g, n in zip(groups, names, strict=True)]\n"
                "    return [g for g in reversed(groups) if g[\"params\"]]"),),
        ("param_groups",),
    ),
    Alternative(
        "replace-head-timm-by-cfg-path",
        (change(T, "    if hasattr(model, \"reset_classifier\") and hasattr(model, \"get_classifier\"):",
                "    cfg = getattr(model, \"pretrained_cfg\", None)\n"
                "    if isinstance(cfg, dict) and isinstance(cfg.get(\"classifier\"), str):\n"
                "        parent_name, _, attr = cfg[\"classifier\"].rpartition(\".\")\n"
                "        parent = model.get_submodule(parent_name) if parent_name else model\n"
                "        setattr(parent, attr, fresh(getattr(parent, attr)))\n"
                "        model.num_classes = num_classes\n"
                "        return getattr(parent, attr)\n"
                "    if False:"),),
        ("replace_head",),
    ),
]
