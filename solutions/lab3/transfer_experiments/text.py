"""Experiment 3: SST-2 sentiment with all-MiniLM-L6-v2, feature extraction vs fine-tuning."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .. import transfer
from ..data import sst2
from ..utils import get_device, quick_mode, seed_everything
from .common import _accuracy, _out_dir, _writer, save_csv
from .plots import plot_text


@dataclass
class TextConfig:
    """Sizes of experiment 3."""

    train_sentences: int = 1000
    test_sentences: int = 1821  # 1821 = the whole SST-2 test split
    finetune_epochs: int = 2
    batch_size: int = 16
    max_length: int = 64
    lr: float = 5e-5  # fine-tuning (every layer)
    head_lr: float = 1e-2  # feature extraction (the head only)
    head_epochs: int = 100

    @classmethod
    def quick(cls) -> TextConfig:
        return cls(train_sentences=200, test_sentences=300, finetune_epochs=2)


def _balanced(rows: list[tuple[str, int]], n: int, seed: int) -> list[tuple[str, int]]:
    rng = np.random.default_rng(seed)
    labels = np.array([y for _, y in rows])
    picks = np.concatenate(
        [rng.permutation(np.flatnonzero(labels == c))[: n // 2 + (c < n % 2)] for c in (0, 1)]
    )
    return [rows[i] for i in np.sort(picks)]


def _encode(tokenizer, sentences: Sequence[str], max_length: int, device) -> dict:
    batch = tokenizer(
        list(sentences), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    return {k: v.to(device) for k, v in batch.items()}


@torch.no_grad()
def _sentence_features(
    model, tokenizer, sentences: Sequence[str], max_length: int, batch_size: int, device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen-encoder sentence vectors: the pooled ``[CLS]`` output and the masked mean of the tokens."""
    cls, mean = [], []
    for i in tqdm(range(0, len(sentences), batch_size), desc="text features", leave=False):
        batch = _encode(tokenizer, sentences[i : i + batch_size], max_length, device)
        out = model.bert(**batch)
        mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
        cls.append(out.pooler_output.float().cpu())
        mean.append(
            ((out.last_hidden_state * mask).sum(1) / mask.sum(1).clamp_min(1)).float().cpu()
        )  # (B, H)
    return torch.cat(cls), torch.cat(mean)


class _Sentences(NamedTuple):
    """The balanced SST-2 training sentences and the test sentences, with their labels."""

    train_s: list[str]
    train_y: torch.Tensor  # (N,) int64
    test_s: list[str]
    test_y: torch.Tensor  # (M,) int64


def _load_sentences(cfg: TextConfig, seed: int) -> _Sentences:
    """A class-balanced SST-2 training subset; the test split (balanced too when a subset is asked for)."""
    train = _balanced(sst2("train"), cfg.train_sentences, seed)
    test = sst2("test")
    if cfg.test_sentences < len(test):
        test = _balanced(test, cfg.test_sentences, seed)
    train_s, train_y = [s for s, _ in train], torch.tensor([y for _, y in train])
    test_s, test_y = [s for s, _ in test], torch.tensor([y for _, y in test])
    return _Sentences(train_s, train_y, test_s, test_y)


@dataclass
class _Recorder:
    """Collects the rows of experiment 3 and prints each one."""

    train_sentences: int
    rows: list[dict] = field(default_factory=list)

    def __call__(self, method: str, acc: float, t: float, trainable: int, epochs: int, what: str) -> None:
        self.rows.append(
            {
                "method": method,
                "train_sentences": self.train_sentences,
                "test_accuracy": round(acc, 4),
                "train_time_s": round(t, 2),
                "trainable_params": trainable,
                "epochs": epochs,
                "sentence_vector": what,
            }
        )
        tqdm.write(f"[text] {method}: test acc {acc:.3f}, {t:.1f} s")


def _train_head(
    head: nn.Module, f_tr: torch.Tensor, train_y: torch.Tensor, cfg: TextConfig, writer: Any, method: str
) -> None:
    """Train ``head`` on the frozen sentence vectors ``f_tr`` ``(N, H)``: full batch, AdamW, loss logged per epoch."""
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.head_lr, weight_decay=1e-3)
    for epoch in range(cfg.head_epochs):
        loss = F.cross_entropy(head(f_tr), train_y)  # head(f_tr): (N, 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        writer.add_scalar(f"{method}/train_loss", float(loss.detach()), epoch)


