"""Probes for ``lab3.transformer`` (run in the sandbox; see ``autograder/child/probes/__init__.py``)."""

from __future__ import annotations

from typing import Any

from autograder.child.probes import CallTrace, seed, tensor_or_none


def _build_encoder_layer(cfg: dict[str, Any], weights: dict[str, Any]):
    """The student's TransformerEncoderLayer in float64, weights copied into the documented attributes.

    Its ``self_attn`` is the grader's ``MultiHeadAttention`` (``trusted``): the encoder layer's tests grade
    how the layer wires attention, feed-forward, norms and dropouts, not the student's attention again."""
    import lab3.transformer
    import torch

    from autograder.child.probes import trusted

    activation = cfg["activation"]
    if activation.startswith("torch."):  # a callable: "torch.tanh" -> torch.tanh
        activation = getattr(torch, activation[len("torch."):])
    with trusted.swapped(lab3.transformer, MultiHeadAttention=trusted.MultiHeadAttention):
        layer = lab3.transformer.TransformerEncoderLayer(
            cfg["d_model"],
            cfg["num_heads"],
            dim_feedforward=cfg["dim_feedforward"],
            dropout=cfg.get("dropout", 0.0),
            activation=activation,
            norm_first=cfg["norm_first"],
        ).double()
    targets = {
        "self_attn.q_proj": layer.self_attn.q_proj,
        "self_attn.k_proj": layer.self_attn.k_proj,
        "self_attn.v_proj": layer.self_attn.v_proj,
        "self_attn.out_proj": layer.self_attn.out_proj,
        "linear1": layer.linear1,
        "linear2": layer.linear2,
        "norm1": layer.norm1,
        "norm2": layer.norm2,
    }
    with torch.no_grad():
        for name, module in targets.items():
            module.weight.copy_(weights[f"{name}.weight"])
            module.bias.copy_(weights[f"{name}.bias"])
    return layer


def encoder_layer(
    cfg: dict[str, Any],
    weights: dict[str, Any],
    src,
    src_mask=None,
    src_key_padding_mask=None,
    grad: bool = False,
    train: bool = False,
    seed_value: int = 0,
) -> dict[str, Any]:
    """Forward (``grad``: also d(sum(out * g)) / d src); in ``train`` mode it is called twice."""
    import torch

    seed(seed_value)
    layer = _build_encoder_layer(cfg, weights)
    layer.train(train)
    if grad:
        src = src.clone().requires_grad_(True)
    with CallTrace() as trace:
        out = trace.run(layer, src, src_mask=src_mask, src_key_padding_mask=src_key_padding_mask)
        res: dict[str, Any] = {"out": tensor_or_none(out)}
        if train:
            res["out_again"] = tensor_or_none(
                trace.run(layer, src, src_mask=src_mask, src_key_padding_mask=src_key_padding_mask)
            )
        if grad and isinstance(out, torch.Tensor):
            g = torch.Generator().manual_seed(7)
            (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum().backward()
            res["grad_src"] = tensor_or_none(src.grad)
    res["_trace"] = trace.report()
    return res


def encoder_dropout_sites(cfg: dict[str, Any], weights: dict[str, Any], src) -> dict[str, Any]:
    """Where the layer's three dropouts act: one eval-mode forward with hooks on ``self_attn``, ``linear1``,
    ``linear2``, ``dropout``, ``dropout1``, ``dropout2``; for each dropout call, which tensor it received
    (the attention output, the activation of linear1's output, linear2's output, or something else)."""
    import torch

    layer = _build_encoder_layer(cfg, weights)
    layer.eval()
    seen: dict[str, Any] = {}
    calls: list[list[str]] = []

    def keep(name):
        def hook(module, args, out):
            value = out[0] if isinstance(out, (tuple, list)) else out
            seen[name] = value.detach() if isinstance(value, torch.Tensor) else None
            x = args[0] if args else None
            what = "other"
            if isinstance(x, torch.Tensor) and name.startswith("dropout"):
                candidates = {"attention output": seen.get("self_attn"), "linear2 output": seen.get("linear2")}
                if seen.get("linear1") is not None:
                    candidates["activation(linear1 output)"] = layer.activation(seen["linear1"])
                for label, ref in candidates.items():
                    if isinstance(ref, torch.Tensor) and ref.shape == x.shape and torch.equal(x.detach(), ref):
                        what = label
                        break
            calls.append([name, what])
        return hook

    for name in ("self_attn", "linear1", "linear2", "dropout", "dropout1", "dropout2"):
        getattr(layer, name).register_forward_hook(keep(name))
    with torch.no_grad():
        layer(src)
    return {"calls": calls}


def train_reverse(
    train_src, train_tgt, test_src, steps: int, lr: float = 1e-3, batch_size: int = 64, seed_value: int = 0
) -> dict[str, Any]:
    """Train the given ``Seq2SeqTransformer`` on reversal with the student's ``causal_mask`` and
    ``SinusoidalPositionalEncoding``; decode ``test_src``.

    Its attention and encoder layers are the grader's (``trusted``): their own tests grade them, so a
    mistake there is not charged here again. ``train_src (N, L+1)``, ``train_tgt (N, L+2)`` come from the
    grader; only predictions go back.
    """
    import math

    import lab3.transformer
    import torch
    import torch.nn.functional as F

    from autograder.child.probes import trusted

    seed(seed_value)
    torch.set_num_threads(1)
    vocab = int(max(train_src.max(), train_tgt.max())) + 1
    with trusted.swapped(lab3.transformer, MultiHeadAttention=trusted.MultiHeadAttention,
                         TransformerEncoderLayer=trusted.TransformerEncoderLayer):
        model = lab3.transformer.Seq2SeqTransformer(
            vocab, vocab, d_model=64, num_heads=4, num_encoder_layers=2, num_decoder_layers=2,
            dim_feedforward=128, dropout=0.0, max_len=64,
        )  # fmt: skip
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    warmup = max(1, steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up, then cosine decay to 0
        optimizer,
        lambda i: (
            (i + 1) / warmup
            if i < warmup
            else 0.5 * (1 + math.cos(math.pi * (i - warmup) / (steps - warmup)))
        ),
    )
    g = torch.Generator().manual_seed(seed_value)
    model.train()
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, train_src.size(0), (batch_size,), generator=g)
        src, tgt = train_src[idx], train_tgt[idx]
        logits = model(src, tgt[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    pred = model.greedy_decode(test_src, max_new_tokens=test_src.size(1), bos_idx=1, eos_idx=2)
    return {"pred": tensor_or_none(pred), "final_loss": sum(losses[-10:]) / 10}
