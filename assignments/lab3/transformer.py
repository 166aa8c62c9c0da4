"""Transformer layers and an encoder–decoder for sequence-to-sequence tasks, built on ``lab3.attention``.

``TransformerEncoderLayer`` and ``TransformerDecoderLayer`` use torch's attribute names, so that the
weights of ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer`` load with
``load_state_dict`` after ``convert_torch_state_dict`` (torch packs q/k/v into one ``in_proj``).
Boolean masks are ``True`` where attention is blocked.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from lab3.attention import MultiHeadAttention, causal_mask
from lab3.positional import SinusoidalPositionalEncoding

__all__ = [
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
    "Seq2SeqTransformer",
    "convert_torch_state_dict",
]


def _get_activation(activation: str | Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    if callable(activation):
        return activation
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise ValueError(f"activation should be 'relu', 'gelu' or a callable, not {activation!r}")


def convert_torch_state_dict(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rewrite a state dict of torch's Transformer layers for the lab3 ones.

    Every ``<prefix>in_proj_weight`` ``(3E, E)`` / ``in_proj_bias`` ``(3E,)`` is split into
    ``<prefix>q_proj.weight``, ``k_proj.weight``, ``v_proj.weight`` (and biases); everything else is kept.
    """
    out: dict[str, Tensor] = {}
    for name, tensor in state_dict.items():
        if name.endswith("in_proj_weight") or name.endswith("in_proj_bias"):
            prefix, kind = name.rsplit("in_proj_", 1)
            for part, chunk in zip(("q_proj", "k_proj", "v_proj"), tensor.chunk(3, dim=0), strict=True):
                out[f"{prefix}{part}.{kind}"] = chunk.clone()
        else:
            out[name] = tensor
    return out


class TransformerEncoderLayer(nn.Module):
    """Self-attention + feed-forward block, equal to ``nn.TransformerEncoderLayer(batch_first=True)``.

    Args:
        d_model: model width ``E``.
        num_heads: attention heads ``H``.
        dim_feedforward: hidden width of the feed-forward network.
        dropout: dropout probability (attention weights, feed-forward hidden layer, both residual branches).
        activation: ``"relu"``, ``"gelu"`` or a callable.
        norm_first: pre-norm (``True``) or post-norm (``False``, the original Transformer).
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = "relu",
        norm_first: bool = False,
    ) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)  # inside the feed-forward network, after the activation
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm_first = norm_first
        self.norm1 = nn.LayerNorm(d_model, eps=1e-5)
        self.norm2 = nn.LayerNorm(d_model, eps=1e-5)
        self.dropout1 = nn.Dropout(dropout)  # on the self-attention branch
        self.dropout2 = nn.Dropout(dropout)  # on the feed-forward branch
        self.activation = _get_activation(activation)

    def forward(
        self,
        src: Tensor,
        src_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        """One encoder layer.

        Args:
            src: ``(B, T, E)``.
            src_mask: optional ``(T, T)`` or ``(B*H, T, T)``, bool (``True`` = blocked) or float (added).
            src_key_padding_mask: optional ``(B, T)``, ``True`` where ``src`` is padding.

        Returns:
            ``(B, T, E)``.

        With ``sa(x) = dropout1(self_attn(x, x, x, masks)[0])`` and
        ``ff(x) = dropout2(linear2(dropout(activation(linear1(x)))))``:

        * post-norm (``norm_first=False``): ``x = norm1(x + sa(x))``, then ``x = norm2(x + ff(x))``;
        * pre-norm (``norm_first=True``): ``x = x + sa(norm1(x))``, then ``x = x + ff(norm2(x))``.

        Must equal ``nn.TransformerEncoderLayer(E, H, dim_feedforward, dropout, activation,
        batch_first=True, norm_first=norm_first)`` with the same weights, in eval mode.

        Hint: call ``self.self_attn`` with ``need_weights=False`` (the weights are not used here), and
        pass the masks by keyword (``attn_mask=``, ``key_padding_mask=``).
        """
        # TODO: implement TransformerEncoderLayer.forward as its docstring describes.
        raise NotImplementedError("TransformerEncoderLayer.forward (lab3/transformer.py) is not implemented yet: see its docstring")


class TransformerDecoderLayer(nn.Module):
    """Masked self-attention + cross-attention over the encoder output + feed-forward.

    Equal to ``nn.TransformerDecoderLayer(batch_first=True)`` with the same weights in eval mode
    (torch's attribute names: ``self_attn``, ``multihead_attn``, ``linear1``, ``linear2``,
    ``norm1..3``, ``dropout``, ``dropout1..3``). Uses ``lab3.attention.MultiHeadAttention``.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = "relu",
        norm_first: bool = False,
    ) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.multihead_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm_first = norm_first
        self.norm1 = nn.LayerNorm(d_model, eps=1e-5)
        self.norm2 = nn.LayerNorm(d_model, eps=1e-5)
        self.norm3 = nn.LayerNorm(d_model, eps=1e-5)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.activation = _get_activation(activation)

    def _sa_block(self, x: Tensor, mask: Tensor | None, padding: Tensor | None) -> Tensor:
        out, _ = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=padding, need_weights=False)
        return self.dropout1(out)  # (B, T, E)

    def _mha_block(self, x: Tensor, memory: Tensor, mask: Tensor | None, padding: Tensor | None) -> Tensor:
        out, _ = self.multihead_attn(
            x, memory, memory, attn_mask=mask, key_padding_mask=padding, need_weights=False
        )
        return self.dropout2(out)  # (B, T, E)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))  # (B, T, E)

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        """``tgt (B, T, E)``, ``memory (B, S, E)`` -> ``(B, T, E)``; ``tgt_mask``: ``causal_mask(T)``."""
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask))
            x = self.norm3(x + self._ff_block(x))
        return x


