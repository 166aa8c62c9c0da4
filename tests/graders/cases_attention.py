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
