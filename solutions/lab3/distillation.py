"""Next steps (optional, ungraded): knowledge distillation.

A large pretrained *teacher* (here EfficientNet-Lite0's frozen ImageNet features with a linear head,
trained on the few labels you have) labels every training image with its *soft* class probabilities;
a small *student* (``lab3.models.SmallCNN``) learns from those instead of, or besides, the hard labels
(Hinton, Vinyals and Dean, 2015, "Distilling the Knowledge in a Neural Network").

You write :func:`distillation_loss`; :func:`distillation_experiment` compares, at two label budgets,
the student trained on the labels alone against the student distilled from the teacher on a larger
set of images of which only the budget is labelled. No grader points: this module is not submitted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["distillation_loss", "DistillConfig", "distillation_experiment", "plot_distillation"]


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor,
    temperature: float = 4.0,
    alpha: float = 0.9,
) -> torch.Tensor:
    """The knowledge-distillation loss of Hinton et al. (2015), a scalar.

    ``loss = alpha * T**2 * KL(p_teacher || p_student) + (1 - alpha) * CE(student_logits, targets)`` where
    ``p_teacher = softmax(teacher_logits / T)``, ``p_student = softmax(student_logits / T)`` (the same
    temperature ``T`` for both, over the last dimension), the KL divergence is summed over classes and
    averaged over the batch (``reduction="batchmean"``), and the cross-entropy is the ordinary one
    (temperature 1, mean over the batch) against the hard class indices ``targets``.

    The factor ``T**2`` keeps the soft term's gradients the same size whatever the temperature (they
    scale as ``1 / T**2``). No gradient flows into the teacher: its logits are constants.

    Args:
        student_logits: ``(B, C)`` raw scores of the student.
        teacher_logits: ``(B, C)`` raw scores of the teacher.
        targets: ``(B,)`` int64 class indices.
        temperature: ``T > 0``; higher = softer teacher probabilities (4 is a common choice).
        alpha: weight of the soft (teacher) term in ``[0, 1]``; ``alpha=0`` is plain cross-entropy.
    """
    t = float(temperature)
    log_p_student = F.log_softmax(student_logits / t, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.detach() / t, dim=-1)
    soft = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True) * t * t
    hard = F.cross_entropy(student_logits, targets)
    return alpha * soft + (1.0 - alpha) * hard


@dataclass
class DistillConfig:
    """Sizes of the distillation experiment (quick mode: see :meth:`quick`)."""

    labels: tuple[int, ...] = (100, 1000)  # labelled training images (stratified, nested)
    transfer_per_class: int = 500  # images per class the student sees (labelled or not): 5 000 in all
    test_per_class: int = 200  # CIFAR-10 test images per class
    feature_size: int = 128  # the teacher's input resolution
    width: int = 16  # the student SmallCNN's width
    epochs: int = 15  # student epochs over the transfer set (distilled)
    batch_size: int = 128
    lr: float = 0.05  # OneCycle peak (SGD, Nesterov momentum)
    temperature: float = 4.0
    alpha: float = 0.9  # weight of the teacher's soft term
    scratch_images: int = 40_000  # images seen by the labels-only student (epochs = this / labels, 10..60)
    probe_epochs: int = 100  # the teacher's linear head
    seed: int = 0

    @classmethod
    def quick(cls) -> DistillConfig:
        return cls(labels=(100, 500), transfer_per_class=100, test_per_class=50, width=8, epochs=6,
                   scratch_images=6_000, probe_epochs=60)


def _train_student(model, images, teacher_logits, targets, cfg: DistillConfig, *, alpha: float, epochs: int,
                   batch_size: int, device, desc: str) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from .data import CIFAR10_MEAN, CIFAR10_STD
    from .transfer_experiments import _augment, to_model_input
    from .utils import seed_everything

    seed_everything(cfg.seed)
    model = model.to(device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps = epochs * -(-len(images) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.25)
    start, seen = time.perf_counter(), 0
    model.train()
    for _ in tqdm(range(epochs), desc=desc, leave=False):
        perm = torch.randperm(len(images))
        for i in range(0, len(images), batch_size):
            idx = perm[i : i + batch_size]
            x = to_model_input(_augment(images[idx]), 32, CIFAR10_MEAN, CIFAR10_STD).to(device)
            logits = model(x)
            loss = distillation_loss(logits, teacher_logits[idx].to(device), targets[idx].to(device),
                                     cfg.temperature, alpha)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(idx)
    return {"train_time_s": time.perf_counter() - start, "images_seen": seen}


def distillation_experiment(cfg: DistillConfig | None = None, *, device: torch.device | None = None) -> list[dict]:
    """Teacher, labels-only student and distilled student at each label budget; returns one row per model.

    * **teacher**: frozen EfficientNet-Lite0 features (at ``feature_size`` px, cached on disk) and a linear
      head trained on the ``n`` labelled images only;
    * **labels only**: ``SmallCNN(width)`` trained with cross-entropy on the ``n`` labelled images (the
      "scratch" arm of Exercise 2.3);
    * **distilled**: the same CNN trained on all ``10 * transfer_per_class`` images with
      :func:`distillation_loss` against the teacher's logits; the hard target is the true label for the
      ``n`` labelled images and the teacher's own prediction for the others.
    """
    from . import transfer
    from .data import CIFAR10_MEAN, CIFAR10_STD, cifar10
    from .models import SmallCNN
    from .transfer_experiments import (
        FitConfig,
        _accuracy,
        _arrays,
        _chw,
        _subset,
        cached_features,
        fit_images,
        predict_images,
        train_linear_probe,
    )
    from .utils import get_device

    cfg = cfg or DistillConfig()
    device = device or get_device()
    train_x, train_y = _arrays(cifar10(train=True))
    test_x, test_y = _arrays(cifar10(train=False))
    test_idx = _subset(test_y, range(10), cfg.test_per_class, cfg.seed)
    test_x, test_y_t = test_x[test_idx], torch.from_numpy(test_y[test_idx])
    pool = _subset(train_y, range(10), cfg.transfer_per_class, cfg.seed)  # the unlabelled transfer set
    backbone = transfer.load_pretrained("efficientnet_lite0")
    f_pool, t_feat, _ = cached_features(backbone, train_x[pool], "cifar10_train", image_size=cfg.feature_size,
                                        device=device)
    f_test, _, _ = cached_features(backbone, test_x, "cifar10_test", image_size=cfg.feature_size, device=device)
    rows = []
    for n in cfg.labels:
        labelled = _subset(train_y, range(10), n // 10, cfg.seed)
        pos = np.searchsorted(pool, labelled)  # nested: the labelled images are in the pool
        if not np.array_equal(pool[pos], labelled):
            raise ValueError("the labelled subset must lie inside the transfer set")
        start = time.perf_counter()
        probe = train_linear_probe(f_pool[pos], torch.from_numpy(train_y[labelled]), 10,
                                   epochs=cfg.probe_epochs, seed=cfg.seed)
        t_teacher = t_feat + time.perf_counter() - start
        teacher_pool, teacher_test = probe(f_pool), probe(f_test)
        rows.append({"method": "teacher", "labels": n, "test_accuracy": _accuracy(teacher_test, test_y_t),
                     "train_time_s": t_teacher, "images_seen": n,
                     "model": "EfficientNet-Lite0 features + linear head"})
        # labels only: the scratch recipe of Exercise 2.3
        x_lab, y_lab = _chw(train_x[labelled]), torch.from_numpy(train_y[labelled])
        student = SmallCNN(num_classes=10, width=cfg.width)
        fit = FitConfig(epochs=int(np.clip(cfg.scratch_images // n, 10, 60)), batch_size=min(128, max(32, n // 8)),
                        lr=cfg.lr)
        info = fit_images(student, x_lab, y_lab, fit, mean=CIFAR10_MEAN, std=CIFAR10_STD, device=device,
                          seed=cfg.seed, desc=f"labels only n={n}")
        acc = _accuracy(predict_images(student, _chw(test_x), image_size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD,
                                       device=device), test_y_t)
        rows.append({"method": "labels only", "labels": n, "test_accuracy": acc, **info,
                     "model": f"SmallCNN(width={cfg.width})"})
        # distilled: every pool image, soft targets from the teacher, hard targets where labelled
        targets = teacher_pool.argmax(1)
        targets[torch.from_numpy(pos)] = y_lab
        student = SmallCNN(num_classes=10, width=cfg.width)
        info = _train_student(student, _chw(train_x[pool]), teacher_pool, targets, cfg, alpha=cfg.alpha,
                              epochs=cfg.epochs, batch_size=cfg.batch_size, device=device, desc=f"distilled n={n}")
        info["train_time_s"] += t_teacher  # the teacher is part of the cost
        acc = _accuracy(predict_images(student, _chw(test_x), image_size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD,
                                       device=device), test_y_t)
        rows.append({"method": "distilled", "labels": n, "test_accuracy": acc, **info,
                     "model": f"SmallCNN(width={cfg.width})"})
    for r in rows:
        r.update(test_accuracy=round(r["test_accuracy"], 4), train_time_s=round(r["train_time_s"], 2),
                 transfer_images=len(pool), test_images=len(test_x), temperature=cfg.temperature, alpha=cfg.alpha)
    return rows


def plot_distillation(rows: list[dict]):
    """Grouped bars: test accuracy of teacher, labels-only and distilled student per label budget.

    Returns a pyplot ``Figure`` (:func:`lab3.viz.new_figure`): it displays in a notebook cell (at the end of
    the cell, or with ``plt.show()``).
    """
    from lab3.viz import new_figure

    fig = new_figure(figsize=(6.5, 3.6), layout="constrained")
    ax = fig.subplots()
    budgets = sorted({r["labels"] for r in rows})
    methods = ("labels only", "distilled", "teacher")
    for j, method in enumerate(methods):
        accs = [next(r["test_accuracy"] for r in rows if r["labels"] == n and r["method"] == method) for n in budgets]
        ax.bar([i + (j - 1) * 0.27 for i in range(len(budgets))], accs, width=0.27, label=method)
    ax.set_xticks(range(len(budgets)), [f"{n} labels" for n in budgets])
    ax.set(ylabel="CIFAR-10 test accuracy", ylim=(0, 1), title="knowledge distillation into a small CNN")
    ax.legend()
    return fig
