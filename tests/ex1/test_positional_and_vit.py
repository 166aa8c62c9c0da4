"""lab3.positional against the closed form; lab3.vit PatchEmbedding against an unfold reference."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from ex1_helpers import TOL, assert_rel_close
from lab3.positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding
from lab3.vit import PatchEmbedding, VisionTransformer


def _closed_form(max_len: int, d_model: int) -> torch.Tensor:
    pe = torch.empty(max_len, d_model, dtype=torch.float64)
    for p in range(max_len):
        for i in range(d_model // 2):
            angle = p / 10000 ** (2 * i / d_model)
            pe[p, 2 * i] = math.sin(angle)
            pe[p, 2 * i + 1] = math.cos(angle)
    return pe


@pytest.mark.parametrize("d_model,max_len", [(2, 7), (16, 50), (64, 5000)])
def test_pe_matches_closed_form(d_model: int, max_len: int) -> None:
    pe = SinusoidalPositionalEncoding(d_model, max_len=max_len).pe
    assert pe.shape == (max_len, d_model) and pe.dtype == torch.get_default_dtype()
    rows = torch.arange(max_len) if max_len <= 50 else torch.tensor([0, 1, 2, 17, 999, 2500, 4999])
    ref = _closed_form(max_len, d_model) if max_len <= 50 else _closed_form(max_len, d_model)[rows]
    # float32 storage: half an ulp of a value <= 1 is 6e-8
    torch.testing.assert_close(pe[rows].double(), ref, rtol=0, atol=1e-7)


def test_pe_is_a_buffer_follows_to_and_adds() -> None:
    mod = SinusoidalPositionalEncoding(8, max_len=20)
    assert "pe" in dict(mod.named_buffers()) and "pe" not in dict(mod.named_parameters())
    assert "pe" in mod.state_dict() and len(list(mod.parameters())) == 0
    assert isinstance(mod.dropout, torch.nn.Dropout)
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    mod64 = mod.to(torch.float64)
    assert mod64.pe.dtype == torch.float64
    assert_rel_close(mod64(x), x + _closed_form(5, 8), TOL[torch.float32], "x + pe[:T]")
    with pytest.raises(ValueError):
        mod64(torch.randn(1, 21, 8, dtype=torch.float64))


@pytest.mark.parametrize("d_model", [7, 0, -2])
def test_pe_rejects_bad_d_model(d_model: int) -> None:
    with pytest.raises(ValueError):
        SinusoidalPositionalEncoding(d_model)


def test_pe_dropout_in_training_only() -> None:
    mod = SinusoidalPositionalEncoding(8, max_len=10, dropout=0.5)
    x = torch.zeros(4, 10, 8)
    mod.eval()
    torch.testing.assert_close(mod(x), mod.pe.expand(4, -1, -1))
    mod.train()
    assert (mod(x) == 0).any()


def test_learned_positional_embedding() -> None:
    mod = LearnedPositionalEmbedding(10, 6)
    assert mod.weight.shape == (10, 6) and mod.weight.requires_grad
    x = torch.randn(2, 4, 6)
    torch.testing.assert_close(mod(x), x + mod.weight[:4])
    with pytest.raises(ValueError):
        mod(torch.randn(1, 11, 6))


def _unfold_reference(x: torch.Tensor, conv: torch.nn.Conv2d, p: int) -> torch.Tensor:
    cols = F.unfold(x, kernel_size=p, stride=p)  # (B, C*p*p, N), patches in row-major order
    w = conv.weight.reshape(conv.out_channels, -1)  # (E, C*p*p)
    return cols.transpose(1, 2) @ w.T + conv.bias  # (B, N, E)


@pytest.mark.parametrize("image_size,patch,channels", [(32, 4, 3), (8, 2, 1), (12, 6, 2), (16, 16, 3)])
def test_patch_embedding_matches_unfold(dtype, image_size, patch, channels) -> None:
    torch.manual_seed(0)
    pe = PatchEmbedding(image_size, patch, channels, embed_dim=10).to(dtype)
    x = torch.randn(2, channels, image_size, image_size, dtype=dtype)
    out = pe(x)
    n = (image_size // patch) ** 2
    assert out.shape == (2, n, 10) and pe.num_patches == n
    assert_rel_close(out, _unfold_reference(x, pe.proj, patch), TOL[dtype], "patch embedding")


def test_patch_embedding_row_major_order() -> None:
    pe = PatchEmbedding(4, 2, 1, embed_dim=1)
    with torch.no_grad():
        pe.proj.weight.fill_(1.0)
        pe.proj.bias.zero_()
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 0:2, 2:4] = 1.0  # top-right patch -> index 1 in row-major order
    assert pe(x).flatten().tolist() == [0.0, 4.0, 0.0, 0.0]


def test_patch_embedding_rejects_bad_patch() -> None:
    with pytest.raises(ValueError):
        PatchEmbedding(32, 5)


def test_vit_shapes_and_backward() -> None:
    torch.manual_seed(0)
    vit = VisionTransformer(image_size=16, patch_size=4, num_classes=7, embed_dim=24, depth=2, num_heads=3)
    x = torch.randn(2, 3, 16, 16)
    assert vit.forward_features(x).shape == (2, 17, 24)
    logits = vit(x)
    assert logits.shape == (2, 7)
    logits.sum().backward()
    assert vit.cls_token.grad is not None and vit.patch_embed.proj.weight.grad is not None
