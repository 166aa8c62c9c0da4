"""Scaled dot-product attention and multi-head attention, written from scratch.

Conventions used throughout the lab:

* tensors are batch-first: ``(B, T, E)``;
* a **boolean mask is ``True`` where attention is blocked** (as in ``torch.nn.MultiheadAttention``).
  Careful: ``torch.nn.functional.scaled_dot_product_attention`` uses the *opposite* convention
  (``True`` = may attend);
* a **float mask is added** to the attention scores (``0`` = keep, ``-inf`` = block).

Shapes: ``B`` batch, ``T`` target (query) length, ``S`` source (key/value) length, ``E`` model width,
``H`` number of heads, ``d_k = E // H`` width of one head.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["causal_mask", "scaled_dot_product_attention", "MultiHeadAttention"]


def causal_mask(size: int, device: torch.device | str | None = None) -> Tensor:
    """The mask that stops position ``t`` from attending to any later position ``s > t``.

    Args:
        size: sequence length ``T``.
        device: where to create the mask (default: the CPU).

    Returns:
        A ``torch.bool`` tensor of shape ``(T, T)`` that is ``True`` strictly above the diagonal
        (blocked) and ``False`` on and below it. For ``size=3``::

            [[False,  True,  True],
             [False, False,  True],
             [False, False, False]]

    Hint: ``torch.triu`` with ``diagonal=1``, or compare ``torch.arange`` row and column indices.
    """
    ones = torch.ones(size, size, dtype=torch.bool, device=device)  # (T, T)
    return torch.triu(ones, diagonal=1)  # (T, T): True where column > row


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, Tensor]:
    """Attention ``softmax(q k^T / sqrt(d_k) + mask) v``, returning the output and the weights.

    Args:
        q: queries, shape ``(..., T, d_k)``.
        k: keys, shape ``(..., S, d_k)``.
        v: values, shape ``(..., S, d_v)``.
        mask: optional, broadcastable to ``(..., T, S)``. Either ``torch.bool`` with **``True`` =
            blocked** (that score becomes ``-inf`` before the softmax), or a float tensor that is
            **added** to the scores. ``F.scaled_dot_product_attention`` takes ``True`` = allowed:
            do not copy its convention.
        dropout_p: dropout probability applied to the attention weights (only when ``training``).
        training: apply dropout or not (pass ``module.training``).

    Returns:
        ``(out, weights)``: ``out`` of shape ``(..., T, d_v)``; ``weights`` of shape ``(..., T, S)``,
        the softmax over the last axis ``S`` (each row sums to 1), **before** dropout.

    Must equal ``torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=~mask)`` for a
    boolean mask (``attn_mask=mask`` for a float mask). Do not call that function here.

    Hint: scale the scores by ``1 / math.sqrt(d_k)`` where ``d_k = q.size(-1)``; ``masked_fill`` with
    ``float("-inf")``; softmax over ``dim=-1``; ``torch.nn.functional.dropout(..., training=training)``.
    """
    d_k = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., T, S)
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(mask, float("-inf"))  # (..., T, S): blocked -> -inf
        else:
            scores = scores + mask  # (..., T, S): additive float mask
    weights = torch.softmax(scores, dim=-1)  # (..., T, S), rows sum to 1
    dropped = F.dropout(weights, p=dropout_p, training=training)  # (..., T, S)
    out = dropped @ v  # (..., T, d_v)
    return out, weights


class MultiHeadAttention(nn.Module):
    """Multi-head attention with the interface and the numbers of ``nn.MultiheadAttention(batch_first=True)``.

    Args:
        d_model: model width ``E`` (``embed_dim`` in torch).
        num_heads: number of heads ``H``; must divide ``d_model``.
        dropout: dropout probability on the attention weights (training only).
        bias: whether the four projections have a bias.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        if num_heads <= 0 or d_model % num_heads != 0:
            raise ValueError(
                f"d_model must be divisible by num_heads, but got d_model={d_model} and num_heads={num_heads}"
            )
        self.embed_dim = d_model  # E
        self.num_heads = num_heads  # H
        self.head_dim = d_model // num_heads  # d_k = E / H
        self.dropout = float(dropout)  # probability, as in torch
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    @torch.no_grad()
    def load_torch_weights(self, mha: nn.MultiheadAttention) -> MultiHeadAttention:
        """Copy the weights of a ``torch.nn.MultiheadAttention`` (same ``E``, ``H``, ``bias``) into this one.

        torch packs the three input projections into one ``in_proj_weight`` of shape ``(3E, E)``
        (rows: query, key, value) and ``in_proj_bias`` of shape ``(3E,)``. Returns ``self``.
        """
        if mha.embed_dim != self.embed_dim or mha.num_heads != self.num_heads:
            raise ValueError(
                f"expected nn.MultiheadAttention with embed_dim={self.embed_dim}, "
                f"num_heads={self.num_heads}, "
                f"but found embed_dim={mha.embed_dim}, num_heads={mha.num_heads}"
            )
        if mha.in_proj_weight is None:
            raise ValueError("nn.MultiheadAttention with kdim/vdim != embed_dim is not supported")
        if mha.bias_k is not None or mha.add_zero_attn:
            raise ValueError("nn.MultiheadAttention with add_bias_kv or add_zero_attn is not supported")
        E = self.embed_dim
        has_bias = mha.in_proj_bias is not None
        if has_bias != (self.q_proj.bias is not None):
            raise ValueError(
                f"bias mismatch: this module has bias={self.q_proj.bias is not None}, torch's {has_bias}"
            )
        for i, proj in enumerate((self.q_proj, self.k_proj, self.v_proj)):
            proj.weight.copy_(mha.in_proj_weight[i * E : (i + 1) * E])
            if has_bias:
                proj.bias.copy_(mha.in_proj_bias[i * E : (i + 1) * E])
        self.out_proj.weight.copy_(mha.out_proj.weight)
        if has_bias:
            self.out_proj.bias.copy_(mha.out_proj.bias)
        return self

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        attn_mask: Tensor | None = None,
        need_weights: bool = True,
        average_attn_weights: bool = True,
    ) -> tuple[Tensor, Tensor | None]:
        """Project, split into heads, attend, merge the heads, project out.

        Args:
            query: ``(B, T, E)``.
            key: ``(B, S, E)``.
            value: ``(B, S, E)``.
            key_padding_mask: optional ``(B, S)``; ``torch.bool`` with ``True`` = this key is padding
                (blocked for every query), or float, added to the scores.
            attn_mask: optional ``(T, S)`` (same for every batch element and head) or
                ``(B * H, T, S)`` (one per batch element and head, batch-major: index ``b * H + h``);
                ``torch.bool`` with ``True`` = blocked, or float, added to the scores.
                When both masks are given, they block what either blocks (float masks add up).
            need_weights: when ``False`` return ``None`` instead of the weights.
            average_attn_weights: weights averaged over the heads ``(B, T, S)`` if ``True``,
                else per head ``(B, H, T, S)``.

        Returns:
            ``(out, weights)``: ``out`` of shape ``(B, T, E)``; ``weights`` as above (softmax before
            dropout), or ``None``.

        Must equal ``nn.MultiheadAttention(E, H, batch_first=True)`` with the same weights (see
        ``load_torch_weights``) in eval mode: outputs and weights, every mask kind.
        Do not call ``nn.MultiheadAttention``, ``F.multi_head_attention_forward`` or
        ``F.scaled_dot_product_attention``: use your ``scaled_dot_product_attention``.

        Hint: after each projection, split ``(B, T, E) -> (B, T, H, d_k) -> (B, H, T, d_k)`` with
        ``view`` and ``transpose(1, 2)``; reshape the masks so that they broadcast against the scores
        ``(B, H, T, S)``: ``(T, S)`` as is, ``(B*H, T, S) -> (B, H, T, S)``, ``(B, S) -> (B, 1, 1, S)``;
        merge the heads back with ``transpose(1, 2)`` then ``reshape(B, T, E)``.
        """
        B, T, E = query.shape
        S = key.size(1)
        H, d_k = self.num_heads, self.head_dim

        # Project, then split the last axis into H heads of width d_k.
        q = self.q_proj(query).view(B, T, H, d_k).transpose(1, 2)  # (B, H, T, d_k)
        k = self.k_proj(key).view(B, S, H, d_k).transpose(1, 2)  # (B, H, S, d_k)
        v = self.v_proj(value).view(B, S, H, d_k).transpose(1, 2)  # (B, H, S, d_k)

        # Bring both masks to shapes that broadcast against the scores (B, H, T, S).
        masks = []
        if attn_mask is not None:
            if attn_mask.dim() == 3:
                attn_mask = attn_mask.reshape(B, H, T, S)  # (B*H, T, S) -> (B, H, T, S)
            masks.append(attn_mask)  # (T, S) or (B, H, T, S)
        if key_padding_mask is not None:
            masks.append(key_padding_mask.reshape(B, 1, 1, S))  # (B, 1, 1, S): the same for every query
        mask = None
        if len(masks) == 1:
            mask = masks[0]
        elif len(masks) == 2:
            if masks[0].dtype == torch.bool and masks[1].dtype == torch.bool:
                mask = masks[0] | masks[1]  # blocked if either blocks
            else:
                # Mixed kinds: turn boolean masks into additive ones (True -> -inf), then add.
                as_float = [
                    torch.zeros(m.shape, dtype=q.dtype, device=q.device).masked_fill(m, float("-inf"))
                    if m.dtype == torch.bool
                    else m
                    for m in masks
                ]
                mask = as_float[0] + as_float[1]

        out, weights = scaled_dot_product_attention(
            q, k, v, mask=mask, dropout_p=self.dropout, training=self.training
        )  # out (B, H, T, d_k), weights (B, H, T, S)

        out = out.transpose(1, 2).reshape(B, T, E)  # (B, T, H, d_k) -> (B, T, E)
        out = self.out_proj(out)  # (B, T, E)

        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(dim=1)  # (B, T, S)
        return out, weights
