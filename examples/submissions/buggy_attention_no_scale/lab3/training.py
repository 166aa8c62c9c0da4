"""The training loop of Exercise 3: mixed precision, gradient accumulation, clipping, schedules.

One loop serves CPU and GPU (nanoGPT's idiom): ``torch.autocast(..., enabled=amp)`` is a no-op when
AMP is off and a ``GradScaler(enabled=False)`` is a pass-through, so there is no separate CUDA branch.

* ``train_one_epoch`` (TODO) — one pass over a loader; returns loss / steps / throughput.
* ``evaluate`` — loss and accuracy of a classifier (cross-entropy), without gradients.
* ``fit`` — epochs with a tqdm bar, TensorBoard scalars, best / last checkpoints, resumable.
* ``find_batch_size`` — the largest micro-batch that fits in GPU memory, with the accumulation
  steps that keep the effective batch.

AMP on the two devices:

=========  ==================  ==========  ==========================================================
device     autocast dtype      GradScaler  why
=========  ==================  ==========  ==========================================================
CUDA       float16 (default)   yes         float16 has 5 exponent bits: small gradients underflow to 0
                                           unless the loss is scaled up before backward
CPU        bfloat16 (default)  no          bfloat16 has float32's exponent range: nothing underflows
=========  ==================  ==========  ==========================================================
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "default_amp_dtype",
    "evaluate",
    "find_batch_size",
    "fit",
    "resolve_device",
    "train_one_epoch",
]


def resolve_device(model: nn.Module, device: torch.device | str | None = None) -> torch.device:
    """``device`` as a ``torch.device``; when ``None``, the device of the model's first parameter (CPU
    for a model without parameters)."""
    if device is not None:
        return torch.device(device)
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def default_amp_dtype(device: torch.device | str) -> torch.dtype:
    """The autocast dtype used when none is given: ``float16`` on CUDA, ``bfloat16`` elsewhere (CPU)."""
    return torch.float16 if torch.device(device).type == "cuda" else torch.bfloat16


def train_one_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    device: torch.device | str | None = None,
    amp: bool = False,
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    accumulation_steps: int = 1,
    max_grad_norm: float | None = None,
    scheduler: Any | None = None,
    writer: Any | None = None,
    global_step: int = 0,
) -> dict[str, float | int]:
    """Train ``model`` for one pass over ``loader`` and return what happened.

    Args:
        model: put in training mode (``model.train()``) first; already on ``device``.
        loader: yields ``(inputs, targets)`` micro-batches; move both to ``device``.
        optimizer: a ``torch.optim`` optimizer over the model's parameters.
        loss_fn: ``loss_fn(outputs, targets)`` -> scalar, the **mean** over the micro-batch.
        device: where to run; ``None`` = the device of the model's parameters (:func:`resolve_device`).
        amp: run forward and loss under autocast.
        amp_dtype: the autocast dtype; ``None`` = ``float16`` on CUDA, ``bfloat16`` on CPU
            (:func:`default_amp_dtype`).
        scaler: a ``torch.amp.GradScaler`` to use when AMP runs in float16; ``None`` = make one.
        accumulation_steps: ``k``, the micro-batches whose gradients add up to one optimizer step.
        max_grad_norm: clip the total gradient norm (``nn.utils.clip_grad_norm_``) to this before each
            step; ``None`` = no clipping.
        scheduler: an LR scheduler stepped after each optimizer step; ``None`` = none.
        writer: a TensorBoard ``SummaryWriter``; ``None`` = no logging.
        global_step: optimizer steps taken before this epoch (the x-axis of the logged scalars).

    The rules (each one is checked):

    1. Forward pass **and** loss run inside
       ``torch.autocast(device.type, dtype=amp_dtype or (float16 on CUDA, bfloat16 on CPU), enabled=amp)``;
       ``backward()`` runs **outside** it. With ``amp=False`` everything stays float32.
    2. A ``GradScaler`` (the given one, or a new ``torch.amp.GradScaler(device.type)``) is used **exactly
       when AMP runs in float16**: ``scaler.scale(loss).backward()``, ``scaler.step(optimizer)``,
       ``scaler.update()``. Otherwise no scaling at all (bfloat16 and float32 need none): plain
       ``backward()`` / ``optimizer.step()``, or ``GradScaler(enabled=False)``, which passes through.
    3. Each micro-batch's loss is divided by ``accumulation_steps`` before ``backward()``, so the gradients
       of ``k`` micro-batches of size ``b`` add up to the gradient of the mean loss on all ``k·b`` samples.
    4. An optimizer step every ``accumulation_steps`` micro-batches, **and** one more at the end of the
       epoch for a leftover (fewer than ``k`` micro-batches whose gradients are pending). With
       ``amp=False``, ``accumulation_steps=k`` and micro-batches of size ``b``, the weights after the step
       equal those of one step on the concatenated batch of ``k·b`` (models without batch-norm).
    5. Clipping: ``scaler.unscale_(optimizer)`` **before** ``clip_grad_norm_`` (clip the true gradients,
       not the scaled ones), then ``scaler.step``.
    6. ``scheduler.step()`` once per **optimizer** step (not per micro-batch), after the optimizer step.
    7. ``optimizer.zero_grad(set_to_none=True)`` after each optimizer step.
    8. With a ``writer``: one scalar per optimizer step at ``global_step`` for ``train/loss`` (that step's
       mean loss), ``train/lr`` (``optimizer.param_groups[0]["lr"]`` used by the step) and, when
       clipping, ``train/grad_norm`` (the norm before clipping); ``train/samples_per_s`` at the end.

    Returns:
        ``{"loss": float, "steps": int, "samples_per_s": float, "global_step": int}`` —
        ``loss`` is the mean **per sample** over the epoch of the unscaled, undivided loss
        (micro-batch mean weighted by the micro-batch size), ``steps`` the optimizer steps taken
        (``ceil(num_micro_batches / k)``), ``samples_per_s`` the throughput (samples / wall seconds),
        ``global_step`` the input ``global_step`` plus ``steps``.

    Hint: keep the running loss as a tensor (``loss.detach() * n``) and call ``.item()`` once at the
    end — a ``.item()`` per micro-batch waits for the GPU every time.
    """
    if accumulation_steps < 1:
        raise ValueError(f"accumulation_steps must be >= 1, got {accumulation_steps}")
    device = resolve_device(model, device)
    dtype = amp_dtype or default_amp_dtype(device)
    use_scaler = amp and dtype == torch.float16
    if not use_scaler:
        scaler = torch.amp.GradScaler(device.type, enabled=False)  # pass-through: no scaling
    elif scaler is None:
        scaler = torch.amp.GradScaler(device.type)

    model.train()
    optimizer.zero_grad(set_to_none=True)
    total_loss = torch.zeros((), device=device)  # sum of per-sample losses, no sync per batch
    step_loss = torch.zeros((), device=device)  # the same, for the pending optimizer step
    samples = step_samples = pending = steps = 0
    start = time.perf_counter()

    def optimizer_step() -> None:
        nonlocal steps, global_step, step_loss, step_samples
        grad_norm = None
        if max_grad_norm is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            grad_norm = nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        lr = optimizer.param_groups[0]["lr"]
        scaler.step(optimizer)  # skips the step when float16 gradients overflowed
        scaler.update()
        if scheduler is not None:
            scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        steps += 1
        global_step += 1
        if writer is not None:
            writer.add_scalar("train/loss", (step_loss / max(1, step_samples)).item(), global_step)
            writer.add_scalar("train/lr", lr, global_step)
            if grad_norm is not None:
                writer.add_scalar("train/grad_norm", float(grad_norm), global_step)
        step_loss = torch.zeros((), device=device)
        step_samples = 0

    for inputs, targets in loader:
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            outputs = model(inputs)
            loss = loss_fn(outputs, targets)
        scaler.scale(loss / accumulation_steps).backward()  # outside autocast

        n = targets.shape[0]
        batch_loss = loss.detach().float() * n
        total_loss += batch_loss
        step_loss += batch_loss
        samples += n
        step_samples += n
        pending += 1
        if pending == accumulation_steps:
            optimizer_step()
            pending = 0
    if pending:  # the leftover micro-batches of the epoch still make a step
        optimizer_step()

    epoch_loss = total_loss.item() / max(1, samples)  # .item() also waits for the device
    elapsed = time.perf_counter() - start
    samples_per_s = samples / elapsed if elapsed > 0 else 0.0
    if writer is not None:
        writer.add_scalar("train/samples_per_s", samples_per_s, global_step)
    return {"loss": epoch_loss, "steps": steps, "samples_per_s": samples_per_s, "global_step": global_step}


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: Iterable, device: torch.device | str | None = None, amp: bool = False
) -> dict[str, float]:
    """Mean cross-entropy loss and accuracy of a classifier over ``loader`` (``(inputs, targets)``
    batches), in eval mode and without gradients; the model's train/eval mode is restored afterwards.
    With ``amp=True`` the forward pass runs under autocast in :func:`default_amp_dtype`."""
    device = resolve_device(model, device)
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.long)
    count = 0
    try:
        for inputs, targets in loader:
            inputs = inputs.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=default_amp_dtype(device), enabled=amp):
                logits = model(inputs)
            logits = logits.float()
            total_loss += F.cross_entropy(logits, targets, reduction="sum").double()
            correct += (logits.argmax(dim=-1) == targets).sum()
            count += targets.shape[0]
    finally:
        model.train(was_training)
    if count == 0:
        return {"loss": 0.0, "accuracy": 0.0}
    return {"loss": total_loss.item() / count, "accuracy": correct.item() / count}


def _current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable | None = None,
    *,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    scheduler: Any | None = None,
    device: torch.device | str | None = None,
    amp: bool = False,
    amp_dtype: torch.dtype | None = None,
    accumulation_steps: int = 1,
    max_grad_norm: float | None = None,
    log_dir: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    train_eval_loader: Iterable | None = None,
    restore_best: bool = False,
    progress: bool = True,
    time_budget_s: float | None = None,
) -> list[dict[str, float]]:
    """Train for ``epochs`` epochs with :func:`train_one_epoch`, evaluating after each one.

    Args:
        model: moved to ``device`` (default: where the model already is).
        train_loader / val_loader: ``(inputs, targets)`` loaders; ``val_loader`` may be ``None``.
        optimizer / scheduler: the scheduler is stepped per optimizer step (``build_scheduler`` with
            ``total_steps = epochs * ceil(len(train_loader) / accumulation_steps)``).
        loss_fn: default ``nn.CrossEntropyLoss()``.
        amp, amp_dtype, accumulation_steps, max_grad_norm: passed to :func:`train_one_epoch`; one
            ``GradScaler`` lives across epochs when AMP runs in float16.
        log_dir: TensorBoard folder (e.g. ``lab3.utils.runs_dir("ex3/adamw")``): per step ``train/loss``,
            ``train/lr``, ``train/grad_norm``; per epoch ``epoch/train_loss``, ``epoch/val_loss``,
            ``epoch/val_accuracy``, ``epoch/train_accuracy``, ``epoch/lr``, ``epoch/samples_per_s``.
        checkpoint_dir: writes ``last.pt`` (model, optimizer, scheduler, scaler, history) after each
            epoch and ``best.pt`` (model weights) whenever validation accuracy improves.
        resume: continue from ``checkpoint_dir/last.pt`` when it exists (the remaining epochs only).
        train_eval_loader: when given, the accuracy on it (no augmentation, eval mode) is recorded as
            ``train_accuracy`` — the train/test gap of the regularization study.
        restore_best: load ``best.pt`` into the model at the end.
        progress: show a tqdm bar over epochs (and a transient one over batches).
        time_budget_s: stop after the epoch during which this many seconds have passed.

    Returns:
        The history, one dict per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``val_accuracy``,
        ``train_accuracy`` (when measured), ``lr`` (at the end of the epoch), ``samples_per_s``,
        ``epoch_time_s``, ``global_step``.
    """
    from tqdm.auto import tqdm

    device = torch.device(device) if device is not None else resolve_device(model)
    model.to(device)
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    use_scaler = amp and (amp_dtype or default_amp_dtype(device)) == torch.float16
    scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)
    writer = _summary_writer(log_dir)
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if ckpt is not None:
        ckpt.mkdir(parents=True, exist_ok=True)
    history: list[dict[str, float]] = []
    start_epoch, global_step, best = 0, 0, -math.inf
    if resume and ckpt is not None and (ckpt / "last.pt").exists():
        start_epoch, global_step, best, history = _resume(ckpt / "last.pt", model, optimizer, scheduler, scaler,
                                                          device)

    # Log the gradient norm even without clipping: clipping to +inf measures it and changes nothing.
    clip = max_grad_norm if max_grad_norm is not None else (math.inf if writer is not None else None)
    started = time.perf_counter()
    bar = tqdm(
        range(start_epoch, epochs), desc="epochs", disable=not progress, initial=start_epoch, total=epochs
    )
    try:
        for epoch in bar:
            t0 = time.perf_counter()
            batches = tqdm(train_loader, desc=f"epoch {epoch + 1}", leave=False, disable=not progress)
            stats = train_one_epoch(
                model,
                batches,
                optimizer,
                loss_fn,
                device=device,
                amp=amp,
                amp_dtype=amp_dtype,
                scaler=scaler,
                accumulation_steps=accumulation_steps,
                max_grad_norm=clip,
                scheduler=scheduler,
                writer=writer,
                global_step=global_step,
            )
            global_step = stats["global_step"]
            row = _epoch_row(epoch, stats, model, optimizer, val_loader, train_eval_loader, device, amp, t0)
            history.append(row)
            _log_epoch(writer, row, epoch)
            bar.set_postfix({k: f"{row[k]:.3f}" for k in ("train_loss", "val_accuracy") if k in row})
            metric = row.get("val_accuracy", -row["train_loss"])
            if ckpt is not None:
                _save_checkpoints(ckpt, model, optimizer, scheduler, scaler, epoch, global_step, metric, best,
                                  history)
            best = max(best, metric)
            if time_budget_s is not None and time.perf_counter() - started > time_budget_s:
                break
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    if restore_best and ckpt is not None and (ckpt / "best.pt").exists():
        model.load_state_dict(torch.load(ckpt / "best.pt", map_location=device, weights_only=True)["model"])
    return history


def _summary_writer(log_dir: str | Path | None) -> Any:
    """A TensorBoard ``SummaryWriter`` for ``log_dir`` (``None`` when no folder is given)."""
    if log_dir is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(log_dir))


def _resume(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
            scaler: torch.amp.GradScaler, device: torch.device) -> tuple[int, int, float, list[dict[str, float]]]:
    """Load ``last.pt`` into the training objects; returns ``(epoch, global_step, best metric, history)``."""
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    return state["epoch"], state["global_step"], state["best"], list(state["history"])


def _epoch_row(epoch: int, stats: dict[str, float], model: nn.Module, optimizer: torch.optim.Optimizer,
               val_loader: Iterable | None, train_eval_loader: Iterable | None, device: torch.device, amp: bool,
               t0: float) -> dict[str, float]:
    """One history entry: the epoch's training figures plus the evaluations asked for."""
    row: dict[str, float] = {"epoch": epoch + 1, "train_loss": stats["loss"]}
    if val_loader is not None:
        val = evaluate(model, val_loader, device=device, amp=amp)
        row.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
    if train_eval_loader is not None:
        row["train_accuracy"] = evaluate(model, train_eval_loader, device=device, amp=amp)["accuracy"]
    row.update(
        lr=_current_lr(optimizer),
        samples_per_s=stats["samples_per_s"],
        epoch_time_s=time.perf_counter() - t0,
        global_step=stats["global_step"],
    )
    return row


