"""Positional information for Transformers: fixed sinusoidal encodings and learned embeddings.

Both modules take token embeddings ``x`` of shape ``(B, T, d_model)`` and return ``x`` plus a
position-dependent vector, same shape, so that they can replace each other.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["SinusoidalPositionalEncoding", "LearnedPositionalEmbedding"]


class SinusoidalPositionalEncoding(nn.Module):
    """The fixed encoding of "Attention Is All You Need" (Vaswani et al., 2017), section 3.5.

    Args:
        d_model: embedding width; must be even and positive.
        max_len: the longest sequence the module accepts.
        dropout: dropout probability applied after adding the encoding.

    Attributes:
        pe: a **buffer** (not a parameter: it is not trained, but it moves with ``.to()`` and is
            saved in the ``state_dict``) of shape ``(max_len, d_model)``.
        dropout: an ``nn.Dropout(dropout)``.
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0) -> None:
        """Build the table ``pe`` once.

        For position ``p`` and ``i = 0 .. d_model/2 - 1``::

            pe[p, 2i]     = sin(p / 10000^(2i / d_model))
            pe[p, 2i + 1] = cos(p / 10000^(2i / d_model))

        (sine on even columns, cosine on odd columns, interleaved, not concatenated).

        Raises:
            ValueError: when ``d_model`` is odd or not positive.

        Hint: build ``positions`` ``(max_len, 1)`` and
        ``inv_freq = 10000 ** (-arange(0, d_model, 2) / d_model)`` ``(d_model/2,)``; their product is
        ``(max_len, d_model/2)``; fill ``pe[:, 0::2]`` and ``pe[:, 1::2]``.
        Compute in ``float64`` and cast to the default dtype at the end (``p`` up to 5000 loses digits in
        ``float32``). Store it with ``self.register_buffer("pe", table)``.
        """
        super().__init__()
        self.d_model = d_model
        self.max_len = max_len
        self.dropout = nn.Dropout(dropout)
        if d_model <= 0 or d_model % 2 != 0:
            raise ValueError(f"d_model must be even and positive, but got d_model={d_model}")
        positions = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
        two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (d_model/2,): 0, 2, 4, ...
        inv_freq = torch.exp(-math.log(10000.0) * two_i / d_model)  # (d_model/2,) = 10000^(-2i/d_model)
        angles = positions * inv_freq  # (max_len, d_model/2)
        table = torch.zeros(max_len, d_model, dtype=torch.float64)  # (max_len, d_model)
        table[:, 0::2] = torch.sin(angles)  # even columns
        table[:, 1::2] = torch.cos(angles)  # odd columns
        self.register_buffer("pe", table.to(torch.get_default_dtype()))  # (max_len, d_model)

    def forward(self, x: Tensor) -> Tensor:
        """Add the encoding of positions ``0 .. T-1`` to ``x``.

        Args:
            x: ``(B, T, d_model)``.

        Returns:
            ``self.dropout(x + pe[:T])``, shape ``(B, T, d_model)``.

        Raises:
            ValueError: when ``T > max_len``.
        """
        T = x.size(1)
        if T > self.pe.size(0):
            raise ValueError(f"sequence length {T} exceeds max_len={self.pe.size(0)}")
        return self.dropout(x + self.pe[:T])  # (B, T, d_model) + (T, d_model) broadcasts over B

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}"


class LearnedPositionalEmbedding(nn.Module):
    """A trained vector per position (as in BERT, GPT-2 and the Vision Transformer).

    Args:
        max_len: number of positions.
        d_model: embedding width.

    ``forward(x (B, T, d_model)) -> x + weight[:T]``. Initialised with a truncated normal (std 0.02).
    """

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.max_len = max_len
        self.d_model = d_model
        self.weight = nn.Parameter(torch.empty(max_len, d_model))  # (max_len, d_model)
        nn.init.trunc_normal_(self.weight, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        T = x.size(1)
        if T > self.max_len:
            raise ValueError(f"sequence length {T} exceeds max_len={self.max_len}")
        return x + self.weight[:T]  # (B, T, d_model)

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, d_model={self.d_model}"
