"""Experiment helpers for Exercise 1 (called by the notebook and by ``benchmarks/bench_ex1.py``).

* :func:`train_seq2seq` trains a ``Seq2SeqTransformer`` or the ``LSTMSeq2Seq`` baseline on a toy task
  (fresh seeded batches every step) and reports exact-match accuracy with greedy decoding;
* :func:`length_sweep` repeats that for several sequence lengths at a comparable parameter count;
* :func:`train_vit` trains a ``VisionTransformer`` on a stratified CIFAR-10 subset.

Every run can log to TensorBoard (``runs/<name>``); ``lab3.utils.quick_mode()`` shrinks the budgets.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lab3 import utils
from lab3.models import LSTMSeq2Seq
from lab3.sequences import (
    BOS,
    EOS,
    PAD,
    ToySeq2SeqDataset,
    collate_seq2seq,
    exact_match,
    seq2seq_batch_stream,
    seq2seq_vocab_size,
    token_accuracy,
)
from lab3.transformer import Seq2SeqTransformer

__all__ = [
    "Seq2SeqConfig",
    "build_transformer",
    "build_lstm",
    "lstm_hidden_for_params",
    "evaluate_seq2seq",
    "train_seq2seq",
    "length_sweep",
    "ViTConfig",
    "train_vit",
    "vit_vs_cnn",
    "evaluate_classifier",
    "make_writer",
    "num_threads",
]


@contextmanager
def num_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` (``None``: leave it), then restore the old value.

    The models here are tiny: one thread loses little on an idle machine and avoids the collapse of
    two OpenMP threads on a shared, overloaded one (a 20 ms step took 1-3 s that way).
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def make_writer(name: str | None):
    """A TensorBoard ``SummaryWriter`` in ``runs/<name>`` (``None`` when ``name`` is ``None``)."""
    if name is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(utils.runs_dir(name)))


# ------------------------------------------------------------------------------------------ seq2seq
@dataclass
class Seq2SeqConfig:
    """Hyper-parameters of one toy seq2seq run (defaults: reverse, length 16, ~0.2 M parameters)."""

    task: str = "reverse"  # "reverse" | "copy" | "sort"
    min_len: int = 16  # shortest source sequence (symbols, EOS not counted)
    max_len: int = 16  # longest source sequence
    num_symbols: int = 10  # distinct symbols (vocabulary = symbols + PAD/BOS/EOS)
    batch_size: int = 64  # sequences per step
    steps: int = 1500  # maximum optimizer steps
    lr: float = 1e-3  # peak AdamW learning rate
    warmup_steps: int = 100  # linear warm-up, then cosine decay to 0 over `steps`
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    time_budget_s: float | None = None  # stop early after this many seconds of training
    target_exact_match: float | None = None  # stop early once the validation exact match reaches this
    eval_every: int = 100  # steps between validations
    eval_examples: int = 256  # fixed validation set size (a different seed than training)
    seed: int = 0  # model init and data stream
    # model sizes
    d_model: int = 64  # Transformer width
    num_heads: int = 4  # attention heads
    num_layers: int = 2  # encoder layers = decoder layers
    dim_feedforward: int = 256  # Transformer feed-forward width
    dropout: float = 0.0  # no need on endless fresh data
    num_threads: int | None = None  # torch threads while training (None: torch's default)


def build_transformer(cfg: Seq2SeqConfig) -> Seq2SeqTransformer:
    """The ``Seq2SeqTransformer`` of ``cfg`` (pre-norm, sinusoidal positions)."""
    vocab = seq2seq_vocab_size(cfg.num_symbols)
    return Seq2SeqTransformer(
        vocab,
        vocab,
        d_model=cfg.d_model,
        num_heads=cfg.num_heads,
        num_encoder_layers=cfg.num_layers,
        num_decoder_layers=cfg.num_layers,
        dim_feedforward=cfg.dim_feedforward,
        dropout=cfg.dropout,
        max_len=max(2 * cfg.max_len + 8, 64),
        pad_idx=PAD,
        norm_first=True,
    )


def _lstm_params(vocab: int, embed_dim: int, hidden: int, num_layers: int) -> int:
    per_lstm = sum(
        4 * hidden * (i_dim + hidden) + 8 * hidden for i_dim in [embed_dim] + [hidden] * (num_layers - 1)
    )
    return 2 * vocab * embed_dim + 2 * per_lstm + hidden * vocab + vocab


def lstm_hidden_for_params(target_params: int, vocab: int, embed_dim: int = 64, num_layers: int = 2) -> int:
    """The LSTM hidden size whose ``LSTMSeq2Seq`` parameter count is closest to ``target_params``."""
    return min(
        range(8, 2049), key=lambda h: abs(_lstm_params(vocab, embed_dim, h, num_layers) - target_params)
    )


def build_lstm(cfg: Seq2SeqConfig, target_params: int | None = None, num_layers: int = 2) -> LSTMSeq2Seq:
    """An ``LSTMSeq2Seq`` with about ``target_params`` parameters (default: ``cfg``'s Transformer's)."""
    vocab = seq2seq_vocab_size(cfg.num_symbols)
    if target_params is None:
        target_params = utils.count_parameters(build_transformer(cfg))
    hidden = lstm_hidden_for_params(target_params, vocab, cfg.d_model, num_layers)
    return LSTMSeq2Seq(
        vocab, vocab, embed_dim=cfg.d_model, hidden_size=hidden, num_layers=num_layers, pad_idx=PAD
    )


@torch.no_grad()
def evaluate_seq2seq(
    model: nn.Module, dataset: ToySeq2SeqDataset, batch_size: int = 256, device: torch.device | None = None
) -> dict[str, float]:
    """Greedy-decode every example; returns ``exact_match`` (whole sequence right) and ``token_accuracy``."""
    device = device or next(model.parameters()).device
    hits, tok_acc, n = 0, 0.0, 0
    for start in range(0, len(dataset), batch_size):
        batch = collate_seq2seq([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        batch = batch.to(device)
        pred = model.greedy_decode(batch.src, max_new_tokens=batch.tgt_out.size(1), bos_idx=BOS, eos_idx=EOS)
        hits += int(exact_match(pred, batch.tgt_out).sum())
        tok_acc += token_accuracy(pred, batch.tgt_out) * batch.src.size(0)
        n += batch.src.size(0)
    return {"exact_match": hits / n, "token_accuracy": tok_acc / n}


def _lr_lambda(warmup: int, total: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return f


def train_seq2seq(
    model: nn.Module,
    cfg: Seq2SeqConfig,
    *,
    device: torch.device | None = None,
    run_name: str | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """Train ``model`` on ``cfg.task`` with teacher forcing; validate with greedy decoding.

    Returns a dict: ``exact_match`` and ``token_accuracy`` (final validation), ``history`` (list of
    ``{step, seconds, loss, exact_match, token_accuracy}``), ``steps``, ``train_seconds`` (training
    time, validation excluded), ``seconds`` (wall, validation included), ``params``,
    ``time_to_target`` (wall seconds when ``target_exact_match`` was first reached, else ``None``).
    """
    with num_threads(cfg.num_threads):
        return _train_seq2seq(model, cfg, device=device, run_name=run_name, verbose=verbose)


def _train_seq2seq(
    model: nn.Module,
    cfg: Seq2SeqConfig,
    *,
    device: torch.device | None,
    run_name: str | None,
    verbose: bool,
) -> dict[str, Any]:
    device = device or torch.device("cpu")
    utils.seed_everything(cfg.seed)
    model.to(device)
    val = ToySeq2SeqDataset(
        cfg.task, cfg.eval_examples, cfg.min_len, cfg.max_len, cfg.num_symbols, seed=10_000 + cfg.seed
    )
    stream = seq2seq_batch_stream(
        cfg.task, cfg.batch_size, cfg.min_len, cfg.max_len, cfg.num_symbols, seed=cfg.seed
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(cfg.warmup_steps, cfg.steps))
    writer = make_writer(run_name)
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    train_seconds, running, step, time_to_target = 0.0, [], 0, None
    metrics = {"exact_match": 0.0, "token_accuracy": 0.0}
    try:
        while step < cfg.steps:
            t0 = time.perf_counter()
            model.train()
            batch = next(stream).to(device)
            logits = model(batch.src, batch.tgt_in)  # (B, T, V)
            loss = F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            train_seconds += time.perf_counter() - t0
            running.append(loss.item())
            if writer is not None:
                writer.add_scalar("train/loss", running[-1], step)
                writer.add_scalar("train/lr", scheduler.get_last_lr()[0], step)
            out_of_time = cfg.time_budget_s is not None and train_seconds >= cfg.time_budget_s
            if step % cfg.eval_every == 0 or step == cfg.steps or out_of_time:
                metrics = evaluate_seq2seq(model, val, device=device)
                elapsed = time.perf_counter() - start
                history.append({"step": step, "seconds": elapsed, "loss": float(np.mean(running)), **metrics})
                running = []
                if writer is not None:
                    writer.add_scalar("val/exact_match", metrics["exact_match"], step)
                    writer.add_scalar("val/token_accuracy", metrics["token_accuracy"], step)
                if verbose:
                    h = history[-1]
                    print(
                        f"step {step:5d}  {elapsed:6.1f}s  loss {h['loss']:.4f}  exact {h['exact_match']:.3f}"
                    )
                target = cfg.target_exact_match
                if target is not None and metrics["exact_match"] >= target:
                    time_to_target = elapsed
                    break
                if out_of_time:
                    break
    finally:
        if writer is not None:
            writer.close()
    return {
        **metrics,
        "history": history,
        "steps": step,
        "train_seconds": train_seconds,
        "seconds": time.perf_counter() - start,
        "params": utils.count_parameters(model),
        "time_to_target": time_to_target,
    }


def length_sweep(
    lengths: tuple[int, ...] = (8, 16, 32, 64),
    models: tuple[str, ...] = ("transformer", "lstm"),
    base: Seq2SeqConfig | None = None,
    *,
    device: torch.device | None = None,
    run_prefix: str | None = "ex1/reverse",
    verbose: bool = False,
) -> list[dict[str, Any]]:
    """Train each model kind at each length (fixed-length sequences) with the same step budget.

    The LSTM gets as many parameters as the Transformer (within 1 %). Returns one row per run:
    ``model`` (kind), ``length``, ``module`` (the trained model) and what :func:`train_seq2seq` returns.

    Measured with the defaults (1500 steps, 236 k vs 237 k parameters, 1 CPU thread): exact match
    Transformer 1.00 / 1.00 / 1.00 / 1.00 and LSTM 0.98 / 0.06 / 0.00 / 0.00 at lengths 8 / 16 / 32 / 64
    (LSTM token accuracy 0.995 / 0.58 / 0.22 / 0.16); the Transformer is at >= 0.99 after 500 steps at
    every length.
    """
    base = base or Seq2SeqConfig()
    rows = []
    for length in lengths:
        cfg = Seq2SeqConfig(**{**base.__dict__, "min_len": length, "max_len": length})
        for kind in models:
            model = build_transformer(cfg) if kind == "transformer" else build_lstm(cfg)
            name = f"{run_prefix}/{kind}_len{length}" if run_prefix else None
            result = train_seq2seq(model, cfg, device=device, run_name=name)
            rows.append({"model": kind, "length": length, "module": model, **result})
            if verbose:
                print(
                    f"{kind:12s} len {length:3d}  params {result['params']:7d}  "
                    f"exact {result['exact_match']:.3f}  "
                    f"token {result['token_accuracy']:.3f}  {result['train_seconds']:.0f}s"
                )
    return rows


# ---------------------------------------------------------------------------------------------- ViT
@dataclass
class ViTConfig:
    """A ViT run on a stratified CIFAR-10 subset (defaults: 5000 images, 15 epochs, 75 k parameters).

    Measured with these settings (1 CPU thread): 10 epochs -> 0.41 test accuracy, 12 -> 0.41 (full test
    set), 15 -> 0.46 (first 2000 test images); an epoch takes ~6.3 s on an idle core, 20-27 s on a
    shared, overloaded one.
    """

    train_per_class: int = 500  # training images per class (10 classes)
    epochs: int = 15  # passes over the subset
    batch_size: int = 64  # images per step (small batches: more updates in a short budget)
    lr: float = 3e-3  # peak AdamW learning rate (one-cycle: 15 % warm-up, cosine decay)
    weight_decay: float = 0.05  # AdamW decoupled weight decay
    label_smoothing: float = 0.0  # cross-entropy label smoothing (no gain in a short budget)
    augment: bool = True  # random crop (padding 4) + horizontal flip on tensors
    time_budget_s: float | None = None  # stop after this many seconds of training
    test_examples: int | None = None  # evaluate on the first N test images (None: all 10 000)
    seed: int = 0  # init, subset and shuffling
    num_threads: int | None = None  # torch threads while training (None: torch's default)
    arch: str = "vit"  # "vit", or "cnn": lab3.models.SmallCNN(width=cnn_width), same data, loop and budget
    cnn_width: int = 14  # SmallCNN width of the "cnn" arch (14: ~77 k parameters, like the default ViT)
    model: dict = field(
        default_factory=lambda: {
            "patch_size": 4,
            "embed_dim": 64,
            "depth": 2,
            "num_heads": 4,
            "mlp_ratio": 2.0,
        }
    )  # VisionTransformer keyword arguments


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop (4-pixel zero padding) and horizontal flips of a normalized batch ``(B, 3, 32, 32)``."""
    B = x.size(0)
    padded = F.pad(x, (4, 4, 4, 4))  # (B, 3, 40, 40)
    dx, dy = torch.randint(0, 9, (2,), generator=gen).tolist()  # one shift per batch: cheap on CPU
    x = padded[:, :, dy : dy + 32, dx : dx + 32]
    flip = torch.rand(B, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


@torch.no_grad()
def evaluate_classifier(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500
) -> tuple[float, torch.Tensor]:
    """Accuracy and predictions ``(N,)`` of ``model`` on in-memory tensors (eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    preds = torch.cat(
        [model(x[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(x), batch_size)]
    )
    return float((preds == y).float().mean()), preds


def train_vit(
    cfg: ViTConfig | None = None,
    *,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    device: torch.device | None = None,
    run_name: str | None = "ex1/vit",
    verbose: bool = False,
) -> dict[str, Any]:
    """Train a ``VisionTransformer`` on ``cfg.train_per_class * 10`` CIFAR-10 images, test on the test split.

    ``data`` = ``(x_train, y_train, x_test, y_test)`` tensors overrides CIFAR-10 (tests use random data).
    Returns ``model``, ``history`` (per epoch: ``epoch, seconds, train_loss, train_accuracy,
    test_accuracy``), ``test_accuracy``, ``predictions``, ``targets``, ``train_seconds``, ``params``.
    """
    cfg = cfg or ViTConfig()
    with num_threads(cfg.num_threads):
        return _train_vit(cfg, data=data, device=device, run_name=run_name, verbose=verbose)


_TrainTest = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # x_train, y_train, x_test, y_test


def _vit_data(cfg: ViTConfig, data: _TrainTest | None) -> _TrainTest:
    """``data``, or the stratified CIFAR-10 subset and test split; the test set cut to ``cfg.test_examples``."""
    if data is None:
        from lab3 import data as lab3_data

        train_set = lab3_data.stratified_subset(
            lab3_data.cifar10(train=True), cfg.train_per_class, seed=cfg.seed
        )
        x_train, y_train = lab3_data.to_tensors(train_set)
        x_test, y_test = lab3_data.to_tensors(lab3_data.cifar10(train=False))
    else:
        x_train, y_train, x_test, y_test = data
    if cfg.test_examples is not None:
        x_test, y_test = x_test[: cfg.test_examples], y_test[: cfg.test_examples]
    return x_train, y_train, x_test, y_test


def _build_classifier(cfg: ViTConfig, image_size: int, num_classes: int, device: torch.device) -> nn.Module:
    """The network of ``cfg.arch`` on ``device``: a ``VisionTransformer`` or a ``SmallCNN``."""
    if cfg.arch == "cnn":
        from lab3.models import SmallCNN

        return SmallCNN(num_classes=num_classes, width=cfg.cnn_width).to(device)
    if cfg.arch == "vit":
        from lab3.vit import VisionTransformer

        return VisionTransformer(image_size=image_size, num_classes=num_classes, **cfg.model).to(device)
    raise ValueError(f"arch must be 'vit' or 'cnn', got {cfg.arch!r}")


def _train_epoch(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    cfg: ViTConfig,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    *,
    gen: torch.Generator,
    writer: Any,
    step: int,
    device: torch.device,
) -> tuple[float, float, int]:
    """One shuffled pass over ``x_train`` ``(N, 3, H, W)``; returns mean loss, accuracy and the new step count."""
    model.train()
    perm = torch.randperm(len(x_train), generator=gen)
    total_loss, correct = 0.0, 0
    for i in range(0, len(x_train), cfg.batch_size):
        idx = perm[i : i + cfg.batch_size]
        xb, yb = x_train[idx], y_train[idx]  # (B, 3, H, W), (B,)
        if cfg.augment:
            xb = _augment(xb, gen)
        xb, yb = xb.to(device), yb.to(device)
        logits = model(xb)  # (B, num_classes)
        loss = F.cross_entropy(logits, yb, label_smoothing=cfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        step += 1
        total_loss += loss.item() * len(idx)
        correct += int((logits.argmax(1) == yb).sum())
        if writer is not None:
            writer.add_scalar("train/loss", loss.item(), step)
    return total_loss / len(x_train), correct / len(x_train), step


def _log_epoch(row: dict[str, float], writer: Any, verbose: bool) -> None:
    """An epoch's ``history`` row to TensorBoard (when ``writer``) and to the console (when ``verbose``)."""
    if writer is not None:
        writer.add_scalar("epoch/train_loss", row["train_loss"], row["epoch"])
        writer.add_scalar("epoch/train_accuracy", row["train_accuracy"], row["epoch"])
        writer.add_scalar("epoch/test_accuracy", row["test_accuracy"], row["epoch"])
    if verbose:
        print(
            f"epoch {row['epoch']}  {row['seconds']:6.1f}s  loss {row['train_loss']:.3f}  "
            f"train {row['train_accuracy']:.3f}  test {row['test_accuracy']:.3f}"
        )


def _train_vit(
    cfg: ViTConfig,
    *,
    data: _TrainTest | None,
    device: torch.device | None,
    run_name: str | None,
    verbose: bool,
) -> dict[str, Any]:
    """The body of :func:`train_vit` (run inside its ``num_threads`` block)."""
    device = device or torch.device("cpu")
    utils.seed_everything(cfg.seed)
    x_train, y_train, x_test, y_test = _vit_data(cfg, data)
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    model = _build_classifier(cfg, x_train.size(-1), num_classes, device)
    steps_per_epoch = math.ceil(len(x_train) / cfg.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.15
    )
    gen = torch.Generator().manual_seed(cfg.seed)
    writer = make_writer(run_name)
    history, train_seconds, step = [], 0.0, 0
    try:
        for epoch in range(1, cfg.epochs + 1):
            t0 = time.perf_counter()
            train_loss, train_accuracy, step = _train_epoch(
                model, x_train, y_train, cfg, optimizer, scheduler, gen=gen, writer=writer, step=step, device=device
            )
            train_seconds += time.perf_counter() - t0
            test_acc, preds = evaluate_classifier(model, x_test, y_test)
            row = {
                "epoch": epoch,
                "seconds": train_seconds,
                "train_loss": train_loss,
                "train_accuracy": train_accuracy,
                "test_accuracy": test_acc,
            }
            history.append(row)
            _log_epoch(row, writer, verbose)
            if cfg.time_budget_s is not None and train_seconds >= cfg.time_budget_s:
                break
    finally:
        if writer is not None:
            writer.close()
    return {
        "model": model,
        "history": history,
        "test_accuracy": history[-1]["test_accuracy"],
        "predictions": preds,
        "targets": y_test,
        "train_seconds": train_seconds,
        "params": utils.count_parameters(model),
    }


def vit_vs_cnn(
    cfg: ViTConfig | None = None,
    *,
    device: torch.device | None = None,
    run_prefix: str | None = "ex1/vit_vs_cnn",
    verbose: bool = False,
) -> list[dict[str, Any]]:
    """The ViT of ``cfg`` against ``SmallCNN(width=cfg.cnn_width)`` (a comparable parameter count) on the
    same CIFAR-10 subset, with the same augmentation, optimizer, schedule, epochs and test set.

    Returns one row per model: ``model`` (``"vit"`` / ``"cnn"``), ``module`` (the trained network), ``epochs``
    and the rest of what :func:`train_vit` returns (``params``, ``test_accuracy``, ``history``, ...).
    """
    from dataclasses import replace

    cfg = cfg or ViTConfig()
    rows = []
    for arch in ("vit", "cnn"):
        run = train_vit(
            replace(cfg, arch=arch),
            device=device,
            run_name=f"{run_prefix}/{arch}" if run_prefix else None,
            verbose=verbose,
        )
        rows.append({**run, "model": arch, "module": run["model"], "epochs": len(run["history"])})
    return rows
