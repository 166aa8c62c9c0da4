"""lab3.transformer (solution) against torch's Transformer layers; Seq2Seq with and without checkpointing."""

from __future__ import annotations

import pytest
import torch
from ex1_helpers import TOL, assert_rel_close
from lab3.attention import causal_mask
from lab3.transformer import (
    Seq2SeqTransformer,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
    convert_torch_state_dict,
)
from torch import nn

B, T, S, E, H, FF = 3, 6, 4, 16, 4, 24


def _padding(batch: int, length: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    m = torch.rand(batch, length, generator=gen) < 0.3
    m[:, 0] = False  # never a fully padded row
    return m


def _randomize_norms(module: nn.Module) -> None:
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.normal_(1.0, 0.2)
                m.bias.normal_(0.0, 0.2)


def _encoder_pair(dtype, norm_first, activation, seed=0):
    torch.manual_seed(seed)
    ref = nn.TransformerEncoderLayer(
        E, H, FF, dropout=0.1, activation=activation, batch_first=True, norm_first=norm_first
    ).to(dtype)
    _randomize_norms(ref)
    ref.eval()
    mine = TransformerEncoderLayer(E, H, FF, dropout=0.1, activation=activation, norm_first=norm_first).to(
        dtype
    )
    mine.load_state_dict(convert_torch_state_dict(ref.state_dict()))
    mine.eval()
    return mine, ref


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("masks", ["none", "padding", "causal+padding", "float"])
def test_encoder_layer_matches_torch(dtype, norm_first, activation, masks) -> None:
    mine, ref = _encoder_pair(dtype, norm_first, activation)
    x = torch.randn(B, T, E, dtype=dtype, generator=torch.Generator().manual_seed(1), requires_grad=True)
    kw = {}
    if masks == "padding":
        kw["src_key_padding_mask"] = _padding(B, T, 2)
    elif masks == "causal+padding":
        kw["src_mask"] = causal_mask(T)
        kw["src_key_padding_mask"] = _padding(B, T, 3)
    elif masks == "float":
        kw["src_mask"] = torch.randn(T, T, dtype=dtype, generator=torch.Generator().manual_seed(4))
    out = mine(x, **kw)
    ref_out = ref(x, **kw)
    tol = TOL[dtype]
    assert_rel_close(out, ref_out, tol, f"encoder layer output (norm_first={norm_first}, {activation})")
    g = torch.randn_like(out)
    (gx,) = torch.autograd.grad(out, x, g)
    (ref_gx,) = torch.autograd.grad(ref_out, x, g)
    assert_rel_close(gx, ref_gx, tol * 10, "encoder layer input gradient")


def test_encoder_layer_matches_torch_fast_path() -> None:
    """Under no_grad in eval mode torch runs a fused kernel; padded rows must agree too."""
    mine, ref = _encoder_pair(torch.float32, False, "relu", seed=1)
    x = torch.randn(B, T, E)
    with torch.no_grad():
        out = mine(x)
        ref_out = ref(x)
    assert_rel_close(out, ref_out, 1e-5, "encoder layer output (torch fast path)")


def test_encoder_layer_attributes_and_training_mode() -> None:
    layer = TransformerEncoderLayer(E, H, FF, dropout=0.5, activation="gelu", norm_first=True)
    assert layer.norm_first is True and callable(layer.activation)
    assert layer.self_attn.dropout == 0.5
    for name in ("linear1", "linear2", "norm1", "norm2", "dropout", "dropout1", "dropout2"):
        assert hasattr(layer, name)
    with pytest.raises(ValueError):
        TransformerEncoderLayer(E, H, activation="tanh")
    x = torch.randn(B, T, E)
    layer.train()
    assert not torch.allclose(layer(x), layer(x))  # dropout active
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x))


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
def test_decoder_layer_matches_torch(norm_first) -> None:
    dtype = torch.float64
    torch.manual_seed(0)
    ref = nn.TransformerDecoderLayer(E, H, FF, dropout=0.1, batch_first=True, norm_first=norm_first).to(dtype)
    _randomize_norms(ref)
    ref.eval()
    mine = TransformerDecoderLayer(E, H, FF, dropout=0.1, norm_first=norm_first).to(dtype)
    mine.load_state_dict(convert_torch_state_dict(ref.state_dict()))
    mine.eval()
    gen = torch.Generator().manual_seed(5)
    tgt = torch.randn(B, T, E, dtype=dtype, generator=gen)
    memory = torch.randn(B, S, E, dtype=dtype, generator=gen)
    kw = dict(
        tgt_mask=causal_mask(T),
        tgt_key_padding_mask=_padding(B, T, 6),
        memory_key_padding_mask=_padding(B, S, 7),
    )
    assert_rel_close(mine(tgt, memory, **kw), ref(tgt, memory, **kw), 1e-10, "decoder layer output")


