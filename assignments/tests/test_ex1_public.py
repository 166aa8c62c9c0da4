"""Public checks for Exercise 1 (Transformers and attention).

These catch crashes and shape slips. They are deliberately light: the hidden tests compare your code
with ``nn.MultiheadAttention``, ``nn.TransformerEncoderLayer`` and the closed forms, number by number.
Run them with ``lab3 check`` or ``pytest tests/test_ex1_public.py -q``.
"""

from __future__ import annotations

import pytest
import torch
from lab3.attention import MultiHeadAttention, causal_mask, scaled_dot_product_attention
from lab3.positional import SinusoidalPositionalEncoding
from lab3.transformer import TransformerEncoderLayer
from lab3.vit import PatchEmbedding, VisionTransformer


# ---------------------------------------------------------------------------------------- causal_mask
@pytest.mark.area("causal_mask")
def test_causal_mask_small_example() -> None:
    mask = causal_mask(3)
    assert mask.dtype == torch.bool, f"causal_mask must be a bool tensor, got {mask.dtype}"
    expected = torch.tensor([[False, True, True], [False, False, True], [False, False, False]])
    assert torch.equal(mask, expected), f"causal_mask(3) should be (True = blocked)\n{expected}\ngot\n{mask}"


# ------------------------------------------------------------------------------------------------ sdpa
@pytest.mark.area("sdpa")
def test_sdpa_shapes_and_rows_sum_to_one() -> None:
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 5, 8), torch.randn(2, 7, 8), torch.randn(2, 7, 3)
    out, weights = scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 5, 3), f"out should be (..., T, d_v) = (2, 5, 3), got {tuple(out.shape)}"
    assert weights.shape == (2, 5, 7), (
        f"weights should be (..., T, S) = (2, 5, 7), got {tuple(weights.shape)}"
    )
    sums = weights.sum(dim=-1)
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5), (
        "each row of weights must sum to 1 (softmax over S)"
    )


@pytest.mark.area("sdpa")
def test_sdpa_causal_mask_blocks_the_future() -> None:
    torch.manual_seed(0)
    q = k = v = torch.randn(1, 4, 8)
    _, weights = scaled_dot_product_attention(q, k, v, mask=causal_mask(4))
    above = torch.triu(weights[0], diagonal=1)
    assert torch.all(above == 0), (
        "with causal_mask, weights above the diagonal must be exactly 0 (True = blocked)"
    )
    assert weights[0, 0, 0].item() == pytest.approx(1.0), "the first query can only see the first key"


# ------------------------------------------------------------------------------------------------- MHA
@pytest.mark.area("mha")
def test_mha_shapes() -> None:
    torch.manual_seed(0)
    mha = MultiHeadAttention(d_model=16, num_heads=4)
    query, memory = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    out, weights = mha(query, memory, memory)
    assert out.shape == (2, 5, 16), f"out should be (B, T, E) = (2, 5, 16), got {tuple(out.shape)}"
    assert weights.shape == (2, 5, 7), (
        f"averaged weights should be (B, T, S) = (2, 5, 7), got {tuple(weights.shape)}"
    )
    _, per_head = mha(query, memory, memory, average_attn_weights=False)
    assert per_head.shape == (2, 4, 5, 7), (
        f"per-head weights should be (B, H, T, S), got {tuple(per_head.shape)}"
    )
    _, none = mha(query, memory, memory, need_weights=False)
    assert none is None, "need_weights=False must return None as the weights"


@pytest.mark.area("mha")
def test_mha_key_padding_mask_blocks_keys() -> None:
    torch.manual_seed(0)
    mha = MultiHeadAttention(d_model=8, num_heads=2)
    x = torch.randn(1, 4, 8)
    padding = torch.tensor([[False, False, True, True]])  # the last two keys are padding
    _, weights = mha(x, x, x, key_padding_mask=padding)
    assert torch.all(weights[..., 2:] == 0), "padded keys (True in key_padding_mask) must get weight 0"


# ---------------------------------------------------------------------------------- positional encoding
@pytest.mark.area("pe")
def test_pe_shape_and_buffer() -> None:
    pe = SinusoidalPositionalEncoding(d_model=16, max_len=50)
    assert pe.pe.shape == (50, 16), f"pe should be (max_len, d_model) = (50, 16), got {tuple(pe.pe.shape)}"
    assert "pe" in dict(pe.named_buffers()), "pe must be registered with register_buffer (not a parameter)"
    assert len(list(pe.parameters())) == 0, "the sinusoidal encoding has no trainable parameters"
    assert torch.allclose(pe.pe[0, 0::2], torch.zeros(8)) and torch.allclose(pe.pe[0, 1::2], torch.ones(8)), (
        "position 0 should be sin(0) = 0 on even columns and cos(0) = 1 on odd columns"
    )
    x = torch.zeros(2, 10, 16)
    assert pe(x).shape == (2, 10, 16)


# ------------------------------------------------------------------------------------- encoder layer
@pytest.mark.area("encoder_layer")
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_shape(norm_first: bool) -> None:
    torch.manual_seed(0)
    layer = TransformerEncoderLayer(d_model=16, num_heads=4, dim_feedforward=32, norm_first=norm_first).eval()
    x = torch.randn(2, 6, 16)
    padding = torch.zeros(2, 6, dtype=torch.bool)
    padding[1, 4:] = True
    out = layer(x, src_mask=causal_mask(6), src_key_padding_mask=padding)
    assert out.shape == (2, 6, 16), f"the encoder layer must keep the shape (B, T, E), got {tuple(out.shape)}"
    assert torch.isfinite(out).all()


# ------------------------------------------------------------------------------------------------- ViT
@pytest.mark.area("patch_embed")
def test_patch_embedding_shape() -> None:
    pe = PatchEmbedding(image_size=32, patch_size=4, in_channels=3, embed_dim=24)
    out = pe(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 64, 24), (
        f"PatchEmbedding should give (B, N, E) = (2, 64, 24), got {tuple(out.shape)}"
    )


@pytest.mark.area("vit")
def test_vit_forward_shape() -> None:
    torch.manual_seed(0)
    vit = VisionTransformer(image_size=32, patch_size=8, num_classes=10, embed_dim=32, depth=1, num_heads=2)
    logits = vit(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10), (
        f"ViT logits should be (B, num_classes) = (2, 10), got {tuple(logits.shape)}"
    )
