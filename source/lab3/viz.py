"""Plots for the lab: attention heat-maps (one panel per head), confusion matrices, learning curves.

Every ``plot_*`` function returns a matplotlib ``Figure`` made through pyplot (:func:`new_figure`), so it
displays in a notebook cell like any ``plt.subplots`` figure: at the end of the cell, or where the cell calls
``plt.show()``. Nothing here calls ``plt.show()``, picks a backend or changes ``rcParams``: the caller's
setup (``%matplotlib inline``, ``MPLBACKEND=Agg`` in a script) decides. A script that saves many figures
closes each one with ``plt.close(fig)`` after ``fig.savefig(...)``.
:func:`capture_attention` records the per-head attention weights of every ``MultiHeadAttention``
inside a model during one forward pass, whatever the model is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "capture_attention",
    "new_figure",
    "plot_attention",
    "plot_confusion_matrix",
    "plot_learning_curves",
    "plot_length_sweep",
]


def new_figure(**kwargs: Any):
    """``plt.figure(**kwargs)``: a new figure registered with pyplot, so that it displays in a notebook cell.

    A ``matplotlib.figure.Figure(...)`` made directly is not registered: ``plt.show()`` and the inline
    backend never draw it. The backend and ``rcParams`` are left as they are.
    """
    import matplotlib.pyplot as plt

    return plt.figure(**kwargs)


@contextmanager
def _no_hooks(handles: list) -> Any:
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def capture_attention(model: nn.Module, forward: Callable[[], Any]) -> dict[str, Tensor]:
    """Run ``forward()``; return the weights of every ``lab3`` ``MultiHeadAttention`` inside ``model``.

    Layers usually call attention with ``need_weights=False``; a forward hook repeats each call with
    ``need_weights=True, average_attn_weights=False`` to read the weights without changing the layer code.

    Args:
        model: any module containing ``lab3.attention.MultiHeadAttention`` sub-modules.
        forward: a zero-argument callable that runs the model, e.g. ``lambda: model(src, tgt_in)``.

    Returns:
        ``{module name: weights (B, H, T, S)}``; a module called several times (greedy decoding)
        keeps its last call.
    """
    from lab3.attention import MultiHeadAttention

    captured: dict[str, Tensor] = {}
    busy = {"flag": False}

    def make_hook(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            if busy["flag"]:
                return
            busy["flag"] = True
            try:
                kw = {**kwargs, "need_weights": True, "average_attn_weights": False}
                _, weights = module(*args, **kw)
                captured[name] = weights.detach().cpu()
            finally:
                busy["flag"] = False

        return hook

    handles = [
        m.register_forward_hook(make_hook(name), with_kwargs=True)
        for name, m in model.named_modules()
        if isinstance(m, MultiHeadAttention)
    ]
    was_training = model.training
    model.eval()
    with _no_hooks(handles):
        forward()
    model.train(was_training)
    return captured


def plot_attention(
    weights: Tensor | np.ndarray,
    query_labels: Sequence[str] | None = None,
    key_labels: Sequence[str] | None = None,
    title: str | None = None,
    max_cols: int = 4,
    cmap: str = "viridis",
):
    """Heat-maps of one example's attention, one panel per head.

    Args:
        weights: ``(H, T, S)`` (or ``(T, S)`` for one head); a leading batch axis of 1 is dropped.
        query_labels: ``T`` labels for the rows (queries); key_labels: ``S`` labels for the columns (keys).
        title: figure title.
        max_cols: panels per row.

    Returns:
        a pyplot ``Figure``: it displays in a notebook cell (at the end of the cell, or with ``plt.show()``).
    """
    w = torch.as_tensor(weights).detach().float().cpu()
    if w.dim() == 4 and w.size(0) == 1:
        w = w[0]
    if w.dim() == 2:
        w = w[None]
    if w.dim() != 3:
        raise ValueError(f"expected weights of shape (H, T, S) or (T, S), got {tuple(w.shape)}")
    H, T, S = w.shape
    for labels, n in ((key_labels, S), (query_labels, T)):
        if labels is not None and len(labels) != n:
            raise ValueError(f"expected {n} labels, got {len(labels)}")  # before a figure is opened
    cols = min(H, max_cols)
    rows = math.ceil(H / cols)
    cell = max(2.5, 0.25 * max(T, S))
    fig = new_figure(figsize=(cell * cols + 1, cell * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for h in range(rows * cols):
        ax = axes[h // cols][h % cols]
        if h >= H:
            ax.axis("off")
            continue
        im = ax.imshow(w[h].numpy(), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_title(f"head {h}", fontsize=9)
        for labels, setter, ticks, n in (
            (key_labels, ax.set_xticklabels, ax.set_xticks, S),
            (query_labels, ax.set_yticklabels, ax.set_yticks, T),
        ):
            if labels is not None:
                ticks(range(n))
                setter(list(labels), fontsize=7, rotation=90 if setter == ax.set_xticklabels else 0)
        ax.set_xlabel("key", fontsize=8)
        ax.set_ylabel("query", fontsize=8)
    fig.colorbar(im, ax=axes, shrink=0.8, label="attention weight")
    if title:
        fig.suptitle(title)
    return fig


def plot_confusion_matrix(
    targets: Sequence[int] | Tensor | np.ndarray,
    predictions: Sequence[int] | Tensor | np.ndarray,
    class_names: Sequence[str] | None = None,
    normalize: bool = True,
    title: str | None = None,
):
    """Confusion matrix (rows: true class, columns: predicted class), normalized per true class by default.

    Returns a pyplot ``Figure``: it displays in a notebook cell (at the end of the cell, or with ``plt.show()``).
    """
    y = np.asarray(torch.as_tensor(targets).cpu(), dtype=np.int64)
    p = np.asarray(torch.as_tensor(predictions).cpu(), dtype=np.int64)
    n = len(class_names) if class_names is not None else int(max(y.max(), p.max())) + 1
    cm = np.zeros((n, n), dtype=np.float64)
    np.add.at(cm, (y, p), 1.0)
    if normalize:
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1.0)
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    fig = new_figure(figsize=(0.55 * n + 2.5, 0.55 * n + 2), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    ax.set_xticks(range(n))
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            value = f"{cm[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
            ax.text(
                j,
                i,
                value,
                ha="center",
                va="center",
                fontsize=6,
                color="white" if cm[i, j] > 0.5 else "black",
            )
    fig.colorbar(im, ax=ax, shrink=0.8)
    accuracy = float(np.trace(np.nan_to_num(cm)) / n) if normalize else float(np.trace(cm) / max(cm.sum(), 1))
    ax.set_title(title or f"confusion matrix (mean per-class accuracy {accuracy:.3f})", fontsize=10)
    return fig


def plot_learning_curves(
    histories: dict[str, Sequence[dict[str, float]]],
    x: str = "epoch",
    metrics: Sequence[str] = ("train_loss", "test_accuracy"),
    title: str | None = None,
):
    """One panel per metric, one line per run: ``histories = {run name: [{x: .., metric: ..}, ...]}``.

    Returns a pyplot ``Figure``: it displays in a notebook cell (at the end of the cell, or with ``plt.show()``).
    """
    fig = new_figure(figsize=(4.5 * len(metrics), 3.5), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        for name, hist in histories.items():
            points = [(h[x], h[metric]) for h in hist if metric in h and x in h]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", markersize=3, label=name)
        ax.set_xlabel(x)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_length_sweep(rows: Sequence[dict[str, Any]], metric: str = "exact_match", title: str | None = None):
    """Accuracy against sequence length, one line per model (rows of ``ex1_experiments.length_sweep``).

    Returns a pyplot ``Figure``: it displays in a notebook cell (at the end of the cell, or with ``plt.show()``).
    """
    fig = new_figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.subplots()
    for kind in dict.fromkeys(r["model"] for r in rows):
        pts = sorted((r["length"], r[metric], r["params"]) for r in rows if r["model"] == kind)
        ax.plot(
            [p[0] for p in pts],
            [p[1] for p in pts],
            marker="o",
            label=f"{kind} ({pts[0][2] / 1e3:.0f}k params)",
        )
    ax.set_xscale("log", base=2)
    lengths = sorted({r["length"] for r in rows})
    ax.set_xticks(lengths)
    ax.set_xticklabels([str(n) for n in lengths])
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("sequence length")
    ax.set_ylabel(metric.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title or f"{metric.replace('_', ' ')} vs length")
    return fig
