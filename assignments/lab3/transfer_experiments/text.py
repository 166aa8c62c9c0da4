"""Experiment 3: SST-2 sentiment with all-MiniLM-L6-v2, feature extraction vs fine-tuning."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
    train = _balanced(sst2("train"), cfg.train_sentences, seed)
    test = sst2("test")
    if cfg.test_sentences < len(test):
        test = _balanced(test, cfg.test_sentences, seed)
    train_s, train_y = [s for s, _ in train], torch.tensor([y for _, y in train])
    test_s, test_y = [s for s, _ in test], torch.tensor([y for _, y in test])
    rows = []
    bs = cfg.batch_size * 4

    @torch.inference_mode()
    def predict(model, tokenizer) -> torch.Tensor:
        model.eval()
        return torch.cat(
            [
                model(**_encode(tokenizer, test_s[i : i + bs], cfg.max_length, device)).logits.float().cpu()
                for i in tqdm(range(0, len(test_s), bs), desc="evaluate", leave=False)
            ]
        )

    # --- feature extraction: frozen encoder, sentence vectors computed once, a linear head on them
    seed_everything(seed)
    model, tokenizer = transfer.text_classifier(2, mode="features")
    model.to(device).eval()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    start = time.perf_counter()
    cls_tr, mean_tr = _sentence_features(model, tokenizer, train_s, cfg.max_length, bs, device)
    t_feats = time.perf_counter() - start
    cls_te, mean_te = _sentence_features(model, tokenizer, test_s, cfg.max_length, bs, device)
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
        opt = torch.optim.AdamW(head.parameters(), lr=cfg.head_lr, weight_decay=1e-3)
        for epoch in range(cfg.head_epochs):
            loss = F.cross_entropy(head(f_tr), train_y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            writer.add_scalar(f"{method}/train_loss", float(loss.detach()), epoch)
        t = t_feats + time.perf_counter() - start
        with torch.no_grad():
            acc = _accuracy(head(f_te), test_y)
        rows.append(
            {
                "method": method,
                "train_sentences": len(train_s),
                "test_accuracy": round(acc, 4),
                "train_time_s": round(t, 2),
                "trainable_params": trainable,
                "epochs": cfg.head_epochs,
                "sentence_vector": what,
            }
        )
        tqdm.write(f"[text] {method}: test acc {acc:.3f}, {t:.1f} s")

    # --- full fine-tuning
    seed_everything(seed)
    model, tokenizer = transfer.text_classifier(2, mode="finetune")
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    steps = cfg.finetune_epochs * -(-len(train_s) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.0, (steps - s) / steps)
    )
    start, step = time.perf_counter(), 0
    model.train()
    for _ in tqdm(range(cfg.finetune_epochs), desc="text fine-tune"):
        perm = torch.randperm(len(train_s)).tolist()
        for i in range(0, len(perm), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            batch = _encode(tokenizer, [train_s[j] for j in idx], cfg.max_length, device)
            loss = F.cross_entropy(model(**batch).logits, train_y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            writer.add_scalar("finetune/train_loss", float(loss.detach()), step)
    t = time.perf_counter() - start
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    acc = _accuracy(predict(model, tokenizer), test_y)
    rows.append(
        {
            "method": "finetune",
            "train_sentences": len(train_s),
            "test_accuracy": round(acc, 4),
            "train_time_s": round(t, 2),
            "trainable_params": trainable,
            "epochs": cfg.finetune_epochs,
            "sentence_vector": "[CLS] pooler, every layer trained",
        }
    )
    tqdm.write(f"[text] finetune: test acc {acc:.3f}, {t:.1f} s")
    writer.close()
    for row in rows:
        row.update(test_sentences=len(test_s), quick=quick_mode())
    save_csv(rows, out / "text.csv")
    plot_text(rows, out / "text.png")
    return rows
