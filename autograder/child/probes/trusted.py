"""Trusted parts: the grader's own implementations of graded Exercise 1 parts, swapped in for the
student's while *another* area is graded, so that one mistake is charged in one area only.

A test of the encoder layer builds the student's ``TransformerEncoderLayer`` around this module's
``MultiHeadAttention``; a test of ``MultiHeadAttention`` runs it on this module's attention; the ViT
training test runs the student's ``PatchEmbedding`` inside the given ``VisionTransformer`` with these
encoder layers. The classes build their submodules in the same order as the release's, so a model made
of them starts from the same random weights as one made of the solution.

They are written from the documented contracts (``torch.nn.MultiheadAttention`` semantics, boolean
masks ``True`` = blocked) with plain tensor operations, never a library's attention, so the from-scratch
trace of the student's own code sees nothing forbidden. Student code never imports this module: a
graded module that names ``autograder`` is reported by the static scan.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def sdpa(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, dropout_p: float = 0.0,
         training: bool = False) -> tuple[Tensor, Tensor]:
    """``softmax(q k^T / sqrt(d_k) + mask) v`` and the weights before dropout; ``q (..., T, d)``."""
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.size(-1))  # (..., T, S)
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    weights = torch.softmax(scores, dim=-1)  # (..., T, S)
    return torch.matmul(F.dropout(weights, p=dropout_p, training=training), v), weights


def _combine(masks: list[Tensor], dtype: torch.dtype) -> Tensor | None:
    """One mask from several: boolean masks block what either blocks; otherwise everything becomes additive."""
    if not masks:
        return None
    if all(m.dtype == torch.bool for m in masks):
        out = masks[0]
        for m in masks[1:]:
            out = out | m
        return out
    total = None
    for m in masks:
        add = torch.zeros(m.shape, dtype=dtype, device=m.device).masked_fill(m, float("-inf")) \
            if m.dtype == torch.bool else m
        total = add if total is None else total + add
    return total


class MultiHeadAttention(nn.Module):
    """``nn.MultiheadAttention(batch_first=True)`` semantics with lab3's attribute names."""

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        if num_heads <= 0 or d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.embed_dim, self.num_heads, self.head_dim = d_model, num_heads, d_model // num_heads
        self.dropout = float(dropout)
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None = None,
                attn_mask: Tensor | None = None, need_weights: bool = True,
                average_attn_weights: bool = True) -> tuple[Tensor, Tensor | None]:
        B, T, E = query.shape
        S, H, d = key.size(1), self.num_heads, self.head_dim

        def heads(x: Tensor, n: int) -> Tensor:
            return x.reshape(B, n, H, d).permute(0, 2, 1, 3)  # (B, n, E) -> (B, H, n, d)

        q, k, v = heads(self.q_proj(query), T), heads(self.k_proj(key), S), heads(self.v_proj(value), S)
        masks = []
        if attn_mask is not None:
            masks.append(attn_mask.reshape(B, H, T, S) if attn_mask.dim() == 3 else attn_mask)
        if key_padding_mask is not None:
            masks.append(key_padding_mask.reshape(B, 1, 1, S))
        out, weights = sdpa(q, k, v, _combine(masks, q.dtype), self.dropout, self.training)
        out = self.out_proj(out.permute(0, 2, 1, 3).reshape(B, T, E))  # (B, T, E)
        if not need_weights:
            return out, None
        return out, weights.mean(dim=1) if average_attn_weights else weights


def _activation(activation: Any):
    if callable(activation):
        return activation
    return {"relu": F.relu, "gelu": F.gelu}[activation]


class TransformerEncoderLayer(nn.Module):
    """``nn.TransformerEncoderLayer(batch_first=True)`` semantics with lab3's attribute names."""

    def __init__(self, d_model: int, num_heads: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: Any = "relu", norm_first: bool = False) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm_first = norm_first
        self.norm1 = nn.LayerNorm(d_model, eps=1e-5)
        self.norm2 = nn.LayerNorm(d_model, eps=1e-5)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.activation = _activation(activation)

    def _sa(self, x: Tensor, mask: Tensor | None, padding: Tensor | None) -> Tensor:
        out, _ = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=padding, need_weights=False)
        return self.dropout1(out)

    def _ff(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, src: Tensor, src_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None) -> Tensor:
        x = src  # (B, T, E)
        if self.norm_first:
            x = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask)
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask))
        return self.norm2(x + self._ff(x))


@contextlib.contextmanager
def swapped(module: Any, **parts: Any) -> Iterator[None]:
    """Within the block, ``module.<name>`` is ``parts[name]`` (the module's global lookups see the trusted
    part); the student's objects are put back afterwards, so the next probe call sees the student's code."""
    saved = {name: getattr(module, name) for name in parts if hasattr(module, name)}
    try:
        for name, part in parts.items():
            setattr(module, name, part)
        yield
    finally:
        for name in parts:
            if name in saved:
                setattr(module, name, saved[name])
            else:
                with contextlib.suppress(AttributeError):
                    delattr(module, name)
