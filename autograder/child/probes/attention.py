"""Probes for ``lab3.attention`` (run in the sandbox; see ``autograder/child/probes/__init__.py``)."""

from __future__ import annotations

from typing import Any

from autograder.child.probes import CallTrace, pair, seed, tensor_or_none


def causal_mask(size: int, device: str | None = None) -> dict[str, Any]:
    from lab3.attention import causal_mask as student_causal_mask

    mask = student_causal_mask(size) if device is None else student_causal_mask(size, device=device)
    return {"mask": tensor_or_none(mask)}


def sdpa(
    q,
    k,
    v,
    mask=None,
    dropout_p: float = 0.0,
    training: bool = False,
    grad: bool = False,
    seed_value: int = 0,
) -> dict[str, Any]:
    """Run the student's scaled_dot_product_attention; with ``grad`` also return d(sum(out*g))/d(q, k, v)."""
    from lab3.attention import scaled_dot_product_attention

    seed(seed_value)
    if grad:
        q, k, v = (t.clone().requires_grad_(True) for t in (q, k, v))
    with CallTrace() as trace:
        out, weights = pair(
            trace.run(scaled_dot_product_attention, q, k, v, mask=mask, dropout_p=dropout_p, training=training)
        )
        res = {"out": tensor_or_none(out), "weights": tensor_or_none(weights)}
        if grad:
            import torch

            g = torch.Generator().manual_seed(7)
            upstream = torch.randn(out.shape, generator=g, dtype=out.dtype)
            (out * upstream).sum().backward()
            res.update({f"grad_{n}": tensor_or_none(t.grad) for n, t in (("q", q), ("k", k), ("v", v))})
    res["_trace"] = trace.report()
    return res


def _build_mha(d_model: int, num_heads: int, bias: bool, dropout: float, weights: dict[str, Any]):
    import torch
    from lab3.attention import MultiHeadAttention

    mha = MultiHeadAttention(d_model, num_heads, dropout=dropout, bias=bias).double()
    with torch.no_grad():
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            layer = getattr(mha, name)
            layer.weight.copy_(weights[f"{name}.weight"])
            if bias:
                layer.bias.copy_(weights[f"{name}.bias"])
    return mha


def mha(
    d_model: int,
    num_heads: int,
    weights: dict[str, Any],
    query,
    key,
    value,
    *,
    bias: bool = True,
    dropout: float = 0.0,
    train: bool = False,
    key_padding_mask=None,
    attn_mask=None,
    need_weights: bool = True,
    average_attn_weights: bool = True,
    grad: bool = False,
    seed_value: int = 0,
) -> dict[str, Any]:
    """Build the student's MultiHeadAttention with the given projection weights and run forward.

    The attention inside is the grader's (``trusted.sdpa`` in place of ``lab3.attention``'s function): a
    mistake in the student's ``scaled_dot_product_attention`` is charged to that function's tests only."""
    import lab3.attention
    import torch

    from autograder.child.probes import trusted

    seed(seed_value)
    m = _build_mha(d_model, num_heads, bias, dropout, weights)
    m.train(train)
    if grad:
        query = query.clone().requires_grad_(True)
    kwargs = {"key_padding_mask": key_padding_mask, "attn_mask": attn_mask, "need_weights": need_weights,
              "average_attn_weights": average_attn_weights}
    with trusted.swapped(lab3.attention, scaled_dot_product_attention=trusted.sdpa), CallTrace() as trace:
        out, w = pair(trace.run(m, query, key, value, **kwargs))
        res: dict[str, Any] = {"out": tensor_or_none(out), "weights": tensor_or_none(w)}
        if grad:
            g = torch.Generator().manual_seed(7)
            upstream = torch.randn(out.shape, generator=g, dtype=out.dtype)
            (out * upstream).sum().backward()
            res["grad_query"] = tensor_or_none(query.grad)
            for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
                res[f"grad_{name}.weight"] = tensor_or_none(getattr(m, name).weight.grad)
    res["_trace"] = trace.report()
    return res


def mha_init(d_model: int, num_heads: int) -> dict[str, Any]:
    """Constructor contract: ValueError for a bad head count, attribute names and values."""
    from lab3.attention import MultiHeadAttention

    try:
        MultiHeadAttention(d_model, num_heads)
        raised = ""
    except ValueError:
        raised = "ValueError"
    except Exception as exc:  # noqa: BLE001 - any other exception is a finding
        raised = type(exc).__name__
    return {"raised": raised}
