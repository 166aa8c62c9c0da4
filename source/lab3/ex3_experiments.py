"""Experiment helpers for Exercise 3 (called by the notebook and by ``benchmarks/bench_ex3.py``).

* :func:`optimizer_comparison` — SGD with momentum, Adam and AdamW, each with a constant LR and with
  warmup + cosine, on a CIFAR-10 subset: learning curves and final accuracy.
* :func:`regularization_ablation` — the small CNN with no regularizer, dropout, batch norm, layer norm,
  augmentation: train and test accuracy and the gap between them.
* :func:`amp_comparison` — mixed precision on vs off: time per epoch and accuracy (float16 + GradScaler
  on CUDA; bfloat16 on a tiny model on CPU, where CPUs without native bf16 run it *slower*).
* :func:`accumulation_vs_large_batch` — ``k`` micro-batches with accumulation against one batch of
  ``k·b``: the weights after one step and the learning curves coincide (layer-norm model, float32).
* :func:`checkpointing_comparison` — activation memory and time per step with gradient checkpointing.

Every training run logs to TensorBoard under ``runs/ex3/...``; :func:`save_csv` and the ``plot_*``
helpers (:mod:`lab3.ex3_output`) write the tables and figures. ``Ex3Config.for_mode()`` picks the quick settings when
``lab3.utils.quick_mode()`` (``LAB3_QUICK=1``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from lab3 import utils
from lab3.data import cifar10, stratified_subset, tensor_loader, to_tensors
from lab3.ex3_output import format_table, plot_gap, plot_histories, save_csv
from lab3.models import SmallCNN
from lab3.optim import OPTIMIZERS, build_optimizer, build_scheduler, steps_per_epoch
from lab3.regularization import (
    REGULARIZERS,
    AugmentedLoader,
    activation_bytes,
    make_variant,
    set_gradient_checkpointing,
)
from lab3.training import evaluate, fit, train_one_epoch

__all__ = [
    "Ex3Config",
    "Ex3Data",
    "StepLosses",
    "accumulation_vs_large_batch",
    "amp_comparison",
    "checkpointing_comparison",
    "format_table",
    "load_data",
    "optimizer_comparison",
    "plot_histories",
    "plot_gap",
    "regularization_ablation",
    "save_csv",
]


@dataclass
class Ex3Config:
    """Hyper-parameters of the Exercise 3 experiments (defaults: the full run; see :meth:`quick`)."""

    train_per_class: int = 500  # CIFAR-10 training images per class (5 000 in all)
    test_per_class: int = 200  # test images per class (2 000 in all)
    epochs: int = 10  # epochs of each optimizer-comparison run
    ablation_epochs: int = 15  # epochs of each regularization-ablation run (long enough to overfit)
    batch_size: int = 128  # images per optimizer step
    width: int = 16  # SmallCNN width (channels of the first conv; 16 keeps a CPU epoch ~10 s)
    lr: dict[str, float] = field(default_factory=lambda: {"sgd": 0.05, "adam": 2e-3, "adamw": 2e-3})
    weight_decay: dict[str, float] = field(default_factory=lambda: {"sgd": 5e-4, "adam": 0.0, "adamw": 0.05})
    warmup_fraction: float = 0.1  # share of the optimizer steps spent in linear warmup
    dropout: float = 0.3  # dropout of the "dropout" ablation arm
    amp_epochs: int = 3  # epochs per AMP arm (CUDA: the full subset; CPU: a tiny model, see amp_comparison)
    accumulation_steps: int = 4  # k of the accumulation experiment
    seed: int = 0  # model init, data subset and shuffling
    log_root: str = "ex3"  # TensorBoard logs under runs/<log_root>/...

    @classmethod
    def quick(cls) -> Ex3Config:
        """Settings for ``LAB3_QUICK=1``: 600 images, a tiny width, 3-4 epochs (CPU minutes)."""
        return cls(
            train_per_class=60,
            test_per_class=30,
            epochs=3,
            ablation_epochs=4,
            batch_size=64,
            width=8,
            amp_epochs=1,
        )

    @classmethod
    def for_mode(cls) -> Ex3Config:
        """:meth:`quick` when ``lab3.utils.quick_mode()``, else the defaults."""
        return cls.quick() if utils.quick_mode() else cls()


@dataclass
class Ex3Data:
    """In-memory, normalized CIFAR-10 subsets: images ``(N, 3, 32, 32)`` float32, labels ``(N,)`` int64."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def train_loader(self, batch_size: int, *, shuffle: bool = True, augment: bool = False, seed: int = 0):
        loader = tensor_loader(self.x_train, self.y_train, batch_size, shuffle=shuffle, seed=seed)
        return AugmentedLoader(loader, seed=seed) if augment else loader

    def test_loader(self, batch_size: int = 512):
        return tensor_loader(self.x_test, self.y_test, batch_size)

    def train_eval_loader(self, batch_size: int = 512):
        return tensor_loader(self.x_train, self.y_train, batch_size)


