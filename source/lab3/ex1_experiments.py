"""Experiment helpers for Exercise 1 (called by the notebook and by ``benchmarks/bench_ex1.py``).

* :func:`train_seq2seq` trains a ``Seq2SeqTransformer`` or the ``LSTMSeq2Seq`` baseline on a toy task
  (fresh seeded batches every step) and reports exact-match accuracy with greedy decoding;
* :func:`length_sweep` repeats that for several sequence lengths at a comparable parameter count;
* :func:`train_vit` trains a ``VisionTransformer`` on a stratified CIFAR-10 subset (it and the rest of
  the ViT experiments live in ``lab3.vit_experiments``, re-exported here).

Every run can log to TensorBoard (``runs/<name>``); ``lab3.utils.quick_mode()`` shrinks the budgets.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lab3 import utils
from lab3.experiment_common import make_writer, num_threads
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
from lab3.vit_experiments import ViTConfig, evaluate_classifier, train_vit, vit_vs_cnn

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
