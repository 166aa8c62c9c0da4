"""Mistakes and alternatives for lab3/training.py (train_one_epoch) and lab3/optim.py."""

from corpus import Alternative, Mistake, change

T, O = "training", "optim"

MISTAKES = [
    Mistake(
        "train-loss-not-divided",
        (change(T, "scaler.scale(loss / accumulation_steps).backward()", "scaler.scale(loss).backward()"),),
        ("accumulation",),
        ("test_accumulation_sgd_equals_large_batch",),
        r"not divided by accumulation_steps",
    ),
    Mistake(
        "train-leftover-dropped",
        (change(T, "    if pending:  # the leftover", "    if False:  # the leftover"),),
        ("accumulation",),
        ("test_accumulation_leftover_step",),
        r"leftover",
    ),
    Mistake(
        "train-scheduler-per-micro-batch",
        (
            change(T, "        if scheduler is not None:\n            scheduler.step()\n", ""),
            change(
                T,
                "backward()  # outside autocast\n",
                "backward()  # outside autocast\n        if scheduler is not None:\n"
                "            scheduler.step()\n",
            ),
        ),
        ("schedule",),
        ("test_scheduler_steps_once_per_optimizer_step",),
        r"once per micro-batch",
    ),
    Mistake(
        "train-scheduler-before-optimizer",
        (
            change(T, "        if scheduler is not None:\n            scheduler.step()\n", ""),
            change(
                T,
                '        lr = optimizer.param_groups[0]["lr"]\n',
                "        if scheduler is not None:\n            scheduler.step()\n"
                '        lr = optimizer.param_groups[0]["lr"]\n',
            ),
        ),
        ("schedule",),
        ("test_scheduler_steps_after_the_optimizer",),
        r"before the optimizer",
    ),
    Mistake(
        "train-clip-scaled-gradients",
        (change(T, "scaler.unscale_(optimizer)  # clip the true", "pass  # clip the true"),),
        ("amp",),
        ("test_amp_unscale_before_clipping",),
        r"unscale_",
    ),
    Mistake(
        "train-backward-inside-autocast",
        (
            change(
                T,
                "            loss = loss_fn(outputs, targets)\n        scaler.scale(",
                "            loss = loss_fn(outputs, targets)\n            scaler.scale(",
            ),
        ),
        ("amp",),
        ("test_amp_bfloat16_on_cpu",),
        r"backward\(\) ran inside autocast",
    ),
    Mistake(
        "train-no-scaler-for-float16",
        (change(T, "use_scaler = amp and dtype == torch.float16", "use_scaler = False"),),
        ("amp",),
        ("test_amp_float16_uses_the_grad_scaler",),
        r"scale the loss",
    ),
    Mistake(
        "train-scaler-always",
        (change(T, "use_scaler = amp and dtype == torch.float16", "use_scaler = True"),),
        ("amp",),
        ("test_amp_scaler_only_for_float16",),
        r"must not be used",
    ),
    Mistake(
        "train-float16-default-on-cpu",
        (
            change(
                T,
                "dtype = amp_dtype or default_amp_dtype(device)\n    use_scaler",
                "dtype = amp_dtype or torch.float16\n    use_scaler",
            ),
        ),
        ("amp",),
        ("test_amp_bfloat16_on_cpu",),
        r"bfloat16",
    ),
    Mistake(
        "train-no-zero-grad",
        (
            change(
                T, "        optimizer.zero_grad(set_to_none=True)\n        steps += 1", "        steps += 1"
            ),
        ),
        ("train_loop",),
        ("test_train_loop_matches_reference",),
        r"zero_grad",
    ),
    Mistake(
        "train-no-model-train",
        (
            change(
                T,
                "    model.train()\n    optimizer.zero_grad(set_to_none=True)\n    total_loss",
                "    optimizer.zero_grad(set_to_none=True)\n    total_loss",
            ),
        ),
        ("train_loop",),
        ("test_train_loop_return_values",),
        r"model\.train\(\)",
    ),
    Mistake(
        "train-reported-loss-divided",
        (
            change(
                T,
                "batch_loss = loss.detach().float() * n",
                "batch_loss = loss.detach().float() * n / accumulation_steps",
            ),
        ),
        ("accumulation",),
        ("test_accumulation_reported_loss_is_undivided",),
        r"divided by accumulation_steps",
    ),
    Mistake(
        "optim-decay-everywhere",
        (change(O, "(decay if p.ndim >= 2 else no_decay).append(p)", "decay.append(p)"),),
        ("optimizer",),
        ("test_build_optimizer_param_groups",),
        r"no-decay|no weight decay|biases",
    ),
    Mistake(
        "optim-sgd-without-momentum",
        (change(O, "torch.optim.SGD(groups, lr=lr, momentum=momentum)", "torch.optim.SGD(groups, lr=lr)"),),
        ("optimizer",),
        ("test_build_optimizer_types_and_hyperparameters",),
        r"momentum",
    ),
    Mistake(
        "optim-unknown-name-accepted",
        (change(O, "    if key not in OPTIMIZERS:\n", "    if False:\n"),),
        ("optimizer",),
        ("test_build_optimizer_unknown_name",),
        r"ValueError",
    ),
    Mistake(
        "schedule-warmup-off-by-one",
        (
            change(
                O,
                "return float(step) / float(max(1, warmup_steps))",
                "return float(step + 1) / float(max(1, warmup_steps))",
            ),
        ),
        ("schedule",),
        ("test_warmup_cosine_matches_transformers",),
        r"warmup starts at 0",
    ),
    Mistake(
        "schedule-min-lr-ignored",
        (
            change(
                O, "return max(0.0, min_lr_ratio + (1.0 - min_lr_ratio) * cosine)", "return max(0.0, cosine)"
            ),
        ),
        ("schedule",),
        ("test_warmup_cosine_min_lr_ratio",),
        r"min_lr_ratio is ignored",
    ),
]

ALTERNATIVES = [
    Alternative(
        "train-loss-item-per-batch",
        (change(T, "batch_loss = loss.detach().float() * n", "batch_loss = loss.item() * n"),),
        ("train_loop", "accumulation"),
    ),
    Alternative(
        "train-explicit-scaler-branch",
        (
            change(
                T,
                "scaler.scale(loss / accumulation_steps).backward()",
                "(scaler.scale(loss / accumulation_steps) if use_scaler else loss / accumulation_steps)"
                ".backward()",
            ),
        ),
        ("amp",),
    ),
    Alternative(
        "schedule-no-max",
        (
            change(
                O,
                "return max(0.0, min_lr_ratio + (1.0 - min_lr_ratio) * cosine)",
                "return min_lr_ratio + (1.0 - min_lr_ratio) * cosine",
            ),
        ),
        ("schedule",),
    ),
]