def load_data(cfg: Ex3Config) -> Ex3Data:
    """Stratified CIFAR-10 subsets of ``cfg.train_per_class`` / ``cfg.test_per_class`` images per class."""
    train = stratified_subset(cifar10(train=True), cfg.train_per_class, seed=cfg.seed)
    test = stratified_subset(cifar10(train=False), cfg.test_per_class, seed=cfg.seed)
    return Ex3Data(*to_tensors(train), *to_tensors(test))


def _summary(history: list[dict[str, float]], elapsed: float, cpu: float) -> dict[str, float]:
    last = history[-1]
    return {
        "final_test_acc": round(last.get("val_accuracy", float("nan")), 4),
        "best_test_acc": round(max(r.get("val_accuracy", 0.0) for r in history), 4),
        "final_train_loss": round(last["train_loss"], 4),
        "train_time_s": round(elapsed, 2),
        "cpu_time_s": round(cpu, 2),  # process CPU time: steady on a shared machine, unlike wall time
    }


class StepLosses:
    """A loss function that records the training loss of every optimizer step (calls with gradients on;
    evaluation runs under ``no_grad`` and is not recorded): ``fit(..., loss_fn=StepLosses())``."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self._loss = nn.CrossEntropyLoss()

    def __call__(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loss = self._loss(outputs, targets)
        if torch.is_grad_enabled():
            self.losses.append(loss.item())
        return loss


# --------------------------------------------------------------------------- optimizers and schedules


def optimizer_comparison(
    data: Ex3Data,
    cfg: Ex3Config,
    device: torch.device | str | None = None,
    *,
    optimizers: Sequence[str] = OPTIMIZERS,
    schedules: Sequence[str] = ("constant", "warmup_cosine"),
    progress: bool = False,
    step_losses: dict[str, list[float]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, float]]]]:
    """Train the small CNN (batch norm) once per optimizer x schedule with the same seed and data order.

    ``schedules``: any of ``"constant"``, ``"cosine"`` (decay from the first step) and ``"warmup_cosine"``
    (``cfg.warmup_fraction`` of the steps in linear warmup, then cosine).

    Returns ``(rows, histories)``: one row per run (``optimizer``, ``schedule``, ``lr``, ``weight_decay``,
    ``final_test_acc``, ``best_test_acc``, ``final_train_loss``, ``train_time_s``) and the per-epoch
    histories keyed ``"<optimizer>/<schedule>"``. TensorBoard: ``runs/ex3/optimizers/<optimizer>_<schedule>``.
    ``step_losses``: when a dict is given, it receives the training loss of every step under the same keys.
    """
    device = torch.device(device) if device is not None else utils.get_device()
    rows, histories = [], {}
    for name in optimizers:
        for schedule in schedules:
            utils.seed_everything(cfg.seed)
            model = SmallCNN(width=cfg.width, norm="batch").to(device)
            loader = data.train_loader(cfg.batch_size, seed=cfg.seed)
            optimizer = build_optimizer(model, name, lr=cfg.lr[name], weight_decay=cfg.weight_decay[name])
            total = cfg.epochs * steps_per_epoch(len(loader))
            scheduler = None
            if schedule == "warmup_cosine":
                scheduler = build_scheduler(optimizer, round(cfg.warmup_fraction * total), total)
            elif schedule == "cosine":  # cosine decay from the first step, no warmup
                scheduler = build_scheduler(optimizer, 0, total)
            elif schedule != "constant":
                raise ValueError(f"schedule must be 'constant', 'cosine' or 'warmup_cosine', got {schedule!r}")
            recorder = StepLosses()
            start, cpu = time.perf_counter(), time.process_time()
            history = fit(
                model,
                loader,
                data.test_loader(),
                optimizer=optimizer,
                scheduler=scheduler,
                epochs=cfg.epochs,
                loss_fn=recorder,
                device=device,
                log_dir=utils.runs_dir(f"{cfg.log_root}/optimizers/{name}_{schedule}"),
                progress=progress,
            )
            histories[f"{name}/{schedule}"] = history
            if step_losses is not None:
                step_losses[f"{name}/{schedule}"] = recorder.losses
            rows.append(
                {
                    "optimizer": name,
                    "schedule": schedule,
                    "lr": cfg.lr[name],
                    "weight_decay": cfg.weight_decay[name],
                    **_summary(history, time.perf_counter() - start, time.process_time() - cpu),
                }
            )
    return rows, histories


# --------------------------------------------------------------------------- regularization


def regularization_ablation(
    data: Ex3Data,
    cfg: Ex3Config,
    device: torch.device | str | None = None,
    *,
    variants: Sequence[str] = REGULARIZERS,
    progress: bool = False,
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, float]]]]:
    """Train one small CNN per regularizer (Adam, constant LR, no weight decay, so the regularizer is the
    only difference) and measure train accuracy (no augmentation, eval mode) against test accuracy.

    Returns ``(rows, histories)``; each row: ``variant``, ``train_acc``, ``test_acc``, ``gap``
    (train − test), ``final_train_loss``, ``train_time_s``.
    TensorBoard: ``runs/ex3/regularization/<variant>``.
    """
    device = torch.device(device) if device is not None else utils.get_device()
    rows, histories = [], {}
    for name in variants:
        utils.seed_everything(cfg.seed)
        variant = make_variant(name, width=cfg.width, dropout=cfg.dropout)
        model = variant.model.to(device)
        optimizer = build_optimizer(model, "adam", lr=cfg.lr["adam"])
        start, cpu = time.perf_counter(), time.process_time()
        history = fit(
            model,
            data.train_loader(cfg.batch_size, augment=variant.augment, seed=cfg.seed),
            data.test_loader(),
            optimizer=optimizer,
            epochs=cfg.ablation_epochs,
            device=device,
            train_eval_loader=data.train_eval_loader(),
            log_dir=utils.runs_dir(f"{cfg.log_root}/regularization/{name}"),
            progress=progress,
        )
        histories[name] = history
        last = history[-1]
        rows.append(
            {
                "variant": name,
                "train_acc": round(last["train_accuracy"], 4),
                "test_acc": round(last["val_accuracy"], 4),
                "gap": round(last["train_accuracy"] - last["val_accuracy"], 4),
                "final_train_loss": round(last["train_loss"], 4),
                "train_time_s": round(time.perf_counter() - start, 2),
                "cpu_time_s": round(time.process_time() - cpu, 2),
            }
        )
    return rows, histories


# --------------------------------------------------------------------------- mixed precision


def amp_comparison(
    data: Ex3Data, cfg: Ex3Config, device: torch.device | str | None = None, *, progress: bool = False
) -> list[dict[str, Any]]:
    """AMP off vs on with the same seed and data: median seconds per epoch, throughput, test accuracy.

    On CUDA: the small CNN on the whole subset, float16 autocast + GradScaler. On CPU: a tiny model
    (width 4, at most 256 training images) in bfloat16 — CPUs without native bf16 (AVX512-BF16 / AMX;
    ``utils.bf16_supported()``) emulate it and run *slower* than float32; the point there is that the
    same loop runs, not speed. TensorBoard: ``runs/ex3/amp/<device>_<dtype>``.
    """
    device = torch.device(device) if device is not None else utils.get_device()
    cuda = device.type == "cuda"
    n = len(data.x_train) if cuda else min(256, len(data.x_train))
    width = cfg.width if cuda else 4
    x, y = data.x_train[:n], data.y_train[:n]
    rows = []
    for amp in (False, True):
        utils.seed_everything(cfg.seed)
        model = SmallCNN(width=width, norm="batch").to(device)
        optimizer = build_optimizer(
            model, "adamw", lr=cfg.lr["adamw"], weight_decay=cfg.weight_decay["adamw"]
        )
        loader = tensor_loader(x, y, cfg.batch_size, shuffle=True, seed=cfg.seed)
        dtype = utils.amp_dtype_for(device) if amp else torch.float32
        history = fit(
            model,
            loader,
            data.test_loader(),
            optimizer=optimizer,
            epochs=cfg.amp_epochs,
            device=device,
            amp=amp,
            log_dir=utils.runs_dir(f"{cfg.log_root}/amp/{device.type}_{str(dtype).removeprefix('torch.')}"),
            progress=progress,
        )
        rows.append(
            {
                "device": device.type,
                "amp": amp,
                "dtype": str(dtype).removeprefix("torch."),
                "grad_scaler": amp and dtype == torch.float16,
                "model_width": width,
                "train_images": n,
                "epoch_time_s": round(statistics.median(r["epoch_time_s"] for r in history), 3),
                "samples_per_s": round(statistics.median(r["samples_per_s"] for r in history), 1),
                "test_acc": round(history[-1]["val_accuracy"], 4),
                "native_bf16": utils.bf16_supported(device),
            }
        )
    return rows


# --------------------------------------------------------------------------- gradient accumulation


def _max_param_diff(a: nn.Module, b: nn.Module) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters(), strict=True))


def accumulation_vs_large_batch(
    data: Ex3Data, cfg: Ex3Config, device: torch.device | str | None = None, *, epochs: int | None = None
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, float]]]]:
    """``k = cfg.accumulation_steps`` micro-batches of ``b = batch_size // k`` against batches of
    ``batch_size``, same seed and sample order, layer-norm CNN (batch norm would see different batch
    statistics), float32, SGD with momentum.

    1. One optimizer step: the largest weight difference (float32 rounding, ~1e-7).
    2. ``epochs`` epochs (default ``cfg.epochs``) on a multiple of ``batch_size`` images: the two runs'
       losses and accuracies per epoch.

    Returns ``(rows, histories)``: rows ``setup``, ``micro_batch``, ``accumulation_steps``,
    ``effective_batch``, ``max_weight_diff_one_step``, ``final_train_loss``, ``final_test_acc``.
    """
    device = torch.device(device) if device is not None else utils.get_device()
    k = cfg.accumulation_steps
    big = cfg.batch_size
    micro = big // k
    if micro * k != big:
        raise ValueError(f"batch_size {big} is not a multiple of accumulation_steps {k}")
    n = (len(data.x_train) // big) * big  # whole batches only: every step sees k full micro-batches
    x, y = data.x_train[:n], data.y_train[:n]
    setups = {"large batch": (big, 1), f"{k} x {micro} accumulated": (micro, k)}

    models = {}
    for label, (b, steps) in setups.items():  # 1. one optimizer step
        utils.seed_everything(cfg.seed)
        models[label] = model = SmallCNN(width=cfg.width, norm="layer").to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr["sgd"], momentum=0.9)
        first = [(x[i : i + b], y[i : i + b]) for i in range(0, big, b)]
        train_one_epoch(
            model, first, optimizer, nn.CrossEntropyLoss(), device=device, accumulation_steps=steps
        )
    one_step = _max_param_diff(*models.values())

    rows, histories = [], {}
    for label, (b, steps) in setups.items():  # 2. learning curves
        utils.seed_everything(cfg.seed)
        model = SmallCNN(width=cfg.width, norm="layer").to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr["sgd"], momentum=0.9)
        history = fit(
            model,
            tensor_loader(x, y, b, shuffle=True, seed=cfg.seed),
            data.test_loader(),
            optimizer=optimizer,
            epochs=epochs or cfg.epochs,
            device=device,
            accumulation_steps=steps,
            progress=False,
            log_dir=utils.runs_dir(f"{cfg.log_root}/accumulation/{label.replace(' ', '_')}"),
        )
        histories[label] = history
        rows.append(
            {
                "setup": label,
                "micro_batch": b,
                "accumulation_steps": steps,
                "effective_batch": b * steps,
                "max_weight_diff_one_step": one_step,
                "final_train_loss": round(history[-1]["train_loss"], 5),
                "final_test_acc": round(history[-1]["val_accuracy"], 4),
            }
        )
    return rows, histories


# --------------------------------------------------------------------------- gradient checkpointing


def checkpointing_comparison(
    cfg: Ex3Config, device: torch.device | str | None = None, *, batch_size: int = 64, repeats: int = 3
) -> list[dict[str, Any]]:
    """Activation memory (bytes autograd saves for backward; on CUDA also the peak allocated memory)
    and median seconds per training step of the small CNN with and without gradient checkpointing."""
    device = torch.device(device) if device is not None else utils.get_device()
    utils.seed_everything(cfg.seed)
    x = torch.randn(batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)
    rows = []
    for enabled in (False, True):
        utils.seed_everything(cfg.seed)
        model = SmallCNN(width=cfg.width, norm="batch").to(device)
        set_gradient_checkpointing(model, enabled)
        saved = activation_bytes(model, x)
        times = []
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        for _ in range(repeats):
            start = time.perf_counter()
            nn.functional.cross_entropy(model(x), y).backward()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
            model.zero_grad(set_to_none=True)
        row = {
            "checkpointing": enabled,
            "saved_activations_MB": round(saved / 2**20, 2),
            "step_time_s": round(statistics.median(times), 4),
        }
        if device.type == "cuda":
            row["peak_cuda_MB"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
        rows.append(row)
    return rows


def config_table(cfg: Ex3Config) -> dict[str, Any]:
    """The configuration as a flat dict (for a notebook table or a CSV header)."""
    return asdict(cfg)


def evaluate_accuracy(model: nn.Module, data: Ex3Data, device: torch.device | str | None = None) -> float:
    """Test accuracy of ``model`` on ``data``."""
    return evaluate(model, data.test_loader(), device=device)["accuracy"]