def _tiny_seq2seq(checkpointing: bool, dropout: float) -> Seq2SeqTransformer:
    torch.manual_seed(0)
    return Seq2SeqTransformer(
        13, 11, d_model=16, num_heads=2, num_encoder_layers=2, num_decoder_layers=2,
        dim_feedforward=32, dropout=dropout, max_len=32, gradient_checkpointing=checkpointing,
    )  # fmt: skip


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_seq2seq_gradient_checkpointing_same_loss_and_grads(dropout) -> None:
    gen = torch.Generator().manual_seed(3)
    src = torch.randint(3, 13, (4, 7), generator=gen)
    src[1, 5:] = 0  # padding
    tgt = torch.randint(3, 11, (4, 6), generator=gen)
    tgt[:, 0] = 1
    results = []
    for ckpt in (False, True):
        model = _tiny_seq2seq(ckpt, dropout).train()
        torch.manual_seed(123)  # same dropout masks in both runs (checkpoint replays the RNG state)
        logits = model(src, tgt[:, :-1])
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=0)
        loss.backward()
        results.append(
            (loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
        )
    (loss0, g0), (loss1, g1) = results
    torch.testing.assert_close(loss1, loss0, rtol=1e-6, atol=0)
    assert g0.keys() == g1.keys() and len(g0) > 10
    for name in g0:
        torch.testing.assert_close(
            g1[name], g0[name], rtol=1e-5, atol=1e-7, msg=lambda m, n=name: f"{n}: {m}"
        )


def test_seq2seq_shapes_padding_and_greedy_decode() -> None:
    model = _tiny_seq2seq(False, 0.0).eval()
    src = torch.randint(3, 13, (2, 5))
    tgt_in = torch.randint(3, 11, (2, 4))
    assert model(src, tgt_in).shape == (2, 4, 11)
    # Padding at the end of src does not change the outputs for the real tokens.
    padded = torch.cat([src, torch.zeros(2, 3, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded, tgt_in), model(src, tgt_in), rtol=1e-5, atol=1e-6)
    # Causality: changing a later target token does not change earlier logits.
    other = tgt_in.clone()
    other[:, -1] = (other[:, -1] + 1 - 3) % 8 + 3
    torch.testing.assert_close(model(src, other)[:, :-1], model(src, tgt_in)[:, :-1])
    out = model.greedy_decode(src, max_new_tokens=6, bos_idx=1, eos_idx=2)
    assert out.dtype == torch.long and out.shape[0] == 2 and 1 <= out.shape[1] <= 6
    # greedy decoding equals taking the argmax of teacher-forced logits on its own output
    ys = torch.cat([torch.ones(2, 1, dtype=torch.long), out], dim=1)
    first = model(src, ys[:, :1]).argmax(-1)[:, 0]
    assert torch.equal(first, out[:, 0])
    assert model.training is False


def test_convert_torch_state_dict_splits_in_proj() -> None:
    sd = {
        "self_attn.in_proj_weight": torch.arange(12.0).view(6, 2),
        "self_attn.in_proj_bias": torch.arange(6.0),
    }
    out = convert_torch_state_dict(sd)
    assert set(out) == {f"self_attn.{p}_proj.{k}" for p in "qkv" for k in ("weight", "bias")}
    assert torch.equal(out["self_attn.k_proj.weight"], sd["self_attn.in_proj_weight"][2:4])
