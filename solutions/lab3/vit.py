"""A Vision Transformer (Dosovitskiy et al., 2021) small enough to train on CIFAR-10 on a CPU.

An image ``(B, C, H, W)`` is cut into ``N = (H/p) * (W/p)`` non-overlapping ``p x p`` patches, each
projected to ``embed_dim``; a learned class token is prepended, learned positions are added, a stack
of pre-norm ``TransformerEncoderLayer`` mixes the tokens, and the class token's final state is classified.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lab3.positional import LearnedPositionalEmbedding
from lab3.transformer import TransformerEncoderLayer

__all__ = ["PatchEmbedding", "VisionTransformer"]


class PatchEmbedding(nn.Module):
    """Split an image into ``patch_size x patch_size`` patches and embed each one linearly.

    Args:
        image_size: height = width of the input images.
        patch_size: side of a square patch; must divide ``image_size``.
        in_channels: image channels ``C``.
        embed_dim: embedding width ``E``.

    Attributes:
        proj: ``nn.Conv2d(in_channels, embed_dim, patch_size, stride=patch_size)``: a convolution whose
            kernel equals its stride applies the same linear map to every patch.
        num_patches: ``N = (image_size // patch_size) ** 2``.
    """

    def __init__(
        self, image_size: int = 32, patch_size: int = 4, in_channels: int = 3, embed_dim: int = 192
    ) -> None:
        super().__init__()
        if patch_size <= 0 or image_size % patch_size != 0:
            raise ValueError(
                f"patch_size must divide image_size, but got image_size={image_size}, patch_size={patch_size}"
            )
        self.image_size = image_size
        self.patch_size = patch_size
        self.grid_size = image_size // patch_size  # patches per side
        self.num_patches = self.grid_size**2  # N
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        """Embed the patches of ``x``.

        Args:
            x: images ``(B, C, H, W)`` with ``H = W = image_size``.

        Returns:
            ``(B, N, embed_dim)``, patches in row-major order: patch ``n = row * (W // p) + col``
            covers pixels ``[row*p:(row+1)*p, col*p:(col+1)*p]``.

        Must equal cutting the patches with ``F.unfold(x, p, stride=p)`` and multiplying each flattened
        patch by ``proj.weight.view(E, -1).T`` (plus ``proj.bias``).

        Hint: ``self.proj`` gives ``(B, E, H/p, W/p)``; ``flatten(2)`` then ``transpose(1, 2)``.
        """
        x = self.proj(x)  # (B, E, H/p, W/p)
        x = x.flatten(2)  # (B, E, N), N = (H/p) * (W/p) in row-major order
        return x.transpose(1, 2)  # (B, N, E)


class VisionTransformer(nn.Module):
    """ViT classifier: patch embedding, class token, learned positions, pre-norm encoder, linear head.

    Args:
        image_size, patch_size, in_channels: see ``PatchEmbedding``.
        num_classes: outputs of the head.
        embed_dim: token width ``E``.
        depth: number of encoder layers.
        num_heads: attention heads per layer.
        mlp_ratio: feed-forward width = ``mlp_ratio * embed_dim``.
        dropout: dropout in the encoder layers and after adding the positions.
    """

    def __init__(
        self,
        image_size: int = 32,
        patch_size: int = 4,
        in_channels: int = 3,
        num_classes: int = 10,
        embed_dim: int = 192,
        depth: int = 6,
        num_heads: int = 3,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.patch_embed = PatchEmbedding(image_size, patch_size, in_channels, embed_dim)
        num_tokens = self.patch_embed.num_patches + 1  # patches + the class token
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))  # (1, 1, E)
        self.pos_embed = LearnedPositionalEmbedding(num_tokens, embed_dim)
        self.pos_drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            TransformerEncoderLayer(
                embed_dim,
                num_heads,
                dim_feedforward=int(embed_dim * mlp_ratio),
                dropout=dropout,
                activation="gelu",
                norm_first=True,
            )
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """Images ``(B, C, H, W)`` -> final token states ``(B, N + 1, E)`` (token 0 = class token)."""
        tokens = self.patch_embed(x)  # (B, N, E)
        cls = self.cls_token.expand(tokens.size(0), -1, -1)  # (B, 1, E)
        tokens = torch.cat([cls, tokens], dim=1)  # (B, N + 1, E)
        tokens = self.pos_drop(self.pos_embed(tokens))
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def forward(self, x: Tensor) -> Tensor:
        """Images ``(B, C, H, W)`` -> logits ``(B, num_classes)``."""
        return self.head(self.forward_features(x)[:, 0])  # classify the class token
