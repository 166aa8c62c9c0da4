"""The figures of the three Exercise 2 experiments, written to PNG files.

Each function draws on a ``matplotlib.figure.Figure`` of its own and saves it: no pyplot, so the backend,
``rcParams`` and the notebook's open figures are left alone (the notebook shows the file with
``IPython.display.Image``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .common import VEHICLES


def plot_labels(rows: Sequence[dict], path: str | Path) -> Path:
    """Accuracy vs labels (log x) and training time vs labels, one line per method.

    Saved to ``path`` (PNG); returns ``path``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    for method in dict.fromkeys(r["method"] for r in rows):
        rs = sorted((r for r in rows if r["method"] == method), key=lambda r: r["labels"])
        ns = [r["labels"] for r in rs]
        axes[0].plot(ns, [r["test_accuracy"] for r in rs], "o-", label=method)
        axes[1].plot(ns, [r["train_time_s"] for r in rs], "o-", label=method)
    axes[0].set(
        xscale="log",
        xlabel="labelled training images",
        ylabel="test accuracy",
        title="CIFAR-10: accuracy vs labels",
    )
    axes[1].set(
        xscale="log",
        yscale="log",
        xlabel="labelled training images",
        ylabel="training time (s)",
        title="training time",
    )
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)




def plot_domain(rows: Sequence[dict], path: str | Path) -> Path:
    """Horizontal bars: vehicle test accuracy per source. Saved to ``path`` (PNG); returns ``path``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 0.5 * len(rows) + 1.5))
    ax = fig.subplots()
    labels = [f"{r['source']} [{r['method']}]" for r in rows]
    ax.barh(labels, [r["test_accuracy"] for r in rows], color="tab:blue")
    ax.axvline(1 / len(VEHICLES), color="grey", ls="--", label="chance")
    ax.set(
        xlabel="test accuracy on CIFAR-10 vehicles",
        xlim=(0, 1),
        title=f"transfer to vehicles with {rows[0]['target_labels']} labels",
    )
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)




def plot_text(rows: Sequence[dict], path: str | Path) -> Path:
    """Two bar charts: test accuracy and training time per method. Saved to ``path`` (PNG); returns ``path``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3))
    axes = fig.subplots(1, 2)
    names = [r["method"] for r in rows]
    colors = ["tab:blue", "tab:cyan", "tab:orange"][: len(rows)]
    axes[0].bar(names, [r["test_accuracy"] for r in rows], color=colors)
    axes[0].set(
        ylim=(0.5, 1.0), ylabel="test accuracy", title=f"SST-2, {rows[0]['train_sentences']} sentences"
    )
    axes[1].bar(names, [r["train_time_s"] for r in rows], color=colors)
    axes[1].set(ylabel="training time (s)", title="training time")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)
