"""Calibrate the four accuracy thresholds of the hidden graders (issue 7).

For each accuracy grader this script reproduces exactly what the grader does — the same data (built by the
grader's own helper, with the grader's fixed data seed), the same budget and the same probe function from
``autograder/child/probes`` — but calls the probe in-process (``import lab3`` here is the instructor solution) and
varies the probe's training seed (``seed_value`` / ``seed``; the grader uses 0). Then it runs a few
broken-but-running implementations (monkeypatched into ``lab3``) over a few seeds, and prints / writes the
table ``autograder/graders/CALIBRATION.md``.

Usage (from the repo root; ~20 min on 2 busy cores)::

    .venv/bin/python scripts/calibrate_thresholds.py --seeds 20 --broken-seeds 3 --write

``--only vit,seq2seq,transfer,cnn`` restricts the graders; ``--append TITLE`` appends the table of such a
supplementary run to CALIBRATION.md as a new section (``--write`` rewrites the whole file).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import re
import shlex
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.child.probes import training as p_training  # noqa: E402
from autograder.child.probes import transfer as p_transfer  # noqa: E402
from autograder.child.probes import transformer as p_transformer  # noqa: E402
from autograder.child.probes import vit as p_vit  # noqa: E402
from autograder.graders import test_ex1_models as g1  # noqa: E402
from autograder.graders import test_ex2_transfer as g2  # noqa: E402
from autograder.graders import test_ex3_loop as g3  # noqa: E402

OUT = ROOT / "autograder" / "graders" / "CALIBRATION.md"


# ------------------------------------------------------------------------------------- accuracy runs
# Each function: (seed) -> accuracy, computed exactly as the grader computes it.
def vit_acc(seed: int) -> float:
    x_train, y_train, x_test, y_test = g1._cifar_subsets(200, 1000)
    res = p_vit.train_vit(train_images=x_train, train_labels=y_train, test_images=x_test, epochs=4,
                          seed_value=seed)  # fmt: skip
    return float((res["pred"].long() == y_test).float().mean())


def seq2seq_acc(seed: int) -> float:
    train_src, train_tgt = g1._reverse_data(4000, 8, seed=41)
    test_src, test_tgt = g1._reverse_data(200, 8, seed=42)
    res = p_transformer.train_reverse(train_src=train_src, train_tgt=train_tgt, test_src=test_src, steps=200,
                                      lr=2e-3, seed_value=seed)  # fmt: skip
    target = test_tgt[:, 1:]
    pred = res["pred"].long()[:, : target.size(1)]
    if pred.size(1) < target.size(1):
        pred = torch.cat([pred, torch.zeros(200, target.size(1) - pred.size(1), dtype=torch.long)], 1)
    return float((pred == target).all(1).float().mean())


def transfer_acc(seed: int) -> float:
    x, y, xt, yt = g2._cifar_vehicles(25, 50)
    res = p_transfer.transfer_fit(train_x=x, train_y=y, test_x=xt, num_classes=4, seed_value=seed)
    if res.get("no_trainable_parameters") or res.get("pred") is None:
        return float("nan")
    return float((res["pred"].long() == yt).float().mean())


def cnn_acc(seed: int) -> float:
    x, y, xt, yt = g3._cifar_subsets(200, 100)
    res = p_training.cifar_fit(train_x=x, train_y=y, test_x=xt, epochs=5, seed=seed)
    return float((res["predictions"].long() == yt).double().mean())


# ------------------------------------------------------------------------------- broken implementations
@contextlib.contextmanager
def uniform_attention() -> Iterator[None]:
    """Attention weights uniform over the allowed keys (scores ignored): q * 0 -> all scores 0."""
    import lab3.attention as att

    orig = att.scaled_dot_product_attention
    with mock.patch.object(att, "scaled_dot_product_attention",
                           lambda q, k, v, mask=None, dropout_p=0.0, training=False:
                           orig(q * 0, k, v, mask, dropout_p, training)):  # fmt: skip
        yield


@contextlib.contextmanager
def identity_attention() -> Iterator[None]:
    """A constant attention pattern: every token attends only to itself (weights = identity, out = v)."""
    import lab3.attention as att

    def broken(q, k, v, mask=None, dropout_p=0.0, training=False):
        return v, torch.eye(q.size(-2), k.size(-2), dtype=q.dtype).expand(*q.shape[:-1], k.size(-2))

    with mock.patch.object(att, "scaled_dot_product_attention", broken):
        yield


@contextlib.contextmanager
def encoder_layer_drops_sublayers() -> Iterator[None]:
    """TransformerEncoderLayer.forward returns its input (``x + sublayer(x)`` computed but not assigned)."""
    from lab3.transformer import TransformerEncoderLayer

    with mock.patch.object(TransformerEncoderLayer, "forward", lambda self, src, *a, **k: src):
        yield


@contextlib.contextmanager
def no_causal_mask() -> Iterator[None]:
    """The decoder's causal mask blocks nothing (every position sees the future during training)."""
    import lab3.transformer as tr

    with mock.patch.object(tr, "causal_mask", lambda size, device=None: torch.zeros(size, size, dtype=torch.bool,
                                                                                       device=device)):  # fmt: skip
        yield


