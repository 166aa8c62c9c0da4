"""Toy sequence-to-sequence tasks (reverse, copy, sort) for the Transformer and LSTM experiments.

Vocabulary: ``PAD = 0``, ``BOS = 1``, ``EOS = 2``, then ``num_symbols`` symbols ``3 .. 3 + num_symbols - 1``.
An example of length ``L`` is::

    src = x_1 .. x_L EOS                  (L + 1 tokens)
    tgt = BOS f(x)_1 .. f(x)_L EOS         (L + 2 tokens)

with ``f`` the task (``reverse``: ``x_L .. x_1``; ``copy``: ``x``; ``sort``: ascending). A batch is padded
with ``PAD`` and split for teacher forcing into ``tgt_in = tgt[:, :-1]`` (starts with BOS) and
``tgt_out = tgt[:, 1:]`` (ends with EOS; the loss ignores ``PAD``). Everything is generated from a seed,
so every run sees the same data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

__all__ = [
    "PAD",
    "BOS",
    "EOS",
    "NUM_SPECIAL",
    "TASKS",
    "Seq2SeqBatch",
    "ToySeq2SeqDataset",
    "seq2seq_vocab_size",
    "task_target",
    "make_seq2seq_example",
    "collate_seq2seq",
    "generate_seq2seq_batch",
    "seq2seq_batch_stream",
    "make_seq2seq_loader",
    "exact_match",
    "token_accuracy",
    "tokens_to_labels",
]

PAD, BOS, EOS = 0, 1, 2
NUM_SPECIAL = 3  # PAD, BOS, EOS come before the symbols
TASKS = ("reverse", "copy", "sort")


class Seq2SeqBatch(NamedTuple):
    """A padded int64 batch: ``src (B, S)``, ``tgt_in (B, T)`` (BOS first), ``tgt_out (B, T)`` (EOS last)."""

    src: Tensor
    tgt_in: Tensor
    tgt_out: Tensor

    def to(self, device: torch.device | str) -> Seq2SeqBatch:
        return Seq2SeqBatch(*(t.to(device) for t in self))


def seq2seq_vocab_size(num_symbols: int) -> int:
    """Vocabulary size for ``num_symbols`` symbols plus the special tokens."""
    return NUM_SPECIAL + num_symbols


def task_target(task: str, tokens: Sequence[int] | np.ndarray) -> np.ndarray:
    """The answer ``f(x)`` of ``task`` for the symbol sequence ``tokens`` (no special tokens)."""
    x = np.asarray(tokens)
    if task == "reverse":
        return x[..., ::-1].copy()
    if task == "copy":
        return x.copy()
    if task == "sort":
        return np.sort(x, axis=-1)
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def make_seq2seq_example(
    task: str, length: int, num_symbols: int, rng: np.random.Generator
) -> tuple[Tensor, Tensor]:
    """One example: ``src (length + 1,)`` and ``tgt (length + 2,)`` int64 tensors (see the module doc)."""
    x = rng.integers(NUM_SPECIAL, NUM_SPECIAL + num_symbols, size=length)
    y = task_target(task, x)
    src = np.concatenate([x, [EOS]])
    tgt = np.concatenate([[BOS], y, [EOS]])
    return torch.from_numpy(src.astype(np.int64)), torch.from_numpy(tgt.astype(np.int64))


def collate_seq2seq(examples: Sequence[tuple[Tensor, Tensor]], pad_idx: int = PAD) -> Seq2SeqBatch:
    """Pad a list of ``(src, tgt)`` pairs to a :class:`Seq2SeqBatch` (a ``DataLoader`` ``collate_fn``)."""
    srcs, tgts = zip(*examples, strict=True)
    src = torch.nn.utils.rnn.pad_sequence(list(srcs), batch_first=True, padding_value=pad_idx)  # (B, S)
    tgt = torch.nn.utils.rnn.pad_sequence(list(tgts), batch_first=True, padding_value=pad_idx)  # (B, T + 1)
    return Seq2SeqBatch(src, tgt[:, :-1], tgt[:, 1:])


def _check(task: str, min_len: int, max_len: int, num_symbols: int) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    if num_symbols < 1:
        raise ValueError(f"num_symbols must be positive, got {num_symbols}")


def generate_seq2seq_batch(
    task: str,
    batch_size: int,
    min_len: int,
    max_len: int,
    num_symbols: int = 10,
    rng: np.random.Generator | None = None,
) -> Seq2SeqBatch:
    """A fresh padded batch; lengths uniform in ``[min_len, max_len]``; ``rng`` makes it reproducible."""
    _check(task, min_len, max_len, num_symbols)
    rng = rng if rng is not None else np.random.default_rng()
    lengths = rng.integers(min_len, max_len + 1, size=batch_size)
    return collate_seq2seq([make_seq2seq_example(task, int(n), num_symbols, rng) for n in lengths])


def seq2seq_batch_stream(
    task: str,
    batch_size: int,
    min_len: int,
    max_len: int,
    num_symbols: int = 10,
    seed: int = 0,
) -> Iterator[Seq2SeqBatch]:
    """An endless, seeded stream of fresh batches (the model never sees the same batch twice)."""
    rng = np.random.default_rng(seed)
    while True:
        yield generate_seq2seq_batch(task, batch_size, min_len, max_len, num_symbols, rng)


class ToySeq2SeqDataset(Dataset):
    """A fixed set of ``num_examples`` examples of a toy task, generated once from ``seed``.

    ``dataset[i] -> (src, tgt)`` int64 tensors of lengths ``L + 1`` and ``L + 2``; batch with
    :func:`collate_seq2seq` (or :func:`make_seq2seq_loader`).
    """

    def __init__(
        self,
        task: str = "reverse",
        num_examples: int = 1000,
        min_len: int = 1,
        max_len: int = 16,
        num_symbols: int = 10,
        seed: int = 0,
    ) -> None:
        _check(task, min_len, max_len, num_symbols)
        self.task, self.min_len, self.max_len, self.num_symbols = task, min_len, max_len, num_symbols
        rng = np.random.default_rng(seed)
        lengths = rng.integers(min_len, max_len + 1, size=num_examples)
        self.examples = [make_seq2seq_example(task, int(n), num_symbols, rng) for n in lengths]

    @property
    def vocab_size(self) -> int:
        return seq2seq_vocab_size(self.num_symbols)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.examples[index]


def make_seq2seq_loader(
    dataset: Dataset, batch_size: int = 64, shuffle: bool = False, seed: int | None = None
) -> DataLoader:
    """A ``DataLoader`` that yields :class:`Seq2SeqBatch` es (seeded shuffling when ``seed`` is given)."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate_seq2seq, generator=generator
    )


