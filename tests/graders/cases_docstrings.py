"""Mistakes against docstring promises that the graders used to miss (autograder/graders/AUDIT.md):
each of these once kept full marks; now each loses points in the test that grades the promise, with
a message that names it, and leaves the area's other tests alone."""

from corpus import Mistake, change

A, P, TR, T, TRAIN, O = "attention", "positional", "transformer", "transfer", "training", "optim"

MISTAKES = [
    # sdpa: "dropout_p: dropout probability applied to the attention weights"
    Mistake("sdpa-fixed-dropout-probability",
            (change(A, "dropped = F.dropout(weights, p=dropout_p, training=training)",
                    "dropped = F.dropout(weights, p=0.5 if dropout_p else 0.0, training=training)"),),
            ("sdpa",), ("test_sdpa_dropout",), r"dropout_p=0\.2.*use the dropout_p argument",
            passes=("test_sdpa_no_mask", "test_sdpa_bool_mask")),
    # MultiHeadAttention: "dropout: dropout probability on the attention weights (training only)"
    Mistake("mha-dropout-never-applied",
            (change(A, "q, k, v, mask=mask, dropout_p=self.dropout, training=self.training",
                    "q, k, v, mask=mask, dropout_p=0.0, training=self.training"),),
            ("mha",), ("test_mha_dropout_in_training",), r"no attention weight was dropped",
            passes=("test_mha_self_attention", "test_mha_backward")),
    # MultiHeadAttention: "bool ... or float ...; when both masks are given ... (float masks add up)"
    Mistake("mha-mixed-masks-bool-as-one",
            (change(A, 'torch.zeros(m.shape, dtype=q.dtype, device=q.device).masked_fill(m, float("-inf"))',
                    "m.to(q.dtype)"),),
            ("mha",), ("test_mha_float_masks",), r"bool attn_mask and a float key_padding_mask",
            passes=("test_mha_per_head_mask_and_padding", "test_mha_key_padding_mask")),
    # SinusoidalPositionalEncoding: "ValueError: when d_model is odd or not positive"
    Mistake("pe-negative-d-model-accepted",
            (change(P, "if d_model <= 0 or d_model % 2 != 0:", "if d_model == 0 or d_model % 2 != 0:"),),
            ("pe",), ("test_pe_errors",), r"SinusoidalPositionalEncoding\(-4\).*must raise ValueError",
            passes=("test_pe_table_values", "test_pe_forward")),
    # forward: "ValueError: when T > max_len" (T == max_len is allowed)
    Mistake("pe-off-by-one-max-len",
            (change(P, "if T > self.pe.size(0):", "if T >= self.pe.size(0):"),),
            ("pe",), ("test_pe_errors",), r"exactly max_len=10.*only T > max_len",
            passes=("test_pe_forward",)),
    # encoder layer: "ff(x) = dropout2(linear2(dropout(activation(linear1(x)))))"
    Mistake("encoder-missing-dropout2",
            (change(TR, "x = self.norm2(x + self.dropout2(ff))", "x = self.norm2(x + ff)"),),
            ("encoder_layer",), ("test_encoder_layer_dropout_in_training_only",),
            r"norm_first=False\): the dropouts must act.*dropout2",
            passes=("test_encoder_layer_post_norm", "test_encoder_layer_masks")),
    # encoder layer: "activation: "relu", "gelu" or a callable" — use self.activation
    Mistake("encoder-activation-by-name",
            (change(TR, "ff = self.linear2(self.dropout(self.activation(self.linear1(h))))",
                    "ff = self.linear2(self.dropout((F.gelu if self.activation is F.gelu else F.relu)"
                    "(self.linear1(h))))"),),
            ("encoder_layer",), ("test_encoder_layer_other_masks_and_activation",), r"torch\.tanh",
            passes=("test_encoder_layer_pre_norm", "test_encoder_layer_backward")),
    # replace_head: "Create the layer on the old head's device and dtype"
    Mistake("replace-head-default-dtype",
            (change(T, "bias=old.bias is not None,\n                         device=old.weight.device, "
                       "dtype=old.weight.dtype)", "bias=old.bias is not None)"),),
            ("replace_head",), ("test_replace_head_keeps_dtype",), r"float64.*new head is float32",
            passes=("test_replace_head_torchvision_resnet", "test_replace_head_timm")),
    # freeze_backbone: "every parameter of head has requires_grad=True"
    Mistake("freeze-only-freezes-the-rest",
            (change(T, "    for p in model.parameters():\n        p.requires_grad_(id(p) in head_ids)\n"
                       "    for p in head_params:\n        p.requires_grad_(True)\n",
                    "    for p in model.parameters():\n        if id(p) not in head_ids:\n"
                    "            p.requires_grad_(False)\n"),),
            ("freeze",), ("test_freeze_returns_head_parameters",), r"left the head frozen",
            passes=("test_freeze_bn_statistics_resnet_after_train",)),
    # param_groups: "frozen parameters are left out"
    Mistake("param-groups-include-frozen",
            (change(T, "        if p.requires_grad:\n            (head_params if id(p) in head_ids else backbone)"
                       ".append(p)",
                    "        (head_params if id(p) in head_ids else backbone).append(p)"),),
            ("param_groups",), ("test_param_groups_partially_frozen_model",), r"frozen parameters.*leave them out",
            passes=("test_param_groups_cover_each_parameter_once",)),
    # param_groups: "leave out a group that would be empty"
    Mistake("param-groups-empty-group",
            (change(T, 'return [g for g in groups if g["params"]]', "return groups"),),
            ("param_groups",), ("test_param_groups_no_empty_group",), r"empty",
            passes=("test_param_groups_learning_rates_and_weight_decay",)),
    # train_one_epoch: "max_grad_norm: clip the total gradient norm ... before each step" (not only with AMP)
    Mistake("train-clip-only-with-scaler",
            (change(TRAIN, "        if max_grad_norm is not None:\n",
                    "        if max_grad_norm is not None and use_scaler:\n"),),
            ("train_loop", "amp"), ("test_train_loop_clipping_without_amp",), r"with or without AMP",
            passes=("test_amp_unscale_before_clipping", "test_train_loop_matches_reference")),
    # train_one_epoch: "scaler: ... None = make one" (float16 on the CPU as well)
    Mistake("train-no-scaler-made",
            (change(TRAIN, "        scaler = torch.amp.GradScaler(device.type)\n",
                    "        scaler = torch.amp.GradScaler(device.type, enabled=False)\n"),),
            ("amp",), ("test_amp_float16_makes_a_grad_scaler",), r"without a given scaler, make one",
            passes=("test_amp_float16_uses_the_grad_scaler",)),
    # train_one_epoch rule 8: "train/loss ..., train/lr ..., train/grad_norm ...; train/samples_per_s"
    Mistake("train-writer-wrong-tag",
            (change(TRAIN, 'writer.add_scalar("train/lr", lr, global_step)',
                    'writer.add_scalar("lr", lr, global_step)'),),
            ("train_loop",), ("test_train_loop_writer",), r"'train/lr' must be logged 3 time",
            passes=("test_train_loop_return_values",)),
    # build_optimizer: "(case-insensitive)"
    Mistake("optimizer-case-sensitive",
            (change(O, "key = name.lower() if isinstance(name, str) else name", "key = name"),),
            ("optimizer",), ("test_build_optimizer_names_betas_and_tied_weights",), r"case-insensitive",
            passes=("test_build_optimizer_param_groups", "test_build_optimizer_unknown_name")),
    # build_optimizer: "betas: Adam/AdamW betas"
    Mistake("optimizer-adamw-default-betas",
            (change(O, "return torch.optim.AdamW(groups, lr=lr, betas=betas)",
                    "return torch.optim.AdamW(groups, lr=lr)"),),
            ("optimizer",), ("test_build_optimizer_names_betas_and_tied_weights",), r"betas.*AdamW",
            passes=("test_build_optimizer_param_groups",)),
    # build_optimizer: "a parameter shared by two modules only once" (per-module iteration lists it twice)
    Mistake("optimizer-tied-weight-twice",
            (change(O, "    for p in model.parameters():\n        if not p.requires_grad or id(p) in seen:",
                    "    for p in [q for m in model.modules() for q in m.parameters(recurse=False)]:\n"
                    "        if not p.requires_grad:"),),
            ("optimizer",), ("test_build_optimizer_names_betas_and_tied_weights",), r"tied weight",
            passes=("test_build_optimizer_param_groups",)),
    # build_optimizer: "anything else raises ValueError naming the accepted values"
    Mistake("optimizer-error-names-nothing",
            (change(O, "raise ValueError(f\"unknown optimizer {name!r}: expected one of {', '.join(OPTIMIZERS)}\")",
                    "raise ValueError(f\"unknown optimizer {name!r}\")"),),
            ("optimizer",), ("test_build_optimizer_unknown_name",), r"must name the accepted values"),
]