@contextlib.contextmanager
def freeze_requires_grad_only() -> Iterator[None]:
    """freeze_backbone sets requires_grad=False but lets the batch-norm statistics drift in train()."""
    import lab3.transfer as tf

    def broken(model, head):
        head_ids = {id(p) for p in head.parameters()}
        for p in model.parameters():
            p.requires_grad_(id(p) in head_ids)
        return list(head.parameters())

    with mock.patch.object(tf, "freeze_backbone", broken):
        yield


def _loop(step: bool, zero_grad: bool) -> Callable:
    def train_one_epoch(model, loader, optimizer, loss_fn, *, scheduler=None, accumulation_steps=1, **_):
        model.train()
        total, n, steps = 0.0, 0, 0
        for x, y in loader:
            loss = loss_fn(model(x), y)
            if zero_grad:
                optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if step:
                optimizer.step()
                steps += 1
            if scheduler is not None:
                scheduler.step()
            total, n = total + float(loss.detach()) * len(y), n + len(y)
        return {"loss": total / max(n, 1), "steps": steps, "lr": float(optimizer.param_groups[0]["lr"])}

    return train_one_epoch


@contextlib.contextmanager
def loop_never_steps() -> Iterator[None]:
    """train_one_epoch computes and back-propagates the loss but never calls optimizer.step()."""
    with mock.patch("lab3.training.train_one_epoch", _loop(step=False, zero_grad=True)):
        yield


@contextlib.contextmanager
def loop_random_labels() -> Iterator[None]:
    """A correct loop trained on shuffled labels (a data/label pairing bug): learns nothing transferable."""
    import lab3.training as tr

    orig = tr.train_one_epoch

    def shuffled(model, loader, *args, **kwargs):
        g = torch.Generator().manual_seed(1234)
        loader = [(x, y[torch.randperm(len(y), generator=g)]) for x, y in loader]
        return orig(model, loader, *args, **kwargs)

    with mock.patch.object(tr, "train_one_epoch", shuffled):
        yield


GRADERS = {
    # key: (grader test, threshold, accuracy fn, [(broken name, context manager)])
    "vit": ("test_ex1_models::test_vit_trains_on_cifar", g1.VIT_THRESHOLD, vit_acc,
            [("uniform attention (scores ignored)", uniform_attention),
             ("identity attention (token sees only itself)", identity_attention),
             ("encoder layer returns its input", encoder_layer_drops_sublayers)]),
    "seq2seq": ("test_ex1_models::test_seq2seq_learns_reversal", g1.SEQ2SEQ_THRESHOLD, seq2seq_acc,
                [("no causal mask", no_causal_mask), ("uniform attention (scores ignored)", uniform_attention)]),
    "transfer": ("test_ex2_transfer::test_transfer_accuracy_cifar_vehicles", g2.TRANSFER_THRESHOLD, transfer_acc,
                 [("requires_grad=False only (BN drifts)", freeze_requires_grad_only)]),
    "cnn": ("test_ex3_loop::test_train_loop_cifar_accuracy", g3.CIFAR_THRESHOLD, cnn_acc,
            [("loop never steps the optimizer", loop_never_steps), ("shuffled labels", loop_random_labels)]),
}  # fmt: skip


def run(fn: Callable[[int], float], seeds: range, label: str) -> tuple[list[float], float]:
    accs, start = [], time.perf_counter()
    for s in seeds:
        t = time.perf_counter()
        accs.append(fn(s))
        print(f"  {label:<45} seed {s:>2}: acc {accs[-1]:.3f}  ({time.perf_counter() - t:.1f} s)", flush=True)
    return accs, time.perf_counter() - start


# (key, grader test, threshold, solution accuracies, solution seconds, [(broken name, max accuracy, seconds)])
_Row = tuple[str, str, float, list[float], float, list[tuple[str, float, float]]]


