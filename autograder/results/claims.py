"""The lab's claims, checked against the recorded CSVs; ``results/README.md`` generated from them.

Each claim is a function of the experiment's rows that returns ``(verdict, measured, reason)``;
a verdict is ``holds``, ``does not hold here``, ``mixed`` or ``not measured here``. Nothing in the
README is typed by hand: rerunning ``lab3 results`` rewrites it from the numbers.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

HOLDS, FAILS, MIXED, NOT_MEASURED = "holds", "does not hold here", "mixed", "not measured here"
_CONTEXT: dict[str, Any] = {}  # facts from the experiments' JSON that some claims need (test set sizes)
Rows = list[dict[str, Any]]


def _num(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(value, value)


def read_rows(path: Path) -> Rows:
    with path.open(newline="") as f:
        return [{k: _num(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _pick(rows: Rows, **match) -> Rows:
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


def _one(rows: Rows, **match) -> dict[str, Any] | None:
    found = _pick(rows, **match)
    return found[0] if found else None


# ------------------------------------------------------------------------------------------ claims


def c_length(rows: Rows):
    lengths = sorted({r["length"] for r in rows})
    parts, gaps = [], []
    for n in lengths:
        t, m = _one(rows, model="transformer", length=n), _one(rows, model="lstm", length=n)
        parts.append(f"L={n}: {t['exact_match']:.2f} vs {m['exact_match']:.2f}")
        gaps.append(t["exact_match"] - m["exact_match"])
    measured = "exact match Transformer vs LSTM, " + "; ".join(parts)
    if gaps[-1] >= 0.2 and gaps[-1] >= gaps[0]:
        return HOLDS, measured, (f"with the same parameters and steps the gap grows with length (to {gaps[-1]:+.2f}): "
                                 "the LSTM must squeeze the whole input into one state, attention reads any "
                                 "position directly")
    return FAILS, measured, ("the gap does not grow with length at this budget (quick mode trains only "
                             "300 steps at lengths 8 and 16)")


def c_vit(rows: Rows):
    v, c = _one(rows, model="vit"), _one(rows, model="cnn")
    measured = (f"test accuracy ViT {v['test_accuracy']:.3f} ({v['params'] / 1e3:.0f}k params, "
                f"{v['train_seconds']:.0f} s) vs CNN {c['test_accuracy']:.3f} ({c['params'] / 1e3:.0f}k, "
                f"{c['train_seconds']:.0f} s), {v['train_images']} training images, {v['epochs']} epochs")
    if c["test_accuracy"] > v["test_accuracy"]:
        return HOLDS, measured, ("the CNN wins at this scale: convolutions build in locality and translation "
                                 "equivariance, which the ViT must learn from data")
    return FAILS, measured, "the ViT matched or beat the CNN here"


def c_labels_small(rows: Rows):
    n = min(r["labels"] for r in rows)
    s = _one(rows, method="scratch", labels=n)
    best = max(_pick(rows, labels=n), key=lambda r: r["test_accuracy"])
    measured = f"{n} labels: " + ", ".join(f"{r['method']} {r['test_accuracy']:.3f}" for r in _pick(rows, labels=n))
    if best["method"] != "scratch" and best["test_accuracy"] - s["test_accuracy"] >= 0.1:
        return HOLDS, measured, f"{best['method']} beats scratch by {best['test_accuracy'] - s['test_accuracy']:.2f}"
    return FAILS, measured, "transfer does not beat training from scratch by 0.1 at the smallest budget"


def c_labels_shrinks(rows: Rows):
    ns = sorted({r["labels"] for r in rows})

    def gap(n):
        s = _one(rows, method="scratch", labels=n)["test_accuracy"]
        return max(r["test_accuracy"] for r in _pick(rows, labels=n) if r["method"] != "scratch") - s

    measured = "best transfer − scratch: " + ", ".join(f"{n} labels {gap(n):+.3f}" for n in ns)
    if len(ns) < 2:
        return NOT_MEASURED, measured, "one label budget only"
    if gap(ns[-1]) < gap(ns[0]):
        return HOLDS, measured, "the advantage of pretraining shrinks as labels grow"
    return FAILS, measured, "the advantage does not shrink over these budgets"


def c_labels_time(rows: Rows):
    ns = sorted({r["labels"] for r in rows})
    parts, faster = [], []
    for n in ns:
        s, f = _one(rows, method="scratch", labels=n), _one(rows, method="features", labels=n)
        ft = _one(rows, method="finetune", labels=n)
        parts.append(f"{n}: scratch {s['train_time_s']:.0f} s, features {f['train_time_s']:.0f} s"
                     + (f", fine-tune {ft['train_time_s']:.0f} s" if ft else ""))
        faster.append(f["train_time_s"] < s["train_time_s"])
    measured = "training time, " + "; ".join(parts)
    reason = ("frozen features are computed once (their time is included) and a linear head trains in seconds; "
              "full fine-tuning of a 4.7 M-parameter CNN at 96-128 px is the slowest method on a CPU")
    if all(faster):
        return HOLDS, measured, "for feature extraction: " + reason
    if any(faster):
        return MIXED, measured, reason
    return FAILS, measured, reason


def c_domain(rows: Rows):
    def acc(prefix, method):
        r = next((r for r in rows if r["source"].startswith(prefix) and r["method"] == method), None)
        return r["test_accuracy"] if r else float("nan")

    related, unrelated = acc("CIFAR-10 animals", "features"), next(
        r["test_accuracy"] for r in rows if "(unrelated)" in r["source"] and r["method"] == "features")
    random_w, imagenet = acc("none (random", "features"), acc("ImageNet", "features")
    measured = (f"frozen features, vehicle test accuracy: related {related:.3f}, unrelated {unrelated:.3f}, "
                f"random weights {random_w:.3f}, ImageNet {imagenet:.3f}")
    n_test = next(r["test_images"] for r in rows)
    n_src = next(r["source_images"] for r in rows if r["source"].startswith("CIFAR-10 animals"))
    se = (0.25 / n_test) ** 0.5  # the largest binomial standard error of an accuracy on n_test images
    ft = {r["source"].split(" (")[0]: r["test_accuracy"] for r in rows if r["method"] == "finetune"}
    scratch = next((r["test_accuracy"] for r in rows if r["method"] == "scratch"), float("nan"))
    measured += ("; fine-tuned: " + ", ".join(f"{k} {v:.3f}" for k, v in ft.items())
                 + f"; CNN from scratch on the 100 labels {scratch:.3f}; {n_test} test images (standard error "
                 f"≤ {se:.3f})")
    if related > unrelated + 2 * se:
        return HOLDS, measured, ("a small related source (same camera and image statistics) beats an unrelated "
                                 "one; ImageNet is large *and* contains vehicles")
    best_small = max(related, unrelated, *(v for k, v in ft.items() if not k.startswith("none")))
    vs_scratch = (f", and neither is clearly better than a CNN trained from scratch on the 100 labels "
                  f"({scratch:.3f})" if best_small < scratch + 2 * se else "")
    return FAILS, measured, (f"related and unrelated sources are within {abs(related - unrelated):.3f} of each "
                             f"other (about {abs(related - unrelated) / se:.1f} standard errors){vs_scratch}: with "
                             f"{n_src} source images the small CNN's pretraining learns little that transfers, "
                             "whatever the domain; only ImageNet (1.28 M images, a much larger network, and "
                             "vehicles among its classes) transfers clearly")


def c_text(rows: Rows):
    ft = _one(rows, method="finetune")
    feats = [r for r in rows if r["method"].startswith("features")]
    best = max(feats, key=lambda r: r["test_accuracy"])
    measured = ("SST-2 test accuracy: " + ", ".join(f"{r['method']} {r['test_accuracy']:.3f} "
                                                     f"({r['train_time_s']:.0f} s)" for r in rows))
    if ft["test_accuracy"] > best["test_accuracy"]:
        return HOLDS, measured, (f"fine-tuning gains {ft['test_accuracy'] - best['test_accuracy']:+.3f} over the best "
                                 f"frozen vector at {ft['train_time_s'] / max(best['train_time_s'], 1e-9):.0f}x "
                                 f"the time and {ft['trainable_params'] / max(best['trainable_params'], 1):.0f}x "
                                 "the trainable parameters")
    return FAILS, measured, "frozen features matched fine-tuning at this size"


def c_schedule(rows: Rows):
    parts, wins = [], 0
    for opt in dict.fromkeys(r["optimizer"] for r in rows):
        c, w = _one(rows, optimizer=opt, schedule="constant"), _one(rows, optimizer=opt, schedule="warmup_cosine")
        cos = _one(rows, optimizer=opt, schedule="cosine")
        parts.append(f"{opt}: constant {c['final_test_acc']:.3f}"
                     + (f", cosine {cos['final_test_acc']:.3f}" if cos else "")
                     + f", warmup+cosine {w['final_test_acc']:.3f}")
        wins += w["final_test_acc"] > c["final_test_acc"]
    measured = "final test accuracy, " + "; ".join(parts)
    n = len(parts)
    se = (0.25 / _test_images(rows)) ** 0.5 if _test_images(rows) else float("nan")
    gains = {opt: _one(rows, optimizer=opt, schedule="warmup_cosine")["final_test_acc"]
             - _one(rows, optimizer=opt, schedule="constant")["final_test_acc"] for opt in dict.fromkeys(
                 r["optimizer"] for r in rows)}
    clear = [o for o, g in gains.items() if g > 2 * se]
    within = [o for o, g in gains.items() if abs(g) <= 2 * se]
    detail = ("warmup+cosine minus constant: " + ", ".join(f"{o} {g:+.3f}" for o, g in gains.items())
              + f" (standard error ≤ {se:.3f})")
    if wins == n:
        return HOLDS, measured, detail + "; the decaying LR settles into a better minimum for every optimizer"
    if wins or clear:
        return MIXED, measured, (detail + f"; a clear gain for {', '.join(clear) or 'none'}"
                                 + (f", within noise for {', '.join(within)}" if within else "")
                                 + f". In {rows[0].get('epochs', '?')} epochs plain SGD (lr 0.05) needs the warmup "
                                 "and the decay most; Adam/AdamW adapt their steps and are already close to "
                                 "their best with a constant LR in so short a run")
    return FAILS, measured, detail + "; no optimizer gained from the schedule in this budget"


def _test_images(rows: Rows) -> int:
    """Test images behind an Exercise 3 accuracy (from the run's configuration next to the CSV)."""
    return _CONTEXT.get("test_images", 0)


def c_adam_fast(rows: Rows):
    first = {r["optimizer"]: r["epoch1_train_loss"] for r in _pick(rows, schedule="constant")}
    measured = "train loss after epoch 1 (constant LR): " + ", ".join(f"{k} {v:.3f}" for k, v in first.items())
    if min(first.get("adam", 9), first.get("adamw", 9)) < first.get("sgd", 0):
        return HOLDS, measured, "adaptive per-parameter steps move faster at the start"
    return FAILS, measured, "SGD with momentum (lr 0.05, batch norm) is as fast in the first epoch here"


def c_amp_speed(rows: Rows):
    amp = _pick(rows, part="amp")
    off, on = _one(amp, amp=False), _one(amp, amp=True)
    measured = (f"{off['device']}: float32 {off['epoch_time_s']:.3f} s/epoch vs {on['dtype']} {on['epoch_time_s']:.3f} "
                f"s/epoch (width-{on['model_width']} CNN, {on['train_images']} images), test acc "
                f"{off['test_acc']:.3f} vs {on['test_acc']:.3f}")
    if off["device"] != "cuda":
        native = on.get("native_bf16")
        return NOT_MEASURED, measured, ("the speed claim is about GPUs (tensor cores); no GPU was lent for this "
                                        "run. On this CPU bfloat16 is " + ("native" if native else
                                        "emulated (no AVX512-BF16/AMX), hence slower") + "; the same loop runs")
    if on["epoch_time_s"] < off["epoch_time_s"]:
        return HOLDS, measured, "float16 autocast + GradScaler is faster on the GPU"
    return FAILS, measured, "autocast was not faster on this GPU for this small CNN"


def c_amp_memory(rows: Rows):
    amp = _pick(rows, part="amp")
    off, on = _one(amp, amp=False), _one(amp, amp=True)
    a, b = off["activation_MB_per_batch"], on["activation_MB_per_batch"]
    measured = f"activations saved for backward per batch: float32 {a:.2f} MB, {on['dtype']} autocast {b:.2f} MB"
    if b <= 0.75 * a:
        return HOLDS, measured, (f"the saved activations take {b / a:.0%} of float32's (16-bit values take 2 bytes "
                                 "instead of 4)")
    return FAILS, measured, "autocast did not shrink the saved activations here"


def c_accumulation(rows: Rows):
    acc = _pick(rows, part="accumulation")
    diffs = [r for r in acc if r["accumulation_steps"] > 1]
    base = _one(acc, accumulation_steps=1)
    measured = "; ".join(
        f"k={r['accumulation_steps']} x {r['micro_batch']}: max weight difference after one step "
        f"{r['max_weight_diff_one_step']:.1e}, final train loss {r['final_train_loss']:.4f} "
        f"(one batch of {base['effective_batch']}: {base['final_train_loss']:.4f}), activations "
        f"{r['activation_MB_per_micro_batch']:.2f} MB vs {base['activation_MB_per_micro_batch']:.2f} MB"
        for r in diffs)
    if all(r["max_weight_diff_one_step"] < 1e-4 for r in diffs):
        return HOLDS, measured, ("the same update up to float32 rounding, with activation memory of one "
                                 "micro-batch")
    return FAILS, measured, "the accumulated update differs from the large-batch one"


def c_reg_gap(rows: Rows):
    none = _one(rows, variant="none")
    others = [r for r in rows if r["variant"] != "none"]
    measured = "train−test gap: " + ", ".join(f"{r['variant']} {r['gap']:+.3f}" for r in rows)
    smaller = [r["variant"] for r in others if r["gap"] < none["gap"]]
    if len(smaller) == len(others):
        return HOLDS, measured, "every regularizer narrows the gap of the unregularized CNN"
    if smaller:
        return MIXED, measured, ("narrowed by " + ", ".join(smaller) + "; not by "
                                 + ", ".join(r["variant"] for r in others if r["variant"] not in smaller)
                                 + " (normalization mainly speeds up fitting, it also fits the training set better)")
    return FAILS, measured, "no regularizer narrowed the gap in this budget"


def c_reg_test(rows: Rows):
    none = _one(rows, variant="none")
    best = max(rows, key=lambda r: r["test_acc"])
    measured = "test accuracy: " + ", ".join(f"{r['variant']} {r['test_acc']:.3f}" for r in rows)
    worse = [r["variant"] for r in rows if r["variant"] != "none" and r["test_acc"] < none["test_acc"]]
    if best["variant"] == "none":
        return FAILS, measured, "the unregularized CNN had the best test accuracy"
    if best["variant"] in ("batchnorm", "all") and worse:
        return MIXED, measured, (f"best: {best['variant']} ({best['test_acc'] - none['test_acc']:+.3f} over none), "
                                 f"but {', '.join(worse)} lower the test accuracy: in this short run the "
                                 f"unregularized CNN fits only {none['train_acc']:.2f} of its training set "
                                 f"(gap {none['gap']:+.3f}), so it underfits rather than overfits; capacity-"
                                 "limiting regularizers cost accuracy, and batch norm wins by speeding up "
                                 "optimization (its gap is the largest)")
    return HOLDS, measured, f"best: {best['variant']} ({best['test_acc'] - none['test_acc']:+.3f} over none)"


def c_distill(rows: Rows):
    ns = sorted({r["labels"] for r in rows})
    parts, wins = [], 0
    for n in ns:
        lab, kd = _one(rows, method="labels only", labels=n), _one(rows, method="distilled", labels=n)
        t = _one(rows, method="teacher", labels=n)
        parts.append(f"{n} labels: labels only {lab['test_accuracy']:.3f}, distilled {kd['test_accuracy']:.3f}, "
                     f"teacher {t['test_accuracy']:.3f}")
        wins += kd["test_accuracy"] > lab["test_accuracy"]
    measured = "; ".join(parts)
    if wins == len(ns):
        return HOLDS, measured, ("the teacher's soft labels on the unlabelled images carry what the few labels "
                                 "cannot; the student stays below its teacher")
    if wins:
        return MIXED, measured, f"distillation helps at {wins} of {len(ns)} budgets"
    return FAILS, measured, "distillation did not beat the labels alone"


CLAIMS: list[tuple[str, str, Callable]] = [
    ("ex1_length_sweep", "Transformers beat RNNs on longer sequences (reverse task, equal parameters and steps).",
     c_length),
    ("ex1_vit_vs_cnn", "A ViT needs more data than a CNN: on 5 000 CIFAR-10 images a CNN of the same size wins.",
     c_vit),
    ("ex2_labels", "Pretrained models do much better on small data.", c_labels_small),
    ("ex2_labels", "The advantage of pretraining shrinks as labels grow.", c_labels_shrinks),
    ("ex2_labels", "Transfer trains faster than training from scratch.", c_labels_time),
    ("ex2_domain", "Domain-related pretraining transfers better than unrelated pretraining.", c_domain),
    ("ex2_text", "Fine-tuning a pretrained encoder beats frozen features, at a higher cost.", c_text),
    ("ex3_optimizers", "A warmup + cosine schedule gives a better final accuracy than a constant learning rate.",
     c_schedule),
    ("ex3_optimizers", "Adam/AdamW drop the training loss fastest at first.", c_adam_fast),
    ("ex3_amp_accumulation", "Mixed precision trains faster.", c_amp_speed),
    ("ex3_amp_accumulation", "Mixed precision halves activation memory.", c_amp_memory),
    ("ex3_amp_accumulation", "Gradient accumulation over k micro-batches equals one batch of k times the size, "
     "with the memory of a micro-batch.", c_accumulation),
    ("ex3_regularization", "Regularization narrows the train/test gap.", c_reg_gap),
    ("ex3_regularization", "Regularization generalizes better (higher test accuracy).", c_reg_test),
    ("next_distillation", "(next steps) A pretrained teacher improves a small CNN when labels are few.", c_distill),
]


# ------------------------------------------------------------------------------------------ README


def _table(rows: Rows, limit: int = 40) -> list[str]:
    if not rows:
        return ["(no rows)"]
    keys = list(rows[0])

    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v).replace("|", "/")

    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(r.get(k, "")) for k in keys) + " |" for r in rows[:limit]]
    return lines