class Seq2SeqTransformer(nn.Module):
    """An encoder–decoder Transformer for token sequences (Vaswani et al., 2017).

    ``src (B, S)`` token ids -> embedding * sqrt(d_model) + sinusoidal positions -> encoder stack ->
    ``memory (B, S, d_model)``; ``tgt_in (B, T)`` (starts with BOS) -> embedding + positions ->
    decoder stack (causal self-attention, cross-attention on ``memory``) -> ``generator`` ->
    logits ``(B, T, tgt_vocab_size)``. Padding (``pad_idx``) is masked out automatically.

    Args:
        src_vocab_size, tgt_vocab_size: vocabulary sizes (special tokens included).
        d_model, num_heads, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout:
            the usual Transformer sizes.
        max_len: the longest sequence (for the positional encoding).
        pad_idx: the padding token id.
        norm_first: pre-norm layers (trains more easily without warm-up) plus a final LayerNorm
            on each stack.
        activation: feed-forward activation.
        gradient_checkpointing: recompute each layer's activations during backward instead of
            storing them (less memory, ~30 % more compute); only active in training mode.
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        d_model: int = 128,
        num_heads: int = 4,
        num_encoder_layers: int = 2,
        num_decoder_layers: int = 2,
        dim_feedforward: int = 512,
        dropout: float = 0.1,
        max_len: int = 512,
        pad_idx: int = 0,
        norm_first: bool = True,
        activation: str | Callable[[Tensor], Tensor] = "relu",
        gradient_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.d_model = d_model
        self.num_heads = num_heads
        self.pad_idx = pad_idx
        self.gradient_checkpointing = gradient_checkpointing
        self.src_embed = nn.Embedding(src_vocab_size, d_model, padding_idx=pad_idx)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_idx)
        self.pos = SinusoidalPositionalEncoding(d_model, max_len=max_len, dropout=dropout)
        self.encoder_layers = nn.ModuleList(
            TransformerEncoderLayer(d_model, num_heads, dim_feedforward, dropout, activation, norm_first)
            for _ in range(num_encoder_layers)
        )
        self.decoder_layers = nn.ModuleList(
            TransformerDecoderLayer(d_model, num_heads, dim_feedforward, dropout, activation, norm_first)
            for _ in range(num_decoder_layers)
        )
        self.encoder_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.decoder_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.generator = nn.Linear(d_model, tgt_vocab_size)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        for name, p in self.named_parameters():
            if p.dim() > 1 and "embed" not in name:
                nn.init.xavier_uniform_(p)
        for emb in (self.src_embed, self.tgt_embed):
            nn.init.normal_(emb.weight, std=self.d_model**-0.5)
            with torch.no_grad():
                emb.weight[self.pad_idx].zero_()

    def _run(self, layer: nn.Module, *args: Tensor | None) -> Tensor:
        """Call ``layer(*args)``, through activation checkpointing when it is switched on and useful."""
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(layer, *args, use_reentrant=False)
        return layer(*args)

    def encode(self, src: Tensor, src_key_padding_mask: Tensor | None = None) -> Tensor:
        """``src (B, S)`` token ids -> ``memory (B, S, d_model)``."""
        if src_key_padding_mask is None:
            src_key_padding_mask = src == self.pad_idx  # (B, S), True = padding
        x = self.pos(self.src_embed(src) * math.sqrt(self.d_model))  # (B, S, d_model)
        for layer in self.encoder_layers:
            x = self._run(layer, x, None, src_key_padding_mask)
        return self.encoder_norm(x)

    def decode(
        self,
        tgt_in: Tensor,
        memory: Tensor,
        memory_key_padding_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        """``tgt_in (B, T)`` token ids, ``memory (B, S, d_model)`` -> hidden states ``(B, T, d_model)``."""
        T = tgt_in.size(1)
        tgt_mask = causal_mask(T, device=tgt_in.device)  # (T, T), True above the diagonal
        y = self.pos(self.tgt_embed(tgt_in) * math.sqrt(self.d_model))  # (B, T, d_model)
        for layer in self.decoder_layers:
            y = self._run(layer, y, memory, tgt_mask, None, tgt_key_padding_mask, memory_key_padding_mask)
        return self.decoder_norm(y)

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: ``src (B, S)``, ``tgt_in (B, T)`` -> logits ``(B, T, tgt_vocab_size)``."""
        src_padding = src == self.pad_idx  # (B, S)
        memory = self.encode(src, src_padding)
        # The target padding mask is not needed: causal attention never lets a real token see the
        # padding that follows it, and the loss ignores padded positions.
        hidden = self.decode(tgt_in, memory, memory_key_padding_mask=src_padding)
        return self.generator(hidden)  # (B, T, V)

    @torch.no_grad()
    def greedy_decode(self, src: Tensor, max_new_tokens: int, bos_idx: int, eos_idx: int) -> Tensor:
        """Generate up to ``max_new_tokens`` tokens per sequence, one at a time, taking the argmax.

        Returns ``(B, L)`` token ids without the BOS token, ``L <= max_new_tokens``; after a sequence
        emits ``eos_idx`` it is padded with ``pad_idx``. Generation stops early when all are done.
        """
        was_training = self.training
        self.eval()
        try:
            src_padding = src == self.pad_idx
            memory = self.encode(src, src_padding)  # encode once: (B, S, d_model)
            B = src.size(0)
            ys = torch.full((B, 1), bos_idx, dtype=torch.long, device=src.device)  # (B, 1)
            done = torch.zeros(B, dtype=torch.bool, device=src.device)
            for _ in range(max_new_tokens):
                hidden = self.decode(ys, memory, memory_key_padding_mask=src_padding)  # (B, t, d_model)
                next_tok = self.generator(hidden[:, -1]).argmax(dim=-1)  # (B,)
                next_tok = next_tok.masked_fill(done, self.pad_idx)
                ys = torch.cat([ys, next_tok[:, None]], dim=1)  # (B, t + 1)
                done |= next_tok == eos_idx
                if bool(done.all()):
                    break
            return ys[:, 1:]
        finally:
            self.train(was_training)