def _feature_extraction(
    data: _Sentences, cfg: TextConfig, record: _Recorder, *, writer: Any, seed: int, device: torch.device
) -> None:
    """Frozen encoder, sentence vectors computed once, a linear head on the ``[CLS]`` and on the mean vectors."""
    seed_everything(seed)
    model, tokenizer = transfer.text_classifier(2, mode="features")
    model.to(device).eval()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    bs = cfg.batch_size * 4
    start = time.perf_counter()
    cls_tr, mean_tr = _sentence_features(model, tokenizer, data.train_s, cfg.max_length, bs, device)  # (N, H) each
    t_feats = time.perf_counter() - start
    cls_te, mean_te = _sentence_features(model, tokenizer, data.test_s, cfg.max_length, bs, device)  # (M, H) each
    variants = (
        ("features", "[CLS] pooler (the model's own head input)", cls_tr, cls_te, model.classifier.cpu()),
        (
            "features-mean",
            "mean of the token vectors (how all-MiniLM-L6-v2 was trained)",
            mean_tr,
            mean_te,
            nn.Linear(mean_tr.shape[1], 2),
        ),
    )
    for method, what, f_tr, f_te, head in variants:
        start = time.perf_counter()
        _train_head(head, f_tr, data.train_y, cfg, writer, method)
        t = t_feats + time.perf_counter() - start
        with torch.no_grad():
            acc = _accuracy(head(f_te), data.test_y)
        record(method, acc, t, trainable, cfg.head_epochs, what)


def _finetune(
    model: nn.Module, tokenizer: Any, data: _Sentences, cfg: TextConfig, *, writer: Any, device: torch.device
) -> float:
    """Train every layer with AdamW (linear warmup over 10 % of the steps, then linear decay); returns seconds."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    steps = cfg.finetune_epochs * -(-len(data.train_s) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.0, (steps - s) / steps)
    )
    start, step = time.perf_counter(), 0
    model.train()
    for _ in tqdm(range(cfg.finetune_epochs), desc="text fine-tune"):
        perm = torch.randperm(len(data.train_s)).tolist()
        for i in range(0, len(perm), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            batch = _encode(tokenizer, [data.train_s[j] for j in idx], cfg.max_length, device)
            loss = F.cross_entropy(model(**batch).logits, data.train_y[idx].to(device))  # logits: (B, 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            writer.add_scalar("finetune/train_loss", float(loss.detach()), step)
    return time.perf_counter() - start


@torch.inference_mode()
def _predict(
    model: nn.Module, tokenizer: Any, sentences: list[str], max_length: int, batch_size: int, device: torch.device
) -> torch.Tensor:
    """Logits ``(M, 2)`` of ``model`` (eval mode) on ``sentences``, in batches, on the CPU."""
    model.eval()
    return torch.cat(
        [
            model(**_encode(tokenizer, sentences[i : i + batch_size], max_length, device)).logits.float().cpu()
            for i in tqdm(range(0, len(sentences), batch_size), desc="evaluate", leave=False)
        ]
    )


def text_experiment(
    config: TextConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    seed: int = 0,
    device: torch.device | None = None,
) -> list[dict]:
    """Experiment 3: SST-2 sentiment with all-MiniLM-L6-v2, feature extraction vs full fine-tuning.

    ``features``: ``text_classifier(mode="features")``, the frozen encoder's pooled vectors computed
    once, then the classification head trained on them. ``finetune``: ``text_classifier(mode="finetune")``,
    every layer trained with AdamW (linear warmup/decay). Returns the rows (``text.csv``, ``text.png``).
    """
    cfg = config or (TextConfig.quick() if quick_mode() else TextConfig())
    device = device or get_device()
    out = _out_dir(out_dir)
    writer = _writer("ex2/text")
    data = _load_sentences(cfg, seed)
    record = _Recorder(len(data.train_s))
    _feature_extraction(data, cfg, record, writer=writer, seed=seed, device=device)
    # --- full fine-tuning
    seed_everything(seed)
    model, tokenizer = transfer.text_classifier(2, mode="finetune")
    model.to(device)
    t = _finetune(model, tokenizer, data, cfg, writer=writer, device=device)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logits = _predict(model, tokenizer, data.test_s, cfg.max_length, cfg.batch_size * 4, device)
    acc = _accuracy(logits, data.test_y)
    record("finetune", acc, t, trainable, cfg.finetune_epochs, "[CLS] pooler, every layer trained")
    writer.close()
    rows = record.rows
    for row in rows:
        row.update(test_sentences=len(data.test_s), quick=quick_mode())
    save_csv(rows, out / "text.csv")
    plot_text(rows, out / "text.png")
    return rows
