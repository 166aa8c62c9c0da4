"""Tables and figures of the Exercise 3 experiments (:mod:`lab3.ex3_experiments` re-exports them).

* :func:`save_csv` writes rows as a CSV file; :func:`format_table` prints them as an aligned table;
* :func:`plot_histories` draws learning curves (one panel per history key, one line per run);
* :func:`plot_gap` draws train vs test accuracy per regularization variant.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["format_table", "plot_gap", "plot_histories", "save_csv"]


def save_csv(rows: Iterable[dict[str, Any]], path: str | Path) -> Path:
    """Write ``rows`` (dicts with the same keys) as CSV; returns the path."""
    rows = list(rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)
    return path


def plot_histories(
    histories: dict[str, list[dict[str, float]]],
    keys: Sequence[str] = ("train_loss", "val_accuracy"),
    *,
    title: str = "",
    path: str | Path | None = None,
):
    """One panel per history key (x: epoch), one line per run; saved to ``path`` when given.

    Returns a pyplot ``Figure`` (:func:`lab3.viz.new_figure`): it displays in a notebook cell (at the end of
    the cell, or with ``plt.show()``).
    """
    from lab3.viz import new_figure

    fig = new_figure(figsize=(5 * len(keys), 3.6), layout="constrained")
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys, strict=True):
        for label, history in histories.items():
            style = "--" if "constant" in label else "-"
            ax.plot(
                [r["epoch"] for r in history],
                [r.get(key, float("nan")) for r in history],
                style,
                marker="o",
                markersize=3,
                label=label,
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(key.replace("val_", "test ").replace("_", " "))
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig


def plot_gap(rows: Sequence[dict[str, Any]], *, path: str | Path | None = None):
    """Grouped bars of train vs test accuracy per regularization variant (the gap is the difference).

    Saved to ``path`` when given. Returns a pyplot ``Figure`` (:func:`lab3.viz.new_figure`): it displays in a
    notebook cell (at the end of the cell, or with ``plt.show()``).
    """
    from lab3.viz import new_figure

    fig = new_figure(figsize=(6.5, 3.6), layout="constrained")
    ax = fig.subplots()
    names = [r["variant"] for r in rows]
    pos = range(len(rows))
    ax.bar([p - 0.2 for p in pos], [r["train_acc"] for r in rows], width=0.4, label="train")
    ax.bar([p + 0.2 for p in pos], [r["test_acc"] for r in rows], width=0.4, label="test")
    for p, r in zip(pos, rows, strict=True):
        ax.annotate(
            f"gap {r['gap']:+.2f}", (p, max(r["train_acc"], r["test_acc"]) + 0.01), ha="center", fontsize=8
        )
    ax.set_xticks(list(pos), names)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.08)
    ax.legend()
    ax.set_title("regularization: train vs test accuracy")
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """``rows`` as an aligned plain-text table (floats with 4 significant digits)."""
    if not rows:
        return "(no rows)"
    keys = list(rows[0])

    def cell(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    table = [keys] + [[cell(r.get(k, "")) for k in keys] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(keys))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(line, widths, strict=True)) for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
