"""Mistakes and alternatives for lab3/attention.py (causal_mask, sdpa, MultiHeadAttention)."""

from corpus import Alternative, Mistake, change

A = "attention"

MISTAKES = [
    Mistake("sdpa-missing-scale", (change(A, "scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)",
                                          "scores = q @ k.transpose(-2, -1)"),),
            ("sdpa",), ("test_sdpa_no_mask",), r"sqrt\(d_k\)|scale"),
    Mistake("sdpa-softmax-wrong-axis", (change(A, "weights = torch.softmax(scores, dim=-1)",
                                               "weights = torch.softmax(scores, dim=-2)"),),
            ("sdpa",), ("test_sdpa_no_mask",), r"axis|dim"),
    Mistake("sdpa-mask-polarity", (change(A, "scores = scores.masked_fill(mask, float(\"-inf\"))",
                                          "scores = scores.masked_fill(~mask, float(\"-inf\"))"),),
            ("sdpa",), ("test_sdpa_bool_mask",), r"polarity|True.*blocked|inverted"),
    Mistake("sdpa-weights-after-dropout", (change(A, "dropped = F.dropout(weights,", "weights = F.dropout(weights,"),
                                           change(A, "out = dropped @ v", "out = weights @ v")),
            ("sdpa",), ("test_sdpa_dropout",), r"before dropout|dropout"),
    Mistake("causal-mask-diagonal", (change(A, "return torch.triu(ones, diagonal=1)",
                                            "return torch.triu(ones, diagonal=0)"),),
            ("causal_mask",), ("test_causal_mask_values",), r"diagonal"),
    Mistake("causal-mask-inverted", (change(A, "return torch.triu(ones, diagonal=1)",
                                            "return torch.tril(ones, diagonal=0)"),),
            ("causal_mask",), ("test_causal_mask_values",), r"inverted|True must mean blocked"),
    Mistake("mha-merge-without-transpose", (change(A, "out = out.transpose(1, 2).reshape(B, T, E)",
                                                   "out = out.reshape(B, T, E)"),),
            ("mha",), ("test_mha_self_attention",), r"merged|transpose"),
    Mistake("mha-missing-out-proj", (change(A, "out = self.out_proj(out)  # (B, T, E)", "pass"),),
            ("mha",), ("test_mha_self_attention",), r"out_proj"),
]

ALTERNATIVES = [
    Alternative("sdpa-einsum", (change(A, "scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)",
                                       "scores = torch.einsum('...td,...sd->...ts', q, k) * d_k ** -0.5"),),
                ("sdpa", "mha")),
    Alternative("causal-mask-arange", (change(A, "return torch.triu(ones, diagonal=1)",
                                              "idx = torch.arange(size, device=device)\n"
                                              "    return idx[None, :] > idx[:, None]"),),
                ("causal_mask",)),
]

MISTAKES += [
    Mistake("mha-padding-mask-on-queries", (change(A, "masks.append(key_padding_mask.reshape(B, 1, 1, S))",
                                                   "masks.append(key_padding_mask.reshape(B, 1, S, 1))"),),
            ("mha",), ("test_mha_key_padding_mask",), r"size of tensor|mask|padding|differs"),
    Mistake("mha-scale-by-d-model", (change(A, "q, k, v, mask=mask, dropout_p=self.dropout, training=self.training",
                                            "q * (self.head_dim / self.embed_dim) ** 0.5, k, v, mask=mask, "
                                            "dropout_p=self.dropout, training=self.training"),),
            ("mha",), ("test_mha_self_attention",), r"sqrt\(d_model\)|scale"),
    Mistake("mha-dropout-in-eval", (change(A, "dropout_p=self.dropout, training=self.training",
                                           "dropout_p=self.dropout, training=True"),),
            ("mha",), ("test_mha_self_attention",), r"dropout must only act in training"),
    Mistake("sdpa-mask-after-softmax", (
        change(A, 'scores = scores.masked_fill(mask, float("-inf"))', "pass"),
        change(A, "weights = torch.softmax(scores, dim=-1)  # (..., T, S), rows sum to 1",
               "weights = torch.softmax(scores, dim=-1)\n"
               "    if mask is not None and mask.dtype == torch.bool:\n"
               "        weights = weights.masked_fill(mask, 0.0)")),
            ("sdpa",), ("test_sdpa_bool_mask",), r"after the softmax"),
]

ALTERNATIVES += [
    Alternative("mha-split-with-reshape-permute", (
        change(A, "q = self.q_proj(query).view(B, T, H, d_k).transpose(1, 2)",
               "q = self.q_proj(query).reshape(B, T, H, d_k).permute(0, 2, 1, 3)"),
        change(A, "out = out.transpose(1, 2).reshape(B, T, E)", "out = out.permute(0, 2, 1, 3).flatten(2)")),
        ("mha",)),
    Alternative("sdpa-bool-mask-via-where", (
        change(A, 'scores = scores.masked_fill(mask, float("-inf"))',
               'scores = torch.where(mask, torch.full_like(scores, float("-inf")), scores)'),),
        ("sdpa", "mha")),
]