def _parse_args() -> argparse.Namespace:
    """The command line (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--broken-seeds", type=int, default=3)
    ap.add_argument("--only", default=",".join(GRADERS))
    ap.add_argument("--write", action="store_true", help=f"write {OUT.relative_to(ROOT)}")
    ap.add_argument("--append", metavar="TITLE", help=f"append the table to {OUT.relative_to(ROOT)} as a section")
    return ap.parse_args()


def _measure(keys: list[str], seeds: int, broken_seeds: int) -> list[_Row]:
    """Run each grader's accuracy function on the solution, then on each broken variant."""
    rows = []
    for key in keys:
        test, thr, fn, broken = GRADERS[key]
        print(f"== {key}: {test} (threshold {thr})", flush=True)
        sol, sol_s = run(fn, range(seeds), "solution")
        bro = []
        for name, ctx in broken:
            with ctx():
                accs, b_s = run(fn, range(broken_seeds), f"broken: {name}")
            bro.append((name, max(accs), b_s))
        rows.append((key, test, thr, sol, sol_s, bro))
    return rows


def _table(rows: list[_Row], broken_seeds: int) -> str:
    """The Markdown table of the calibration: one line per grader."""
    head = (
        "| grader | threshold | solution min / median / max (N seeds) | worst - threshold | broken variant: max "
        "(seeds) | threshold - broken max | runtime |"
    )
    lines = [head, "|" + "---|" * 7]
    for _key, test, thr, sol, sol_s, bro in rows:
        bro_txt = "<br>".join(f"{n}: {m:.3f}" for n, m, _ in bro)
        gap_b = "<br>".join(f"{thr - m:+.3f}" for _, m, _ in bro)
        secs = sol_s + sum(s for *_, s in bro)
        lines.append(
            f"| `{test}` | {thr:.2f} | {min(sol):.3f} / {statistics.median(sol):.3f} / {max(sol):.3f} ({len(sol)}) "
            f"| {min(sol) - thr:+.3f} | {bro_txt} ({broken_seeds}) | {gap_b} | {secs:.0f} s "
            f"({sol_s / len(sol):.1f} s/seed) |"
        )
    return "\n".join(lines)


def _append_section(title: str, cmd: str, total: float, table: str) -> None:
    """Append ``table`` to CALIBRATION.md as a new section ``title`` (a supplementary run)."""
    with OUT.open("a") as f:
        f.write(f"""
## {title}

{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, same machine and method; command: `.venv/bin/{cmd}`;
{total / 60:.1f} min.

{table}
""")
    print(f"appended to {OUT.relative_to(ROOT)}")


def _write_calibration(rows: list[_Row], cmd: str, total: float, table: str) -> None:
    """Rewrite CALIBRATION.md: how the table was made, the table, and the solution's per-seed accuracies."""
    cpus = os.cpu_count()
    per_seed = "\n".join(
        f"- `{key}` solution: " + ", ".join(f"{a:.3f}" for a in sol) for key, _, _, sol, _, _ in rows
    )
    OUT.write_text(
        f"""# Accuracy-threshold calibration (issue 7)

Generated by `scripts/calibrate_thresholds.py` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC.

- Command: `.venv/bin/{cmd}` (from the repo root)
- Machine: {platform.machine()}, {cpus} CPU cores shared with other jobs (loaded), `torch.set_num_threads(1)`,
  seeds run sequentially; torch {torch.__version__}, Python {platform.python_version()}; total {total / 60:.1f} min.
- Method: each row reproduces its grader exactly (the grader's own data helper and fixed data seed, the same
  sizes and budget, the same probe function from `autograder/child/probes/` called in-process on the instructor
  solution `lab3`), varying only the probe's training seed (`seed_value` / `seed` = 0..N-1; the grader uses
  0). Broken variants are the solution with one part monkeypatched (see the script), over the first seeds.
- Rule: the threshold must sit well below the solution's worst run and well above the broken max.

{table}

Per-seed solution accuracies:

{per_seed}
"""
    )
    print(f"wrote {OUT.relative_to(ROOT)}")


def main() -> None:
    """Measure the solution and the broken variants per grader, print the table, write or append it."""
    args = _parse_args()
    warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    t0 = time.perf_counter()
    rows = _measure(args.only.split(","), args.seeds, args.broken_seeds)
    total = time.perf_counter() - t0
    table = _table(rows, args.broken_seeds)
    print("\n" + table + f"\n\ntotal {total / 60:.1f} min", flush=True)

    cmd = "python " + shlex.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    if args.append:
        _append_section(args.append, cmd, total, table)
    if args.write:
        _write_calibration(rows, cmd, total, table)


if __name__ == "__main__":
    main()