def _log_epoch(writer: Any, row: dict[str, float], epoch: int) -> None:
    """Per-epoch TensorBoard scalars ``epoch/<key>``."""
    if writer is None:
        return
    for key, value in row.items():
        if key not in ("epoch", "global_step"):
            writer.add_scalar(f"epoch/{key}", value, epoch + 1)
    writer.flush()


def _save_checkpoints(ckpt: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                      scaler: torch.amp.GradScaler, epoch: int, global_step: int, metric: float, best: float,
                      history: list[dict[str, float]]) -> None:
    """``best.pt`` when ``metric`` beats ``best``; ``last.pt`` (everything needed to resume) always."""
    if metric > best:
        torch.save({"model": model.state_dict(), "epoch": epoch + 1, "metric": metric}, ckpt / "best.pt")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "scaler": scaler.state_dict(),
            "epoch": epoch + 1,
            "global_step": global_step,
            "best": max(best, metric),
            "history": history,
        },
        ckpt / "last.pt",
    )


def _is_oom(error: BaseException) -> bool:
    oom = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
    return isinstance(error, (oom, torch.cuda.OutOfMemoryError)) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
    )


def find_batch_size(
    model: nn.Module,
    make_batch: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    target_batch_size: int,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    device: torch.device | str | None = None,
    amp: bool = False,
    amp_dtype: torch.dtype | None = None,
    min_batch_size: int = 1,
) -> tuple[int, int]:
    """The largest micro-batch that trains without running out of (CUDA) memory, and the accumulation
    steps that keep the effective batch: returns ``(micro_batch, accumulation_steps)`` with
    ``micro_batch * accumulation_steps == target_batch_size``.

    Tries one forward + backward pass (train mode, autocast as in :func:`train_one_epoch`) on
    ``make_batch(b)`` for ``b = target_batch_size`` and, after each out-of-memory error, the largest
    divisor of the target that is at most half the failed size. The model's weights and buffers
    (e.g. batch-norm statistics) are restored afterwards and its gradients set to ``None``. Raises
    ``RuntimeError`` when even ``min_batch_size`` does not fit.
    """
    device = resolve_device(model, device)
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    dtype = amp_dtype or default_amp_dtype(device)
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    was_training = model.training
    batch = target_batch_size
    try:
        while batch >= max(1, min_batch_size):
            oom = False
            try:
                model.train()
                inputs, targets = make_batch(batch)
                inputs, targets = inputs.to(device), targets.to(device)
                with torch.autocast(device.type, dtype=dtype, enabled=amp):
                    loss = loss_fn(model(inputs), targets)
                loss.backward()
                return batch, target_batch_size // batch
            except Exception as error:  # noqa: BLE001 - only OOM is handled, the rest re-raised
                if not _is_oom(error):
                    raise
                oom = True
            finally:
                inputs = targets = loss = None  # drop references before freeing the cache
                for p in model.parameters():
                    p.grad = None
                if oom:
                    gc.collect()
                    if torch.cuda.is_available():
                        torch.cuda.empty_cache()
            smaller = batch // 2
            while smaller >= 1 and target_batch_size % smaller:
                smaller -= 1
            batch = smaller
    finally:
        model.load_state_dict(saved)
        model.train(was_training)
    raise RuntimeError(
        f"out of memory even with micro-batch {max(1, min_batch_size)}: use a smaller model, AMP or "
        "gradient checkpointing"
    )