def write_readme(out: Path) -> Path:
    """(Re)write ``out/README.md`` from every ``<name>.json`` + ``<name>.csv`` in ``out``."""
    from .experiments import FULL_NOTE
    from .runner import EXPERIMENTS

    metas = {}
    for name in EXPERIMENTS:
        if (out / f"{name}.json").exists() and (out / f"{name}.csv").exists():
            metas[name] = json.loads((out / f"{name}.json").read_text())
    rows = {name: read_rows(out / f"{name}.csv") for name in metas}
    cfg = metas.get("ex3_optimizers", {}).get("config", {})
    _CONTEXT["test_images"] = 10 * int(cfg.get("test_per_class", 0))
    lines = [
        "# Lab 3 — the answer key: measured results",
        "",
        "Generated by `lab3 results` from the CSV files in this folder (do not edit: rerun the command).",
        "Every experiment runs the solution code with seed 0; the numbers are deterministic apart from the",
        "timings. Each experiment's `<name>.json` holds its configuration, machine and command.",
        "",
    ]
    machines = {json.dumps(m["machine"], sort_keys=True) for m in metas.values()}
    for mj in sorted(machines):
        m = json.loads(mj)
        lines.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch thread(s), GPU: "
                     f"{m['gpu'] or 'none'}; Python {m['python']}, torch {m['torch']}.")
    modes = sorted({m["mode"] for m in metas.values()})
    lines += ["", f"Mode: {', '.join(modes) or '—'}. " + (FULL_NOTE if "full" in modes else ""), ""]
    lines += ["## Experiments", "", "| experiment | what | mode | device | wall time | command |",
              "|---|---|---|---|---|---|"]
    total = 0.0
    for name, m in metas.items():
        total += m["wall_time_s"]
        lines.append(f"| [{name}](#{name}) | {m['what']} | {m['mode']} | {m['device']} | "
                     f"{m['wall_time_s'] / 60:.1f} min | `{m['command']}` |")
    missing = [n for n in EXPERIMENTS if n not in metas]
    lines += ["", f"Total: {total / 60:.1f} min." + (f" Not recorded yet: {', '.join(missing)}." if missing else ""),
              ""]
    lines += ["## The lab's claims", "", "| # | claim | measured | verdict |", "|---|---|---|---|"]
    details: dict[str, list[str]] = {}
    for i, (name, claim, fn) in enumerate(CLAIMS, 1):
        if name not in rows:
            lines.append(f"| {i} | {claim} | — | not recorded yet (`lab3 results --only {name}`) |")
            continue
        try:
            verdict, measured, reason = fn(rows[name])
        except Exception as exc:  # noqa: BLE001 - a missing column must not lose the README
            verdict, measured, reason = NOT_MEASURED, "—", f"cannot evaluate: {type(exc).__name__}: {exc}"
        lines.append(f"| {i} | {claim} | {measured} | **{verdict}**: {reason} |")
        details.setdefault(name, []).append(f"- Claim {i}: *{claim}* — **{verdict}**. {measured}. {reason}.")
    lines.append("")
    for name, m in metas.items():
        lines += [f"## {name}", "", f"{m['what']}. {m['mode']} mode on {m['device']}, {m['wall_time_s'] / 60:.1f} min "
                  f"(finished {m['finished']}): `{m['command']}`.", ""]
        lines += details.get(name, [])
        lines += [""] + _table(rows[name]) + ["", f"CSV: [`{m['csv']}`]({m['csv']})", ""]
        lines += [f"![{fig}]({fig})" for fig in m["figures"]] + [""]
    if (out / "Lab3.solutions.ipynb").exists():
        lines += ["## The executed solutions notebook", "",
                  "[`Lab3.solutions.ipynb`](Lab3.solutions.ipynb): `solutions/Lab3.ipynb` with the model answers, "
                  "executed top to bottom in **quick mode** (`LAB3_QUICK=1`, CPU) by `lab3 results --notebook`; "
                  "its numbers are therefore smaller-budget numbers than the full-mode tables above.", ""]
    path = out / "README.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path
