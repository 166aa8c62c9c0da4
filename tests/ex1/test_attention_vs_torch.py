"""lab3.attention (solution) against torch's references, float64 and float32, forward and backward."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from ex1_helpers import TOL, assert_rel_close
from lab3.attention import MultiHeadAttention, causal_mask, scaled_dot_product_attention
from torch import nn

B, T, S, E, H = 3, 5, 7, 16, 4


# ----------------------------------------------------------------------------------------- causal_mask
def test_causal_mask_values_and_dtype() -> None:
    m = causal_mask(4)
    assert m.dtype == torch.bool and m.shape == (4, 4)
    expected = torch.tensor([[j > i for j in range(4)] for i in range(4)])
    assert torch.equal(m, expected)
    # Same as torch's own helper (float: -inf above the diagonal).
    ref = nn.Transformer.generate_square_subsequent_mask(6)
    assert torch.equal(causal_mask(6), torch.isinf(ref))


def test_causal_mask_device() -> None:
    assert causal_mask(3, device="cpu").device.type == "cpu"
    assert causal_mask(1).tolist() == [[False]]


# ------------------------------------------------------------------------------------------------ sdpa
def _rand_bool_mask(*shape: int, gen: torch.Generator) -> torch.Tensor:
    """A random True=blocked mask that never blocks a whole row (key 0 always allowed)."""
    m = torch.rand(*shape, generator=gen) < 0.4
    m[..., 0] = False
    return m


@pytest.mark.parametrize("mask_kind", ["none", "bool", "float", "bool_broadcast", "causal"])
def test_sdpa_matches_torch(dtype: torch.dtype, mask_kind: str) -> None:
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, T, 8, dtype=dtype, generator=gen, requires_grad=True)
    k = torch.randn(2, 3, S, 8, dtype=dtype, generator=gen, requires_grad=True)
    v = torch.randn(2, 3, S, 6, dtype=dtype, generator=gen, requires_grad=True)
    mask = ref_mask = None
    if mask_kind == "bool":
        mask = _rand_bool_mask(2, 3, T, S, gen=gen)
        ref_mask = ~mask  # torch: True = may attend
    elif mask_kind == "bool_broadcast":
        mask = _rand_bool_mask(2, 1, 1, S, gen=gen)
        ref_mask = ~mask
    elif mask_kind == "float":
        mask = torch.randn(T, S, dtype=dtype, generator=gen)
        ref_mask = mask
    elif mask_kind == "causal":
        k = k[..., :T, :].detach().requires_grad_()  # square: S = T
        v = v[..., :T, :].detach().requires_grad_()
        mask = causal_mask(T)
        ref_mask = ~mask

    out, w = scaled_dot_product_attention(q, k, v, mask=mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=ref_mask)
    tol = TOL[dtype]
    assert w.shape == (*q.shape[:-1], k.size(-2))
    assert_rel_close(out, ref, tol, "sdpa output")
    torch.testing.assert_close(w.sum(-1), torch.ones_like(w.sum(-1)))

    # The weights equal softmax(q k^T / sqrt(d) + mask) computed independently.
    scores = q @ k.transpose(-2, -1) / q.size(-1) ** 0.5
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    assert_rel_close(w, scores.softmax(-1), tol, "sdpa weights")

    g = torch.randn_like(ref)
    grads = torch.autograd.grad(out, (q, k, v), g)
    ref_grads = torch.autograd.grad(ref, (q, k, v), g)
    for name, a, b in zip("qkv", grads, ref_grads, strict=True):
        assert_rel_close(a, b, tol * 10, f"d{name}")


def test_sdpa_dropout_only_in_training() -> None:
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, T, 8, generator=gen) for _ in range(3))
    out_eval, w_eval = scaled_dot_product_attention(q, k, v, dropout_p=0.5, training=False)
    ref, _ = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out_eval, ref)
    torch.manual_seed(0)
    out_train, w_train = scaled_dot_product_attention(q, k, v, dropout_p=0.5, training=True)
    assert not torch.allclose(out_train, ref)
    # Weights are returned before dropout.
    torch.testing.assert_close(w_train, w_eval)


# ------------------------------------------------------------------------------------------------- MHA
def _pair(
    dtype: torch.dtype, bias: bool = True, seed: int = 0
) -> tuple[MultiHeadAttention, nn.MultiheadAttention]:
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(E, H, bias=bias, batch_first=True).to(dtype).eval()
    with torch.no_grad():  # non-zero biases so that a mis-copied bias shows
        if bias:
            ref.in_proj_bias.normal_()
            ref.out_proj.bias.normal_()
    mine = MultiHeadAttention(E, H, bias=bias).to(dtype).eval()
    mine.load_torch_weights(ref)
    return mine, ref


def _masks(kind: str, dtype: torch.dtype, src_len: int, gen: torch.Generator) -> dict:
    if kind == "none":
        return {}
    if kind == "kpm_bool":
        return {"key_padding_mask": _rand_bool_mask(B, src_len, gen=gen)}
    if kind == "kpm_float":
        return {"key_padding_mask": torch.randn(B, src_len, dtype=dtype, generator=gen)}
    if kind == "attn_bool_2d":
        return {"attn_mask": _rand_bool_mask(T, src_len, gen=gen)}
    if kind == "attn_float_2d":
        return {"attn_mask": torch.randn(T, src_len, dtype=dtype, generator=gen)}
    if kind == "attn_bool_3d":
        return {"attn_mask": _rand_bool_mask(B * H, T, src_len, gen=gen)}
    if kind == "attn_float_3d":
        return {"attn_mask": torch.randn(B * H, T, src_len, dtype=dtype, generator=gen)}
    if kind == "both_bool":
        return {
            "attn_mask": _rand_bool_mask(T, src_len, gen=gen),
            "key_padding_mask": _rand_bool_mask(B, src_len, gen=gen),
        }
    if kind == "both_float":
        return {
            "attn_mask": torch.randn(B * H, T, src_len, dtype=dtype, generator=gen),
            "key_padding_mask": torch.randn(B, src_len, dtype=dtype, generator=gen),
        }
    if kind == "mixed":  # bool attn_mask + float key_padding_mask (torch warns, but supports it)
        return {
            "attn_mask": _rand_bool_mask(T, src_len, gen=gen),
            "key_padding_mask": torch.randn(B, src_len, dtype=dtype, generator=gen),
        }
    raise AssertionError(kind)


MASK_KINDS = [
    "none",
    "kpm_bool",
    "kpm_float",
    "attn_bool_2d",
    "attn_float_2d",
    "attn_bool_3d",
    "attn_float_3d",
    "both_bool",
    "both_float",
    "mixed",
]


@pytest.mark.parametrize("mask_kind", MASK_KINDS)
@pytest.mark.parametrize("mode", ["self", "cross"])
@pytest.mark.parametrize("average", [True, False], ids=["avg", "per_head"])
def test_mha_matches_torch(dtype: torch.dtype, mask_kind: str, mode: str, average: bool) -> None:
    mine, ref = _pair(dtype)
    gen = torch.Generator().manual_seed(7)
    query = torch.randn(B, T, E, dtype=dtype, generator=gen)
    if mode == "self":
        src_len, key = T, query
        value = query
    else:  # cross-attention, S != T, key != value
        src_len = S
        key = torch.randn(B, S, E, dtype=dtype, generator=gen)
        value = torch.randn(B, S, E, dtype=dtype, generator=gen)
    masks = _masks(mask_kind, dtype, src_len, gen)
    out, w = mine(query, key, value, average_attn_weights=average, **masks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: "mismatched key_padding_mask and attn_mask"
        ref_out, ref_w = ref(query, key, value, average_attn_weights=average, **masks)
    tol = TOL[dtype]
    assert_rel_close(out, ref_out, tol, "MHA output")
    assert w.shape == ((B, T, src_len) if average else (B, H, T, src_len))
    assert_rel_close(w, ref_w, tol, "MHA weights")


@pytest.mark.parametrize("mode", ["self", "cross"])
def test_mha_gradients_match_torch(dtype: torch.dtype, mode: str) -> None:
    mine, ref = _pair(dtype, seed=3)
    gen = torch.Generator().manual_seed(11)
    query = torch.randn(B, T, E, dtype=dtype, generator=gen, requires_grad=True)
    if mode == "self":
        key = value = query
        masks = {"attn_mask": causal_mask(T), "key_padding_mask": _rand_bool_mask(B, T, gen=gen)}
        inputs = (query,)
    else:
        key = torch.randn(B, S, E, dtype=dtype, generator=gen, requires_grad=True)
        value = torch.randn(B, S, E, dtype=dtype, generator=gen, requires_grad=True)
        masks = {"attn_mask": torch.randn(T, S, dtype=dtype, generator=gen), "key_padding_mask": None}
        inputs = (query, key, value)
    g_out = torch.randn(B, T, E, dtype=dtype, generator=gen)
    g_w = torch.randn(B, H, T, key.size(1), dtype=dtype, generator=gen)

    def loss(module: nn.Module) -> torch.Tensor:
        out, w = module(query, key, value, average_attn_weights=False, **masks)
        return (out * g_out).sum() + (w * g_w).sum()

    tol = TOL[dtype] * 10  # a backward pass accumulates a little more rounding
    grads = torch.autograd.grad(loss(mine), [*inputs, *mine.parameters()])
    ref_grads = torch.autograd.grad(loss(ref), [*inputs, *ref.parameters()])
    n = len(inputs)
    for i in range(n):
        assert_rel_close(grads[i], ref_grads[i], tol, f"d input {i}")
    mine_named = dict(zip([name for name, _ in mine.named_parameters()], grads[n:], strict=True))
    ref_named = dict(zip([name for name, _ in ref.named_parameters()], ref_grads[n:], strict=True))
    ref_w = ref_named["in_proj_weight"].chunk(3)
    ref_b = ref_named["in_proj_bias"].chunk(3)
    for i, p in enumerate("qkv"):
        assert_rel_close(mine_named[f"{p}_proj.weight"], ref_w[i], tol, f"d {p}_proj.weight")
        # The key bias gradient is exactly zero in exact arithmetic (softmax ignores a shift shared by a
        # row): compare it on the scale of the key weight gradient instead of its own (rounding noise).
        scale = ref_w[i].abs().max().item()
        assert_rel_close(mine_named[f"{p}_proj.bias"], ref_b[i], tol, f"d {p}_proj.bias", scale=scale)
    assert_rel_close(mine_named["out_proj.weight"], ref_named["out_proj.weight"], tol, "d out_proj.weight")
    assert_rel_close(mine_named["out_proj.bias"], ref_named["out_proj.bias"], tol, "d out_proj.bias")


def test_mha_without_bias_and_need_weights_false() -> None:
    mine, ref = _pair(torch.float64, bias=False)
    x = torch.randn(B, T, E, dtype=torch.float64)
    out, w = mine(x, x, x, need_weights=False)
    ref_out, ref_w = ref(x, x, x, need_weights=False)
    assert w is None and ref_w is None
    assert_rel_close(out, ref_out, 1e-10, "MHA output (bias=False, need_weights=False)")


def test_mha_matches_torch_fast_path_under_no_grad() -> None:
    """nn.MultiheadAttention takes a fused path in eval mode under no_grad; the numbers must not change."""
    mine, ref = _pair(torch.float32, seed=5)
    x = torch.randn(B, T, E)
    kpm = _rand_bool_mask(B, T, gen=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out, _ = mine(x, x, x, key_padding_mask=kpm)
        ref_out, _ = ref(x, x, x, key_padding_mask=kpm)
    # torch zeroes nothing here: compare every position
    assert_rel_close(out, ref_out, 1e-5, "MHA output (torch fast path)")


def test_mha_attributes_and_errors() -> None:
    mha = MultiHeadAttention(12, 3, dropout=0.25)
    assert (mha.embed_dim, mha.num_heads, mha.head_dim, mha.dropout) == (12, 3, 4, 0.25)
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        lin = getattr(mha, name)
        assert isinstance(lin, nn.Linear) and lin.weight.shape == (12, 12)
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError):
        MultiHeadAttention(12, 4).load_torch_weights(nn.MultiheadAttention(12, 3, batch_first=True))


def test_mha_dropout_train_vs_eval() -> None:
    torch.manual_seed(0)
    mha = MultiHeadAttention(E, H, dropout=0.5)
    x = torch.randn(B, T, E)
    mha.eval()
    a, _ = mha(x, x, x)
    b, _ = mha(x, x, x)
    torch.testing.assert_close(a, b)
    mha.train()
    c, w = mha(x, x, x)
    assert not torch.allclose(a, c)
    torch.testing.assert_close(w.sum(-1), torch.ones(B, T))  # weights before dropout


def test_solution_does_not_call_torch_attention(monkeypatch: pytest.MonkeyPatch) -> None:
    """The model answer is built from scratch: the fused torch kernels must not be reached."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the solution called a torch attention kernel")

    monkeypatch.setattr(F, "scaled_dot_product_attention", forbidden)
    monkeypatch.setattr(F, "multi_head_attention_forward", forbidden)
    monkeypatch.setattr(nn.MultiheadAttention, "forward", forbidden)
    mha = MultiHeadAttention(E, H)
    x = torch.randn(B, T, E)
    mha(x, x, x, attn_mask=causal_mask(T))
    scaled_dot_product_attention(x, x, x)