def _align(pred: Tensor, length: int, pad_idx: int) -> Tensor:
    """Cut or pad ``pred (B, L)`` to ``(B, length)`` with ``pad_idx``."""
    if pred.size(1) >= length:
        return pred[:, :length]
    fill = pred.new_full((pred.size(0), length - pred.size(1)), pad_idx)
    return torch.cat([pred, fill], dim=1)


def exact_match(pred: Tensor, tgt_out: Tensor, pad_idx: int = PAD) -> Tensor:
    """Per sequence: ``True`` when every target token up to and including EOS was predicted.

    Args:
        pred: predicted ids ``(B, L)`` (e.g. ``model.greedy_decode(...)``), any length ``L``.
        tgt_out: targets ``(B, T)``, padded with ``pad_idx`` after EOS.

    Returns:
        ``torch.bool`` ``(B,)``. Whatever a model emits after the target's EOS does not matter.
    """
    pred = _align(pred, tgt_out.size(1), pad_idx)  # (B, T)
    return ((pred == tgt_out) | (tgt_out == pad_idx)).all(dim=1)


def token_accuracy(pred: Tensor, tgt_out: Tensor, pad_idx: int = PAD) -> float:
    """Fraction of non-padding target tokens predicted correctly at their position."""
    pred = _align(pred, tgt_out.size(1), pad_idx)
    real = tgt_out != pad_idx
    return float(((pred == tgt_out) & real).sum() / real.sum().clamp(min=1))


def tokens_to_labels(ids: Sequence[int] | Tensor) -> list[str]:
    """Readable labels for plots: ``<pad>``, ``<s>``, ``</s>`` and symbol numbers ``0 .. num_symbols-1``."""
    names = {PAD: "<pad>", BOS: "<s>", EOS: "</s>"}
    return [names.get(int(i), str(int(i) - NUM_SPECIAL)) for i in ids]
