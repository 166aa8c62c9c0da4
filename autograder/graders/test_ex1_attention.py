"""Hidden graders for ``lab3.attention``: causal_mask (3 pts), sdpa (8), MultiHeadAttention (10).

References are independent: closed forms and a float64 reference written here for the mask and SDPA,
``torch.nn.MultiheadAttention`` with copied weights for MHA. Inputs are fresh random tensors from fixed
seeds; failures name the mistake when a known wrong variant matches.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from autograder.graders.checks import check_close, check_shape, fail, get_tensor

EX = "ex1"
T_CALL = 10  # seconds per probe call


def _randn(*shape: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def ref_sdpa(q, k, v, mask=None, *, scale=None, softmax_dim=-1, flip_bool=False, mask_after=False):
    """Reference attention in float64, with switches that reproduce the common mistakes."""
    scale = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = q.double() @ k.double().transpose(-2, -1) * scale
    if mask is not None and not mask_after:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask if flip_bool else mask, float("-inf"))
        else:
            scores = scores + mask.double()
    weights = torch.softmax(scores, dim=softmax_dim)
    if mask is not None and mask_after and mask.dtype == torch.bool:
        weights = weights.masked_fill(mask, 0.0)
    return (weights @ v.double()).to(q.dtype), weights.to(q.dtype)


def sdpa_hints(q, k, v, mask=None, which: int = 0):
    d = q.size(-1)
    variants = [
        ("the 1/sqrt(d_k) scale is missing", dict(scale=1.0)),
        ("scores divided by d_k instead of sqrt(d_k)", dict(scale=1 / d)),
        ("softmax over the wrong axis (it must run over the last axis, the keys S)", dict(softmax_dim=-2)),
    ]
    if mask is not None and mask.dtype == torch.bool:
        variants += [
            ("the boolean mask has the wrong polarity (True must mean blocked)", dict(flip_bool=True)),
            (
                "the mask is applied after the softmax (apply it to the scores, as -inf)",
                dict(mask_after=True),
            ),
        ]
    return [(name, ref_sdpa(q, k, v, mask, **kw)[which]) for name, kw in variants]


# ------------------------------------------------------------------------------------------ causal_mask
@pytest.mark.grade(points=2, tags=[EX, "causal_mask"], visibility="visible")
def test_causal_mask_values(student):
    """causal_mask: bool (T, T), True strictly above the diagonal"""
    for size in (1, 3, 7):
        res = student.call("attention.causal_mask", timeout=T_CALL, size=size)
        mask = get_tensor(res, "mask", f"causal_mask({size})")
        check_shape(mask, (size, size), f"causal_mask({size})")
        if mask.dtype != torch.bool:
            fail(f"causal_mask({size}): expected dtype bool (True = blocked), got {str(mask.dtype)[6:]}")
        expected = torch.ones(size, size, dtype=torch.bool).triu(1)
        if torch.equal(mask, expected):
            continue
        if torch.equal(mask, ~expected):
            fail(f"causal_mask({size}): inverted — True must mean blocked (the future, above the diagonal)")
        if torch.equal(mask, torch.ones(size, size, dtype=torch.bool).triu(0)):
            fail(
                f"causal_mask({size}): the diagonal is blocked — a position must attend to itself "
                "(diagonal=1)"
            )
        if torch.equal(mask, expected.T):
            fail(f"causal_mask({size}): transposed — block the positions above the diagonal (later keys)")
        if not torch.equal(mask, expected):
            fail(f"causal_mask({size}): wrong values; expected True exactly where column > row")


@pytest.mark.grade(points=1, tags=[EX, "causal_mask"], visibility="visible")
def test_causal_mask_device_argument_and_large(student):
    """causal_mask: accepts device=..., larger sizes"""
    for size, device in ((64, "cpu"), (300, None)):
        res = student.call("attention.causal_mask", timeout=T_CALL, size=size, device=device)
        mask = get_tensor(res, "mask", f"causal_mask({size}, device={device!r})")
        check_shape(mask, (size, size), f"causal_mask({size})")
        if mask.dtype != torch.bool or not torch.equal(
            mask, torch.ones(size, size, dtype=torch.bool).triu(1)
        ):
            fail(
                f"causal_mask({size}, device={device!r}): wrong dtype or values "
                "(bool, True where column > row)"
            )


# ------------------------------------------------------------------------------------------ sdpa
def _sdpa_case(student, q, k, v, mask=None, what="scaled_dot_product_attention", **kw):
    res = student.call("attention.sdpa", timeout=T_CALL, q=q, k=k, v=v, mask=mask, **kw)
    out, weights = get_tensor(res, "out", f"{what}: out"), get_tensor(res, "weights", f"{what}: weights")
    ref_out, ref_w = ref_sdpa(q, k, v, mask)
    check_close(
        weights, ref_w, rtol=1e-7, atol=1e-9, what=f"{what}: weights", hints=sdpa_hints(q, k, v, mask, 1)
    )
    check_close(out, ref_out, rtol=1e-7, atol=1e-9, what=f"{what}: out", hints=sdpa_hints(q, k, v, mask, 0))
    return res


@pytest.mark.grade(points=2, tags=[EX, "sdpa"], visibility="visible")
def test_sdpa_no_mask(student):
    """sdpa: output and weights without a mask (3-D and 4-D inputs)"""
    q, k, v = _randn(2, 5, 8, seed=1), _randn(2, 5, 8, seed=2), _randn(2, 5, 8, seed=3)
    _sdpa_case(student, q, k, v, what="sdpa on (2, 5, 8) inputs")
    q, k, v = _randn(2, 3, 4, 16, seed=4), _randn(2, 3, 6, 16, seed=5), _randn(2, 3, 6, 16, seed=6)
    _sdpa_case(student, q, k, v, what="sdpa on (2, 3, T=4, 16) queries and (2, 3, S=6, 16) keys")


@pytest.mark.grade(points=2, tags=[EX, "sdpa"], visibility="visible")
def test_sdpa_bool_mask(student):
    """sdpa: boolean masks, True = blocked (causal and broadcast padding masks)"""
    q, k, v = _randn(2, 6, 8, seed=11), _randn(2, 6, 8, seed=12), _randn(2, 6, 8, seed=13)
    causal = torch.ones(6, 6, dtype=torch.bool).triu(1)
    _sdpa_case(student, q, k, v, causal, what="sdpa with a causal (T, T) bool mask")
    pad = torch.zeros(2, 1, 6, dtype=torch.bool)
    pad[0, 0, 4:] = True
    pad[1, 0, 2:] = True
    _sdpa_case(student, q, k, v, pad, what="sdpa with a (B, 1, S) padding mask")


@pytest.mark.grade(points=1, tags=[EX, "sdpa"], visibility="visible")
def test_sdpa_float_mask(student):
    """sdpa: float masks are added to the scores"""
    q, k, v = _randn(3, 4, 8, seed=21), _randn(3, 5, 8, seed=22), _randn(3, 5, 6, seed=23)
    mask = _randn(4, 5, seed=24)
    mask[0, 1] = float("-inf")
    _sdpa_case(student, q, k, v, mask, what="sdpa with a float (T, S) mask")


@pytest.mark.grade(points=1, tags=[EX, "sdpa"], visibility="hidden")
def test_sdpa_dtype_and_grad(student):
    """sdpa: keeps float32, and gradients flow to q, k and v"""
    q, k, v = (
        _randn(2, 4, 8, seed=31, dtype=torch.float32),
        _randn(2, 7, 8, seed=32, dtype=torch.float32),
        _randn(2, 7, 5, seed=33, dtype=torch.float32),
    )
    res = student.call("attention.sdpa", timeout=T_CALL, q=q, k=k, v=v, grad=True)
    ref_out, _ = ref_sdpa(q, k, v)
    check_close(
        get_tensor(res, "out", "sdpa on float32 inputs: out"),
        ref_out.float(),
        rtol=1e-4,
        atol=1e-5,
        what="sdpa on float32 inputs: out",
    )
    qq, kk, vv = (t.double().clone().requires_grad_(True) for t in (q, k, v))
    out, _ = ref_sdpa(qq, kk, vv)
    upstream = torch.randn(
        out.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float32
    ).double()
    (out * upstream).sum().backward()
    for name, t in (("q", qq), ("k", kk), ("v", vv)):
        check_close(
            get_tensor(res, f"grad_{name}", f"gradient w.r.t. {name}"),
            t.grad.float(),
            rtol=1e-3,
            atol=1e-4,
            what=f"sdpa: gradient w.r.t. {name} (did you detach or use in-place ops on the scores?)",
        )


@pytest.mark.grade(points=2, tags=[EX, "sdpa"], visibility="hidden")
def test_sdpa_dropout(student):
    """sdpa: dropout on the weights only when training; weights returned before dropout"""
    q, k = _randn(2, 6, 8, seed=41), _randn(2, 10, 8, seed=42)
    v = torch.eye(10, dtype=torch.float64).expand(2, 10, 10).contiguous()  # out == dropped weights
    res = student.call("attention.sdpa", timeout=T_CALL, q=q, k=k, v=v, dropout_p=0.5, training=True)
    out, weights = (
        get_tensor(res, "out", "sdpa (training): out"),
        get_tensor(res, "weights", "sdpa (training): weights"),
    )
    ref_out, ref_w = ref_sdpa(q, k, v)
    check_close(
        weights,
        ref_w,
        rtol=1e-7,
        atol=1e-9,
        what="sdpa with dropout_p=0.5, training=True: weights (return them before dropout)",
    )
    check_shape(out, ref_out.shape, "sdpa (training): out")
    kept = out != 0
    if bool(kept.all()):
        fail(
            "sdpa with dropout_p=0.5, training=True: no attention weight was dropped — "
            "apply dropout to the weights"
        )
    scaled_ok = torch.allclose(out[kept], 2 * ref_w[kept], rtol=1e-6, atol=1e-9)
    if not scaled_ok:
        if torch.allclose(out[kept], ref_w[kept], rtol=1e-6, atol=1e-9):
            fail("sdpa (training): kept weights are not rescaled by 1/(1-p) — use F.dropout / nn.Dropout")
        fail("sdpa (training): the output is not (dropped-out weights) @ v — dropout on the wrong tensor?")
    frac = float((~kept).double().mean())
    if not 0.3 < frac < 0.7:
        fail(f"sdpa (training): {frac:.0%} of the weights dropped with dropout_p=0.5")
    res = student.call("attention.sdpa", timeout=T_CALL, q=q, k=k, v=v, dropout_p=0.2, training=True,
                       seed_value=3)
    out = get_tensor(res, "out", "sdpa (training, dropout_p=0.2): out")
    check_shape(out, ref_out.shape, "sdpa (training, dropout_p=0.2): out")
    kept = out != 0
    frac = float((~kept).double().mean())
    if not torch.allclose(out[kept], ref_w[kept] / 0.8, rtol=1e-6, atol=1e-9) or not 0.05 < frac < 0.4:
        fail(f"sdpa with dropout_p=0.2, training=True: {frac:.0%} of the weights dropped and the kept ones "
             "not all scaled by 1/(1-0.2) = 1.25 — use the dropout_p argument (not a fixed probability)")
    res = student.call("attention.sdpa", timeout=T_CALL, q=q, k=k, v=v, dropout_p=0.5, training=False)
    check_close(
        get_tensor(res, "out", "sdpa (eval): out"),
        ref_out,
        rtol=1e-7,
        atol=1e-9,
        what="sdpa with dropout_p=0.5, training=False: out (no dropout outside training)",
    )


# ------------------------------------------------------------------------------------------ MHA
def _torch_mha(E: int, H: int, bias: bool, seed: int) -> tuple[torch.nn.MultiheadAttention, dict]:
    torch.manual_seed(seed)
    ref = torch.nn.MultiheadAttention(E, H, bias=bias, batch_first=True).double().eval()
    with torch.no_grad():
        if bias:  # torch initialises biases to 0: make them matter
            ref.in_proj_bias.normal_()
            ref.out_proj.bias.normal_()
    w = ref.in_proj_weight.detach()
    weights = {
        "q_proj.weight": w[:E].clone(),
        "k_proj.weight": w[E : 2 * E].clone(),
        "v_proj.weight": w[2 * E :].clone(),
        "out_proj.weight": ref.out_proj.weight.detach().clone(),
    }
    if bias:
        b = ref.in_proj_bias.detach()
        weights.update(
            {
                "q_proj.bias": b[:E].clone(),
                "k_proj.bias": b[E : 2 * E].clone(),
                "v_proj.bias": b[2 * E :].clone(),
                "out_proj.bias": ref.out_proj.bias.detach().clone(),
            }
        )
    return ref, weights


def _mha_hints(ref, weights, query, key, value, E, H, kpm=None, attn_mask=None):
    """What common MHA mistakes would output (head split without transpose, missing out_proj)."""
    hints = []
    with torch.no_grad():
        B, T, _ = query.shape
        S = key.shape[1]
        d = E // H

        def proj(x, n):
            return F.linear(x, weights[f"{n}.weight"], weights.get(f"{n}.bias"))

        mask = None
        if attn_mask is not None and attn_mask.dim() == 2 and kpm is None and attn_mask.dtype == torch.bool:
            mask = attn_mask
        if kpm is None and (attn_mask is None or mask is not None):
            q = proj(query, "q_proj").reshape(B, H, T, d)  # wrong: no transpose
            k = proj(key, "k_proj").reshape(B, H, S, d)
            v = proj(value, "v_proj").reshape(B, H, S, d)
            o, _ = ref_sdpa(q, k, v, mask)
            hints.append(
                (
                    "heads split with view/reshape but without transpose(1, 2): "
                    "(B, T, H, d_k) -> (B, H, T, d_k)",
                    proj(o.reshape(B, T, E), "out_proj"),
                )
            )
            q = proj(query, "q_proj").view(B, T, H, d).transpose(1, 2)
            k = proj(key, "k_proj").view(B, S, H, d).transpose(1, 2)
            v = proj(value, "v_proj").view(B, S, H, d).transpose(1, 2)
            o, _ = ref_sdpa(q, k, v, mask)
            merged = o.transpose(1, 2).reshape(B, T, E)
            hints.append(("the output projection out_proj is missing", merged))
            hints.append(
                (
                    "heads merged without transpose(1, 2) before reshape(B, T, E)",
                    proj(o.reshape(B, T, E), "out_proj"),
                )
            )
            o2, _ = ref_sdpa(q, k, v, mask, scale=1 / math.sqrt(E))
            hints.append(
                (
                    "scores scaled by 1/sqrt(d_model) instead of 1/sqrt(d_k = d_model / num_heads)",
                    proj(o2.transpose(1, 2).reshape(B, T, E), "out_proj"),
                )
            )
    return hints


def _mha_weight_hints(weights, query, key, E, H, average, kpm=None, attn_mask=None):
    """Attention weights that common scale mistakes produce (only for the simple mask cases)."""
    if kpm is not None or (attn_mask is not None and (attn_mask.dim() != 2 or attn_mask.dtype != torch.bool)):
        return []
    B, T, _ = query.shape
    S, d = key.shape[1], E // H
    with torch.no_grad():
        q = (
            F.linear(query, weights["q_proj.weight"], weights.get("q_proj.bias"))
            .view(B, T, H, d)
            .transpose(1, 2)
        )
        k = (
            F.linear(key, weights["k_proj.weight"], weights.get("k_proj.bias"))
            .view(B, S, H, d)
            .transpose(1, 2)
        )
        out = []
        for mistake, scale in (
            ("the 1/sqrt(d_k) scale is missing (check your scaled_dot_product_attention first)", 1.0),
            (
                "scores scaled by 1/sqrt(d_model) instead of 1/sqrt(d_k = d_model / num_heads)",
                1 / math.sqrt(E),
            ),
        ):
            _, w = ref_sdpa(q, k, k, attn_mask, scale=scale)  # (B, H, T, S)
            out.append((mistake, w.mean(1) if average else w))
    return out


def _mha_case(
    student,
    *,
    E=16,
    H=4,
    B=2,
    T=5,
    S=5,
    bias=True,
    self_attn=True,
    kpm=None,
    attn_mask=None,
    average=True,
    need_weights=True,
    seed=0,
    what="MultiHeadAttention",
):
    ref, weights = _torch_mha(E, H, bias, seed)
    query = _randn(B, T, E, seed=seed + 100)
    key = query if self_attn else _randn(B, S, E, seed=seed + 101)
    value = query if self_attn else _randn(B, S, E, seed=seed + 102)
    res = student.call(
        "attention.mha",
        timeout=T_CALL,
        d_model=E,
        num_heads=H,
        weights=weights,
        query=query,
        key=key,
        value=value,
        bias=bias,
        key_padding_mask=kpm,
        attn_mask=attn_mask,
        need_weights=need_weights,
        average_attn_weights=average,
    )
    with torch.no_grad():
        ref_out, ref_w = ref(
            query,
            key,
            value,
            key_padding_mask=kpm,
            attn_mask=attn_mask,
            need_weights=need_weights,
            average_attn_weights=average,
        )
    out = get_tensor(res, "out", f"{what}: out")
    if need_weights:
        w = get_tensor(res, "weights", f"{what}: weights")
        Sx = key.shape[1]
        shape = (B, T, Sx) if average else (B, H, T, Sx)
        if tuple(w.shape) != shape:
            extra = (
                " (average over the heads when average_attn_weights=True)"
                if average
                else " (per-head weights when average_attn_weights=False)"
            )
            fail(f"{what}: weights: expected shape {shape}, got {tuple(w.shape)}{extra}")
        check_close(
            w,
            ref_w,
            rtol=1e-9,
            atol=1e-10,
            what=f"{what}: weights",
            hints=_mha_weight_hints(weights, query, key, E, H, average, kpm, attn_mask),
        )
    elif res.get("weights") is not None:
        fail(f"{what}: with need_weights=False the weights must be None")
    check_close(
        out,
        ref_out,
        rtol=1e-9,
        atol=1e-10,
        what=f"{what}: out",
        hints=_mha_hints(ref, weights, query, key, value, E, H, kpm, attn_mask),
    )
    return res


@pytest.mark.grade(points=1, tags=[EX, "mha"], visibility="visible")
def test_mha_self_attention(student):
    """mha: self-attention equals nn.MultiheadAttention (outputs and averaged weights); no dropout in eval"""
    _mha_case(student, what="MultiHeadAttention(16, 4) self-attention")
    ref, weights = _torch_mha(16, 4, True, 0)
    query = _randn(2, 5, 16, seed=100)
    res = student.call("attention.mha", timeout=T_CALL, d_model=16, num_heads=4, weights=weights, query=query,
                       key=query, value=query, dropout=0.5, train=False)
    with torch.no_grad():
        ref_out, _ = ref(query, query, query)
    out = get_tensor(res, "out", "MultiHeadAttention(16, 4, dropout=0.5) in eval mode: out")
    check_shape(out, tuple(ref_out.shape), "MultiHeadAttention(16, 4, dropout=0.5) in eval mode: out")
    if not torch.allclose(out.double(), ref_out.double(), rtol=1e-6, atol=1e-8):
        fail("MultiHeadAttention(16, 4, dropout=0.5) in eval mode: the output changed — dropout must only "
             "act in training mode (pass training=self.training to your attention)")


@pytest.mark.grade(points=1, tags=[EX, "mha"], visibility="visible")
def test_mha_cross_attention(student):
    """mha: cross-attention with T != S"""
    _mha_case(
        student,
        T=3,
        S=7,
        self_attn=False,
        seed=1,
        what="MultiHeadAttention(16, 4) cross-attention (T=3, S=7)",
    )


@pytest.mark.grade(points=1, tags=[EX, "mha"], visibility="visible")
def test_mha_weights_options(student):
    """mha: per-head weights (average_attn_weights=False) and need_weights=False"""
    _mha_case(student, average=False, seed=2, what="MultiHeadAttention with average_attn_weights=False")
    _mha_case(student, need_weights=False, seed=3, what="MultiHeadAttention with need_weights=False")


@pytest.mark.grade(points=1, tags=[EX, "mha"], visibility="visible")
def test_mha_key_padding_mask(student):
    """mha: boolean key_padding_mask (B, S)"""
    kpm = torch.zeros(2, 7, dtype=torch.bool)
    kpm[0, 5:] = True
    kpm[1, 3:] = True
    _mha_case(
        student, T=4, S=7, self_attn=False, kpm=kpm, seed=4, what="MultiHeadAttention with key_padding_mask"
    )


@pytest.mark.grade(points=1, tags=[EX, "mha"], visibility="visible")
def test_mha_causal_attn_mask(student):
    """mha: boolean (T, S) causal attn_mask"""
    mask = torch.ones(6, 6, dtype=torch.bool).triu(1)
    _mha_case(student, T=6, S=6, attn_mask=mask, seed=5, what="MultiHeadAttention with a causal attn_mask")


@pytest.mark.grade(points=1, tags=[EX, "mha"], visibility="hidden")
def test_mha_per_head_mask_and_padding(student):
    """mha: (B*H, T, S) attn_mask combined with key_padding_mask"""
    g = torch.Generator().manual_seed(6)
    mask = torch.rand(2 * 4, 5, 6, generator=g) < 0.3
    mask[..., 0] = False  # never a fully blocked row
    kpm = torch.zeros(2, 6, dtype=torch.bool)
    kpm[1, 4:] = True
    _mha_case(
        student,
        T=5,
        S=6,
        self_attn=False,
        attn_mask=mask,
        kpm=kpm,
        seed=6,
        what="MultiHeadAttention with a (B*H, T, S) attn_mask and a key_padding_mask (b*H + h order)",
    )


@pytest.mark.grade(points=1, tags=[EX, "mha"], visibility="hidden")
def test_mha_float_masks(student):
    """mha: float attn_mask and float key_padding_mask are added"""
    attn = _randn(4, 6, seed=7)
    kpm = _randn(2, 6, seed=8)
    _mha_case(
        student,
        T=4,
        S=6,
        self_attn=False,
        attn_mask=attn,
        kpm=kpm,
        seed=7,
        what="MultiHeadAttention with float masks",
    )
    causal = torch.ones(4, 6, dtype=torch.bool).triu(1)
    with warnings.catch_warnings():  # torch warns that mixed mask kinds are deprecated; it still adds them
        warnings.simplefilter("ignore")
        _mha_case(student, T=4, S=6, self_attn=False, attn_mask=causal, kpm=kpm, seed=17,
                  what="MultiHeadAttention with a bool attn_mask and a float key_padding_mask (True -> -inf, "
                       "then add)")  # fmt: skip


@pytest.mark.grade(points=1, tags=[EX, "mha"], visibility="hidden")
def test_mha_no_bias_and_heads(student):
    """mha: bias=False, other head counts, and ValueError when num_heads does not divide d_model"""
    _mha_case(student, E=12, H=3, bias=False, seed=8, what="MultiHeadAttention(12, 3, bias=False)")
    _mha_case(student, E=8, H=1, seed=9, what="MultiHeadAttention(8, 1)")
    res = student.call("attention.mha_init", timeout=T_CALL, d_model=10, num_heads=4)
    if res.get("raised") != "ValueError":
        fail("MultiHeadAttention(10, 4): expected a ValueError (10 is not divisible by 4)")


@pytest.mark.grade(points=1, tags=[EX, "mha"], visibility="hidden")
def test_mha_backward(student):
    """mha: gradients w.r.t. the input and all four projections match torch"""
    E, H = 16, 4
    ref, weights = _torch_mha(E, H, True, 10)
    query = _randn(2, 5, E, seed=110)
    res = student.call(
        "attention.mha",
        timeout=T_CALL,
        d_model=E,
        num_heads=H,
        weights=weights,
        query=query,
        key=query,
        value=query,
        grad=True,
    )
    q = query.clone().requires_grad_(True)  # the probe differentiates w.r.t. the query argument only
    out, _ = ref(q, query, query)
    upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(7), dtype=out.dtype)
    (out * upstream).sum().backward()
    check_close(
        get_tensor(res, "grad_query", "gradient w.r.t. the input"),
        q.grad,
        rtol=1e-8,
        atol=1e-10,
        what="MultiHeadAttention: gradient w.r.t. the input",
    )
    w = ref.in_proj_weight.grad
    expected = {
        "q_proj.weight": w[:E],
        "k_proj.weight": w[E : 2 * E],
        "v_proj.weight": w[2 * E :],
        "out_proj.weight": ref.out_proj.weight.grad,
    }
    for name, g in expected.items():
        check_close(
            get_tensor(res, f"grad_{name}", f"gradient of {name}"),
            g,
            rtol=1e-8,
            atol=1e-10,
            what=f"MultiHeadAttention: gradient of {name} (is every projection used in forward?)",
        )


@pytest.mark.grade(points=1, tags=[EX, "mha"], visibility="hidden")
def test_mha_dropout_in_training(student):
    """mha: in training mode dropout(p=dropout) acts on the attention weights; the weights come back before it"""
    E, H, B, T, S = 16, 4, 2, 6, 4  # S = d_k: with v_proj = out_proj = identity, out shows each head's weights
    ref, weights = _torch_mha(E, H, True, 12)
    eye = torch.eye(E, dtype=torch.float64)
    with torch.no_grad():
        ref.in_proj_weight[2 * E:] = eye
        ref.in_proj_bias[2 * E:] = 0
        ref.out_proj.weight.copy_(eye)
        ref.out_proj.bias.zero_()
    weights.update({"v_proj.weight": eye.clone(), "v_proj.bias": torch.zeros(E, dtype=torch.float64),
                    "out_proj.weight": eye.clone(), "out_proj.bias": torch.zeros(E, dtype=torch.float64)})
    query, key = _randn(B, T, E, seed=112), _randn(B, S, E, seed=113)
    value = torch.eye(S, dtype=torch.float64).repeat(1, H).expand(B, S, E).contiguous()  # head h: v = I (S, S)
    with torch.no_grad():
        _, ref_w = ref(query, key, value, average_attn_weights=False)  # (B, H, T, S), eval: no dropout
    what = "MultiHeadAttention(16, 4, dropout=0.5) in training mode"
    res = student.call("attention.mha", timeout=T_CALL, d_model=E, num_heads=H, weights=weights, query=query,
                       key=key, value=value, dropout=0.5, train=True, average_attn_weights=False)
    out = get_tensor(res, "out", f"{what}: out")
    check_shape(out, (B, T, E), f"{what}: out")
    check_close(get_tensor(res, "weights", f"{what}: weights"), ref_w, rtol=1e-9, atol=1e-10,
                what=f"{what}: weights (return the softmax before dropout)")
    dropped = out.reshape(B, T, H, S).transpose(1, 2)  # each head's (dropped-out) weights
    kept = dropped != 0
    frac = float((~kept).double().mean())
    if frac == 0.0:
        fail(f"{what}: no attention weight was dropped — pass dropout_p=self.dropout and "
             "training=self.training to your scaled_dot_product_attention")
    if not torch.allclose(dropped[kept], 2 * ref_w[kept], rtol=1e-7, atol=1e-9):
        fail(f"{what}: the output is not (dropped-out weights, kept ones scaled by 1/(1-p) = 2) @ v — is the "
             "dropout on the attention weights (not on the output), with p = self.dropout?")
    if not 0.3 < frac < 0.7:
        fail(f"{what}: {frac:.0%} of the attention weights dropped, expected about 50% (p = self.dropout)")
