"""Forbidden shortcuts of the "from scratch" rule (autograder/graders/shortcuts.py): attention that
delegates to torch's or another library's attention, openly or hidden (aliases, getattr with built
strings, importlib, eval). Each gets every numeric check right, so only the rule can take its points:
every test of the affected area must fail with the rule's message; the other areas keep their points.
The alternatives show that code which merely imports torch, or compares with F.scaled_dot_product_attention
in an ``if __name__ == "__main__":`` self-check, keeps full marks."""

from corpus import Alternative, Mistake, change

A, TR = "attention", "transformer"
SDPA_TESTS = ("test_sdpa_no_mask", "test_sdpa_bool_mask", "test_sdpa_float_mask", "test_sdpa_dtype_and_grad",
              "test_sdpa_dropout")
MHA_TESTS = ("test_mha_self_attention", "test_mha_cross_attention", "test_mha_weights_options",
             "test_mha_key_padding_mask", "test_mha_causal_attn_mask", "test_mha_per_head_mask_and_padding",
             "test_mha_float_masks", "test_mha_no_bias_and_heads", "test_mha_backward",
             "test_mha_dropout_in_training")
ENCODER_TESTS = ("test_encoder_layer_post_norm", "test_encoder_layer_pre_norm", "test_encoder_layer_masks",
                 "test_encoder_layer_backward", "test_encoder_layer_dropout_in_training_only",
                 "test_encoder_layer_other_masks_and_activation")
RULE = r"not written from scratch.*scores 0"

SDPA_OUT = "    out = dropped @ v  # (..., T, d_v)\n"
MHA_BODY_START = "        B, T, E = query.shape\n"
MHA_TORCH = '''        import torch.nn as tnn

        ref = tnn.MultiheadAttention(self.embed_dim, self.num_heads, dropout=self.dropout,
                                     bias=self.q_proj.bias is not None, batch_first=True, dtype=query.dtype)
        ref.load_state_dict({
            "in_proj_weight": torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight]),
            **({"in_proj_bias": torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]),
                "out_proj.bias": self.out_proj.bias} if self.q_proj.bias is not None else {}),
            "out_proj.weight": self.out_proj.weight,
        })
        ref.train(self.training)
        return ref(query, key, value, key_padding_mask=key_padding_mask, attn_mask=attn_mask,
                   need_weights=need_weights, average_attn_weights=average_attn_weights)
'''
MHA_HIDDEN = '''        import importlib

        functional = importlib.import_module("torch.nn." + "functional")
        attend = getattr(functional, "multi_head_" + "attention_forward")
        bias = self.q_proj.bias
        out, w = attend(
            query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1), self.embed_dim, self.num_heads,
            torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight]),
            None if bias is None else torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]),
            None, None, False, self.dropout, self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            average_attn_weights=average_attn_weights)
        return out.transpose(0, 1), w
'''
ENCODER_BODY_START = "        x = src  # (B, T, E)\n"
ENCODER_TORCH = '''        a = self.self_attn
        layer = nn.TransformerEncoderLayer(
            a.embed_dim, a.num_heads, self.linear1.out_features, self.dropout.p, self.activation,
            batch_first=True, norm_first=self.norm_first, dtype=src.dtype)
        state = {k: v for k, v in self.state_dict().items() if not k.startswith("self_attn.")}
        state["self_attn.in_proj_weight"] = torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight])
        state["self_attn.in_proj_bias"] = torch.cat([a.q_proj.bias, a.k_proj.bias, a.v_proj.bias])
        state["self_attn.out_proj.weight"] = a.out_proj.weight
        state["self_attn.out_proj.bias"] = a.out_proj.bias
        layer.load_state_dict(state)
        layer.train(self.training)
        return layer(src, src_mask=src_mask, src_key_padding_mask=src_key_padding_mask)
'''

MISTAKES = [
    # weights by hand (they are returned), the output from torch's fused kernel through an alias
    Mistake("shortcut-sdpa-alias", (
        change(A, "__all__ = [", "_fast = F.scaled_dot_product_attention\n\n__all__ = ["),
        change(A, SDPA_OUT, "    out = dropped @ v\n    if not training:\n"
                            "        out = _fast(q, k, v, attn_mask=None if mask is None else "
                            "(~mask if mask.dtype == torch.bool else mask))\n")),
        ("sdpa", "mha"), SDPA_TESTS, RULE, passes=MHA_TESTS),
    # the same, the name built from pieces and looked up with eval (static: eval; run time: the operator)
    Mistake("shortcut-sdpa-eval-string", (
        change(A, SDPA_OUT, "    out = dropped @ v\n    if not training:\n"
                            "        out = eval('F.' + 'scaled_dot' + '_product_attention')(q, k, v, attn_mask="
                            "None if mask is None else (~mask if mask.dtype == torch.bool else mask))\n"),),
        ("sdpa",), SDPA_TESTS, RULE),
    # the private binding behind F.scaled_dot_product_attention, through torch.ops (same operator)
    Mistake("shortcut-sdpa-torch-ops", (
        change(A, SDPA_OUT, "    out = dropped @ v\n    if not training and mask is None:\n"
                            "        out = torch.ops.aten.scaled_dot_product_attention(q, k, v)\n"),),
        ("sdpa",), SDPA_TESTS, RULE),
    # invisible to the static scan (no forbidden name, no hiding construct it knows): the call trace sees it
    Mistake("shortcut-sdpa-runtime-only", (
        change(A, SDPA_OUT, "    out = dropped @ v\n    if not training and mask is None:\n"
                            "        out = F.__getattribute__('scaled_dot' + '_product_attention')(q, k, v)\n"),),
        ("sdpa",), ("test_sdpa_no_mask",), r"not written from scratch: the (torch function|operator) \S+ ran"),
    # never runs on the CPU grader (a CUDA-only branch): the static scan sees it
    Mistake("shortcut-sdpa-static-only", (
        change(A, SDPA_OUT, "    out = dropped @ v\n    if q.is_cuda and not training:\n"
                            "        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)\n"),),
        ("sdpa",), SDPA_TESTS, r"not written from scratch: attention\.py line \d+ \(in scaled_dot_product_attention\)"),
    Mistake("shortcut-mha-nn-multiheadattention", (change(A, MHA_BODY_START, MHA_TORCH + MHA_BODY_START),),
            ("mha",), MHA_TESTS, RULE),
    Mistake("shortcut-mha-importlib-getattr", (change(A, MHA_BODY_START, MHA_HIDDEN + MHA_BODY_START),),
            ("mha",), MHA_TESTS, RULE),
    Mistake("shortcut-encoder-torch-layer", (change(TR, ENCODER_BODY_START, ENCODER_TORCH + ENCODER_BODY_START),),
            ("encoder_layer", "mha"), ENCODER_TESTS, RULE, passes=MHA_TESTS),
]

MAIN_CHECK = (
    "        return out, weights\n\n\n"
    "if __name__ == \"__main__\":  # a self-check against torch; grading never runs it\n"
    "    x = torch.randn(2, 3, 4)\n"
    "    ref = F.scaled_dot_product_attention(x, x, x)\n"
    "    assert torch.allclose(scaled_dot_product_attention(x, x, x)[0], ref)\n"
)

ALTERNATIVES = [
    Alternative("attention-self-check-under-main", (
        change(A, "__all__ = [", "import torch.nn.functional\nimport typing  # noqa: F401\n\n__all__ = ["),
        change(A, "        return out, weights\n", MAIN_CHECK)),
        ("sdpa", "mha"), notes="F.scaled_dot_product_attention only in a __main__ self-check; extra imports"),
]
