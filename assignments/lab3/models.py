"""Reference models of the lab: a small CNN (with norm/dropout variants) and a ResNet-style CNN.

The LSTM encoder-decoder baseline for Exercise 1 lives in its own section below.
"""

from __future__ import annotations

import torch
from torch import nn


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel dimension of a (B, C, H, W) tensor."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # (B, C, H, W)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return ChannelLayerNorm(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'batch', 'layer' or 'none', got {kind!r}")


def conv_block(c_in: int, c_out: int, norm: str = "batch", pool: bool = False) -> nn.Sequential:
    """3x3 conv -> norm -> ReLU (-> 2x2 max-pool)."""
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=norm == "none"), _norm(norm, c_out), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """Four conv blocks and a linear head for 32x32 images (about 0.3 M parameters at width 32).

    ``norm`` picks batch norm, layer norm (over channels) or none; ``dropout`` is applied before the head.
    """

    def __init__(self, num_classes: int = 10, width: int = 32, dropout: float = 0.0, norm: str = "batch",
                 in_channels: int = 3) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            conv_block(in_channels, w, norm),             # (B, w, 32, 32)
            conv_block(w, 2 * w, norm, pool=True),        # (B, 2w, 16, 16)
            conv_block(2 * w, 4 * w, norm, pool=True),    # (B, 4w, 8, 8)
            conv_block(4 * w, 8 * w, norm, pool=True),    # (B, 8w, 4, 4)
            nn.AdaptiveMaxPool2d(1),                      # (B, 8w, 1, 1)
            nn.Flatten(),                                 # (B, 8w)
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(8 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x)))  # (B, num_classes)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection (ResNet's basic block)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNetCNN(nn.Module):
    """A small ResNet for 32x32 images: stem + three stages of basic blocks + linear head."""

    def __init__(self, num_classes: int = 10, width: int = 32, blocks: tuple[int, int, int] = (1, 1, 1)) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        stages, c = [], width
        for i, n in enumerate(blocks):
            c_out = width * 2**i
            for j in range(n):
                stages.append(BasicBlock(c, c_out, stride=2 if (i > 0 and j == 0) else 1))
                c = c_out
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))        # (B, C, h, w)
        return self.fc(self.pool(x).flatten(1))  # (B, num_classes)


# =====================================================================================================
# Exercise 1: LSTM encoder–decoder baseline (owner: Exercise 1)
#
# Same interface as ``lab3.transformer.Seq2SeqTransformer``: ``forward(src, tgt_in) -> logits`` and
# ``greedy_decode(src, max_new_tokens, bos_idx, eos_idx)``. Deliberately *without* attention
# (Sutskever et al., 2014): the whole source must pass through one fixed-size state, which is what
# makes long sequences hard for it.
# =====================================================================================================


class LSTMSeq2Seq(nn.Module):
    """An LSTM encoder–decoder: the encoder's final ``(h, c)`` initialises the decoder.

    Args:
        src_vocab_size, tgt_vocab_size: vocabulary sizes (special tokens included).
        embed_dim: token embedding width.
        hidden_size: LSTM state width.
        num_layers: stacked LSTM layers (encoder and decoder alike).
        dropout: dropout between stacked layers and on the embeddings.
        pad_idx: padding token id (ignored by the encoder through packing).
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        embed_dim: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.0,
        pad_idx: int = 0,
    ) -> None:
        super().__init__()
        self.pad_idx = pad_idx
        self.src_embed = nn.Embedding(src_vocab_size, embed_dim, padding_idx=pad_idx)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, embed_dim, padding_idx=pad_idx)
        self.embed_dropout = nn.Dropout(dropout)
        inner = dropout if num_layers > 1 else 0.0
        self.encoder = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True, dropout=inner)
        self.decoder = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True, dropout=inner)
        self.generator = nn.Linear(hidden_size, tgt_vocab_size)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``src (B, S)`` -> final state ``(h, c)``, each ``(num_layers, B, hidden)``, at each real end."""
        lengths = (src != self.pad_idx).sum(dim=1).clamp(min=1).cpu()  # (B,)
        emb = self.embed_dropout(self.src_embed(src))  # (B, S, embed_dim)
        packed = nn.utils.rnn.pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
        _, state = self.encoder(packed)
        return state

    def decode(
        self, tgt_in: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``tgt_in (B, T)`` from ``state`` -> logits ``(B, T, V)`` and the new state."""
        out, state = self.decoder(self.embed_dropout(self.tgt_embed(tgt_in)), state)  # (B, T, hidden)
        return self.generator(out), state

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: ``src (B, S)``, ``tgt_in (B, T)`` -> logits ``(B, T, tgt_vocab_size)``."""
        logits, _ = self.decode(tgt_in, self.encode(src))
        return logits

    @torch.no_grad()
    def greedy_decode(
        self, src: torch.Tensor, max_new_tokens: int, bos_idx: int, eos_idx: int
    ) -> torch.Tensor:
        """Like ``Seq2SeqTransformer.greedy_decode``: ``(B, L)`` ids without BOS, padded after EOS."""
        was_training = self.training
        self.eval()
        try:
            state = self.encode(src)
            B = src.size(0)
            tok = torch.full((B, 1), bos_idx, dtype=torch.long, device=src.device)  # (B, 1)
            done = torch.zeros(B, dtype=torch.bool, device=src.device)
            outputs = []
            for _ in range(max_new_tokens):
                logits, state = self.decode(tok, state)  # one step: (B, 1, V)
                nxt = logits[:, -1].argmax(dim=-1).masked_fill(done, self.pad_idx)  # (B,)
                outputs.append(nxt)
                done |= nxt == eos_idx
                tok = nxt[:, None]
                if bool(done.all()):
                    break
            return torch.stack(outputs, dim=1)
        finally:
            self.train(was_training)
