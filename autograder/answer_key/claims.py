"""The lab's claims, checked against the recorded CSVs; ``results/README.md`` generated from them.

Each claim is a :class:`Claim`: the statement as the lab makes it, the **rule** that decides its
verdict (written once here and printed next to the verdict in the README) and the function that
applies the rule to the experiment's records. A verdict is ``holds``, ``mixed``, ``does not hold here``
or ``not measured here``. Nothing in the README is typed by hand: rerunning ``lab3 results`` rewrites
it from the numbers. This module reads CSV and JSON only (no torch), so tests can regenerate the README.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.answer_key.registry import EXPERIMENTS

HOLDS, FAILS, MIXED, NOT_MEASURED = "holds", "does not hold here", "mixed", "not measured here"
Rows = list[dict[str, Any]]

NOISE_RULE = (
    "A difference between two accuracies counts only when it exceeds **twice its standard error (SE)**. "
    "With k seeds (each seed redraws the data subsets, the initialization and the shuffling) the SE is the "
    "sample standard deviation of the k per-seed differences over √k, but never less than the test-set "
    "sampling error √(2·p·(1−p)/(n·k)) (p: the mean of the two accuracies, n: test images per run); with one "
    "seed it is that sampling error alone. Within 2 SE a difference is reported as *within noise*."
)
TIME_RULE = (
    "Times that verdicts use are **process CPU seconds** (`time.process_time()`, one torch thread): on a "
    "machine shared with other jobs, wall-clock time depends on the other jobs' load. Wall-clock times are "
    "shown for information only."
)


def timing_evidence(records: dict[str, Record]) -> str:
    """How much CPU and wall time vary between runs doing the same work (the optimizer arms across seeds)."""
    rec = records.get("ex3_optimizers")
    if rec is None or "cpu_time_s" not in rec.rows[0] or len(rec.seeds()) < 2:
        return ""
    worst = {"cpu_time_s": 0.0, "train_time_s": 0.0}
    for opt, schedule in dict.fromkeys((r["optimizer"], r["schedule"]) for r in rec.rows):
        for key in worst:
            values = _by_seed(rec.rows, key, optimizer=opt, schedule=schedule)
            worst[key] = max(worst[key], max(values) / min(values) - 1)
    return (f" Measured here: the same optimizer run repeated with other seeds (the same amount of work) took at "
            f"most {worst['cpu_time_s']:.0%} more CPU time than its fastest repeat, and up to "
            f"{worst['train_time_s']:.0%} more wall time.")
STEP_WINDOW_DEFAULT = 10


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


@dataclass
class Record:
    """One experiment's records: its CSV rows, its ``<name>.json`` and any ``<name>_<part>.csv``."""

    name: str
    rows: Rows
    meta: dict[str, Any]
    parts: dict[str, Rows] = field(default_factory=dict)

    @property
    def config(self) -> dict[str, Any]:
        return self.meta.get("config", {})

    def seeds(self) -> list[int]:
        return sorted({r["seed"] for r in self.rows if "seed" in r and r["seed"] != ""}) or [
            int(self.meta.get("seed", 0))]


def load_record(out: Path, name: str) -> Record | None:
    if not ((out / f"{name}.json").exists() and (out / f"{name}.csv").exists()):
        return None
    parts = {p.stem[len(name) + 1:]: read_rows(p) for p in sorted(out.glob(f"{name}_*.csv"))}
    return Record(name, read_rows(out / f"{name}.csv"), json.loads((out / f"{name}.json").read_text()), parts)


# ------------------------------------------------------------------------------------------ statistics


@dataclass
class Diff:
    """A paired difference a − b over seeds: its mean, spread and the SE of :data:`NOISE_RULE`."""

    mean: float
    sd: float  # sample standard deviation over the seeds (0 with one seed)
    se: float
    k: int

    @property
    def clear(self) -> int:
        """+1 clearly positive, −1 clearly negative, 0 within noise (2 SE)."""
        return 0 if abs(self.mean) <= 2 * self.se else (1 if self.mean > 0 else -1)

    def text(self, digits: int = 3) -> str:
        spread = f", sd {self.sd:.{digits}f}" if self.k > 1 else ""
        return f"{self.mean:+.{digits}f} (SE {self.se:.{digits}f}{spread})"


def diff(a: list[float], b: list[float], n_test: int | None) -> Diff:
    """The paired difference of two accuracy lists (one value per seed) under :data:`NOISE_RULE`."""
    d = [x - y for x, y in zip(a, b, strict=True)]
    k = len(d)
    sd = statistics.stdev(d) if k > 1 else 0.0
    p = (sum(a) + sum(b)) / (2 * k)
    floor = math.sqrt(2 * p * (1 - p) / (n_test * k)) if n_test else 0.0
    return Diff(sum(d) / k, sd, max(sd / math.sqrt(k), floor), k)


def plain_diff(a: list[float], b: list[float], min_se: float = 0.0) -> Diff:
    """A paired difference of non-accuracy values (losses, steps): SE = sd / √k, at least ``min_se``."""
    d = [x - y for x, y in zip(a, b, strict=True)]
    k = len(d)
    sd = statistics.stdev(d) if k > 1 else 0.0
    return Diff(sum(d) / k, sd, max(sd / math.sqrt(k), min_se), k)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _by_seed(rows: Rows, key: str, **match) -> list[float]:
    """``key`` of the rows matching ``match``, in seed order."""
    return [r[key] for r in sorted(_pick(rows, **match), key=lambda r: r.get("seed", 0))]


def _spread(values: list[float], digits: int = 3) -> str:
    """Mean ± sd over seeds, or the value alone."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{_mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _verdict_of(signs: list[int]) -> str:
    if all(s > 0 for s in signs):
        return HOLDS
    if any(s > 0 for s in signs):
        return MIXED
    return FAILS


# ------------------------------------------------------------------------------------------ claims


@dataclass(frozen=True)
class Claim:
    experiment: str
    text: str  # the claim as the lab makes it
    rule: str  # the rule that decides the verdict
    check: Callable[[Record], tuple[str, str, str]]  # -> (verdict, measured, reason)


def c_length(rec: Record):
    rows = rec.rows
    n = int(rec.config.get("eval_examples", 0)) or None
    lengths = sorted({r["length"] for r in rows})
    parts, diffs = [], []
    for length in lengths:
        t, m = _one(rows, model="transformer", length=length), _one(rows, model="lstm", length=length)
        parts.append(f"L={length}: {t['exact_match']:.2f} vs {m['exact_match']:.2f}")
        diffs.append(diff([t["exact_match"]], [m["exact_match"]], n))
    measured = (f"exact match Transformer vs LSTM on {n} held-out sequences, " + "; ".join(parts))
    last, first = diffs[-1], diffs[0]
    if last.clear > 0 and last.mean >= first.mean:
        return HOLDS, measured, (f"the gap at L={lengths[-1]} is {last.text(2)} and at least the gap at "
                                 f"L={lengths[0]} ({first.mean:+.2f}): the LSTM must squeeze the whole input "
                                 "into one state, attention reads any position directly")
    return FAILS, measured, "the gap does not grow with length at this budget"


def _vit_rows(rec: Record) -> tuple[Rows, int]:
    base = min(r["epochs"] for r in rec.rows)
    return [r for r in rec.rows if r["epochs"] == base], base


def c_vit_beats(rec: Record):
    rows, epochs = _vit_rows(rec)
    n_max = max(r["train_images"] for r in rows)
    v, c = _one(rows, model="vit", train_images=n_max), _one(rows, model="cnn", train_images=n_max)
    d = diff([v["test_accuracy"]], [c["test_accuracy"]], v["test_images"])
    measured = (f"test accuracy on {v['test_images']} test images after {epochs} epochs on {n_max} training "
                f"images: ViT {v['test_accuracy']:.3f} ({v['params'] / 1e3:.0f}k parameters) vs CNN "
                f"{c['test_accuracy']:.3f} ({c['params'] / 1e3:.0f}k); ViT − CNN {d.text()}")
    if d.clear > 0:
        return HOLDS, measured, "the ViT wins at this scale"
    return FAILS, measured, ("the CNN wins at this scale (a few thousand images, ~75k parameters, no "
                             "pretraining): the claim is about Transformers pretrained on very large data sets; "
                             "claim 3 measures the trend that explains it")


def c_vit_data(rec: Record):
    rows, epochs = _vit_rows(rec)
    sizes = sorted({r["train_images"] for r in rows})
    gaps, parts = [], []
    for n in sizes:
        v, c = _one(rows, model="vit", train_images=n), _one(rows, model="cnn", train_images=n)
        gaps.append(diff([c["test_accuracy"]], [v["test_accuracy"]], v["test_images"]))
        parts.append(f"{n} images: ViT {v['test_accuracy']:.3f} (train {v['final_train_accuracy']:.2f}), "
                     f"CNN {c['test_accuracy']:.3f} (train {c['final_train_accuracy']:.2f})")
    measured = f"test accuracy after {epochs} epochs, " + "; ".join(parts)
    longer = [r for r in rec.rows if r["epochs"] != epochs]
    for r in longer:
        measured += (f"; the ViT on {r['train_images']} images for {r['epochs']} epochs: test "
                     f"{r['test_accuracy']:.3f}, train {r['final_train_accuracy']:.2f}")
    if len(sizes) < 2:
        return NOT_MEASURED, measured, "one training-set size only"
    shrink = plain_diff([gaps[0].mean], [gaps[-1].mean], min_se=math.hypot(gaps[0].se, gaps[-1].se))
    detail = (f"CNN − ViT: {gaps[0].mean:+.3f} at {sizes[0]} images, {gaps[-1].mean:+.3f} at {sizes[-1]}; "
              f"the lead shrinks by {shrink.text()}")
    if shrink.clear > 0:
        return HOLDS, measured, detail + ": the ViT gains more from extra data than the CNN"
    if shrink.clear < 0:
        return FAILS, measured, detail + ": the CNN's lead grows with data over this range"
    return FAILS, measured, detail + ": within noise, no trend over this range of sizes"


def c_labels_small(rec: Record):
    rows = rec.rows
    n = min(r["labels"] for r in rows)
    s = _one(rows, method="scratch", labels=n)
    best = max((r for r in _pick(rows, labels=n) if r["method"] != "scratch"), key=lambda r: r["test_accuracy"])
    d = diff([best["test_accuracy"]], [s["test_accuracy"]], s["test_images"])
    measured = f"{n} labels: " + ", ".join(f"{r['method']} {r['test_accuracy']:.3f}" for r in _pick(rows, labels=n))
    if d.mean >= 0.1 and d.clear > 0:
        return HOLDS, measured, f"{best['method']} − scratch {d.text()}"
    return FAILS, measured, f"best transfer − scratch {d.text()}"


def c_labels_shrinks(rec: Record):
    rows = rec.rows
    ns = sorted({r["labels"] for r in rows})

    def gap(n):
        s = _one(rows, method="scratch", labels=n)
        best = max((r for r in _pick(rows, labels=n) if r["method"] != "scratch"), key=lambda r: r["test_accuracy"])
        return diff([best["test_accuracy"]], [s["test_accuracy"]], s["test_images"])

    measured = "best transfer − scratch: " + ", ".join(f"{n} labels {gap(n).mean:+.3f}" for n in ns)
    if len(ns) < 2:
        return NOT_MEASURED, measured, "one label budget only"
    first, last = gap(ns[0]), gap(ns[-1])
    shrink = plain_diff([first.mean], [last.mean], min_se=math.hypot(first.se, last.se))
    if shrink.clear > 0:
        return HOLDS, measured, f"the advantage shrinks by {shrink.text()} from {ns[0]} to {ns[-1]} labels"
    return FAILS, measured, f"the change {shrink.text()} is within noise or the other way"


def c_labels_time(rec: Record):
    rows = rec.rows
    if "cpu_time_s" not in rows[0]:
        return NOT_MEASURED, "wall-clock times only", ("this record has no CPU times; rerun "
                                                       "`lab3 results --only ex2_labels`")
    ns = sorted({r["labels"] for r in rows})
    parts, outcomes = [], {}
    for n in ns:
        s = _one(rows, method="scratch", labels=n)
        cells = [f"scratch {s['cpu_time_s']:.1f} s ({s['images_seen']} images seen)"]
        for method in ("features", "finetune"):
            r = _one(rows, method=method, labels=n)
            if r is None:
                continue
            ratio = r["cpu_time_s"] / max(s["cpu_time_s"], 1e-9)
            cells.append(f"{method} {r['cpu_time_s']:.1f} s ({ratio:.2f}x scratch's, {r['images_seen']} images seen)")
            outcomes.setdefault(method, []).append(1 if ratio < 0.75 else (-1 if ratio > 1 / 0.75 else 0))
        parts.append(f"{n} labels: " + ", ".join(cells))
    measured = "CPU seconds of training, " + "; ".join(parts)
    wins = [f"{m} at {n} labels" for m, o in outcomes.items() for n, x in zip(ns, o, strict=False) if x > 0]
    others = [f"{m} at {n} labels" for m, o in outcomes.items() for n, x in zip(ns, o, strict=False) if x <= 0]
    rate = {m: _mean([r["images_per_cpu_s"] for r in _pick(rows, method=m)]) for m in ("scratch", "finetune")
            if _pick(rows, method=m) and "images_per_cpu_s" in rows[0]}
    reason = (f"faster (under 0.75x): {', '.join(wins) or 'none'}; not faster: {', '.join(others) or 'none'}. "
              "Frozen features are computed once (their CPU time is included, and it grows with the labelled "
              "images) and a linear head trains in about a second")
    if len(rate) == 2:
        reason += (f"; fine-tuning runs forward and backward through the whole pretrained network: "
                   f"{rate['finetune']:.0f} images per CPU second against {rate['scratch']:.0f} for the small CNN, "
                   "so it costs more CPU time even though it sees far fewer images")
    if not others:
        return HOLDS, measured, reason
    return (MIXED if wins else FAILS), measured, reason


def _domain_acc(rows: Rows, prefix: str, method: str) -> list[float]:
    picked = sorted((r for r in rows if r["source"].startswith(prefix) and r["method"] == method),
                    key=lambda r: r.get("seed", 0))
    return [r["test_accuracy"] for r in picked]


def c_domain(rec: Record):
    rows = rec.rows
    n_test = rows[0]["test_images"]
    unrelated_prefix = next(r["source"] for r in rows if "(unrelated)" in r["source"])
    k = len(rec.seeds())
    acc = {(src, m): _domain_acc(rows, p, m) for src, p in (("related", "CIFAR-10 animals"),
                                                           ("unrelated", unrelated_prefix),
                                                           ("random", "none (random"))
           for m in ("features", "finetune")}
    imagenet, scratch = _domain_acc(rows, "ImageNet", "features"), _domain_acc(rows, "none (trained", "scratch")
    n_src = next(r["source_images"] for r in rows if r["source"].startswith("CIFAR-10 animals"))
    measured = (f"vehicle test accuracy, {k} seed(s), mean ± sd, {n_test} test images, sources of {n_src} images "
                f"each: frozen features related {_spread(acc['related', 'features'])}, unrelated "
                f"{_spread(acc['unrelated', 'features'])}, random weights {_spread(acc['random', 'features'])}, "
                f"ImageNet {_spread(imagenet)}; fine-tuned related {_spread(acc['related', 'finetune'])}, "
                f"unrelated {_spread(acc['unrelated', 'finetune'])}, random weights "
                f"{_spread(acc['random', 'finetune'])}; small CNN from scratch on the 100 labels {_spread(scratch)}")
    pre = {(src, m): diff(acc[src, m], acc["random", m], n_test) for src in ("related", "unrelated")
           for m in ("features", "finetune")}
    learned = [m for m in ("features", "finetune") if pre["related", m].clear > 0 and pre["unrelated", m].clear > 0]
    pre_text = "; ".join(f"{src} − random weights ({m}) {pre[src, m].text()}" for src, m in pre)
    if not learned:
        return NOT_MEASURED, measured, (f"{pre_text}: pretraining did not beat random weights for both sources, so "
                                        "this experiment cannot show the effect either way")
    ds = {m: diff(acc["related", m], acc["unrelated", m], n_test) for m in learned}
    detail = "; ".join(f"related − unrelated ({m}) {d.text()}" for m, d in ds.items())
    reason = f"{detail} (pretraining beats random weights: {pre_text})"
    verdict = _verdict_of([d.clear for d in ds.values()])
    if verdict == FAILS and any(d.clear < 0 for d in ds.values()):
        reason += "; the unrelated source is clearly better in at least one use"
    return verdict, measured, reason


def c_text(rec: Record):
    rows = rec.rows
    ft = _one(rows, method="finetune")
    best = max((r for r in rows if r["method"].startswith("features")), key=lambda r: r["test_accuracy"])
    n = ft.get("test_sentences") or rec.config.get("test_sentences")
    d = diff([ft["test_accuracy"]], [best["test_accuracy"]], n)
    measured = ("SST-2 test accuracy: " + ", ".join(f"{r['method']} {r['test_accuracy']:.3f} "
                                                     f"({r['trainable_params']} trainable parameters, "
                                                     f"{r['train_time_s']:.0f} s wall)" for r in rows))
    cost = ft["trainable_params"] / max(best["trainable_params"], 1)
    reason = (f"fine-tuning − best frozen vector ({best['method']}) {d.text()}, with {cost:.0f}x the trainable "
              "parameters")
    if d.clear > 0:
        return HOLDS, measured, reason
    return FAILS, measured, reason + ": within noise"


def _n_test_ex3(rec: Record) -> int:
    return 10 * int(rec.config.get("test_per_class", 0)) or 0


def c_schedule(rec: Record):
    rows, n = rec.rows, _n_test_ex3(rec)
    parts, signs, details = [], [], []
    for opt in dict.fromkeys(r["optimizer"] for r in rows):
        cells = [f"{s} {_spread(_by_seed(rows, 'final_test_acc', optimizer=opt, schedule=s))}"
                 for s in ("constant", "cosine", "warmup_cosine") if _pick(rows, optimizer=opt, schedule=s)]
        parts.append(f"{opt}: " + ", ".join(cells))
        d = diff(_by_seed(rows, "final_test_acc", optimizer=opt, schedule="warmup_cosine"),
                 _by_seed(rows, "final_test_acc", optimizer=opt, schedule="constant"), n)
        signs.append(d.clear)
        details.append(f"{opt} {d.text()}")
    k = len(rec.seeds())
    measured = f"final test accuracy, {k} seed(s), mean ± sd, {n} test images: " + "; ".join(parts)
    return _verdict_of(signs), measured, "warmup+cosine − constant: " + "; ".join(details)


def smooth(values: list[float], window: int) -> list[float]:
    """Trailing running mean (the first points average what there is)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def _step_curves(rec: Record, opt: str, schedule: str) -> list[list[float]]:
    """Smoothed per-step training loss of each seed (seed order)."""
    window = int(rec.config.get("step_loss_window", STEP_WINDOW_DEFAULT))
    steps = rec.parts.get("steps", [])
    runs: dict[int, list[float]] = {}
    for r in steps:
        if r["optimizer"] == opt and r["schedule"] == schedule:
            runs.setdefault(r["seed"], []).append(r["train_loss"])
    return [smooth(runs[s], window) for s in sorted(runs)]


def _first_below(curve: list[float], level: float) -> int:
    return next((i + 1 for i, v in enumerate(curve) if v <= level), len(curve) + 1)


def c_schedule_faster(rec: Record):
    if "steps" not in rec.parts:
        return NOT_MEASURED, "—", "no per-step losses recorded (`ex3_optimizers_steps.csv`)"
    parts, signs = [], []
    for opt in dict.fromkeys(r["optimizer"] for r in rec.rows):
        const, wc = _step_curves(rec, opt, "constant"), _step_curves(rec, opt, "warmup_cosine")
        level = (math.log(10) + max(_mean([c[-1] for c in const]), _mean([c[-1] for c in wc]))) / 2
        s_c, s_w = [_first_below(c, level) for c in const], [_first_below(c, level) for c in wc]
        d = plain_diff(s_c, s_w, min_se=0.5)
        signs.append(d.clear)
        parts.append(f"{opt}: loss {level:.2f} after {_spread(s_c, 0)} steps (constant) vs {_spread(s_w, 0)} "
                     f"(warmup+cosine), steps saved {d.text(1)}")
    total = len(_step_curves(rec, rec.rows[0]["optimizer"], "constant")[0])
    measured = (f"steps (of {total}) until the smoothed training loss first reaches the level, mean ± sd over "
                "seeds: " + "; ".join(parts))
    opts = list(dict.fromkeys(r["optimizer"] for r in rec.rows))
    faster = [o for o, x in zip(opts, signs, strict=True) if x > 0]
    slower = [o for o, x in zip(opts, signs, strict=True) if x < 0]
    reason = (f"warmup+cosine clearly faster for: {', '.join(faster) or 'none'}; clearly slower for: "
              f"{', '.join(slower) or 'none'} (the warmup holds the first steps back by design, the cosine decay "
              "acts late in the run)")
    return _verdict_of(signs), measured, reason


def c_schedule_stable(rec: Record):
    if "steps" not in rec.parts:
        return NOT_MEASURED, "—", "no per-step losses recorded (`ex3_optimizers_steps.csv`)"
    k = len(rec.seeds())
    if k < 3:
        return NOT_MEASURED, f"{k} seed(s)", "a spread across seeds needs at least 3 seeds"
    parts, signs = [], []
    for opt in dict.fromkeys(r["optimizer"] for r in rec.rows):
        spread = {}
        for schedule in ("constant", "warmup_cosine"):
            curves = _step_curves(rec, opt, schedule)
            length = min(len(c) for c in curves)
            spread[schedule] = _mean([statistics.stdev([c[i] for c in curves]) for i in range(length)])
        ratio = spread["constant"] / max(spread["warmup_cosine"], 1e-12)
        signs.append(1 if ratio >= 1.5 else (-1 if ratio <= 1 / 1.5 else 0))
        parts.append(f"{opt}: constant {spread['constant']:.3f}, warmup+cosine {spread['warmup_cosine']:.3f} "
                     f"(ratio {ratio:.2f})")
    measured = (f"spread of the smoothed training-loss curve across {k} seeds (standard deviation over seeds, "
                "averaged over the steps): " + "; ".join(parts))
    opts = list(dict.fromkeys(r["optimizer"] for r in rec.rows))
    steadier = [o for o, x in zip(opts, signs, strict=True) if x < 0]
    return _verdict_of(signs), measured, (
        "ratio = constant's spread / warmup+cosine's; a ratio between 1/1.5 and 1.5 is not read as a difference"
        + (f"; the constant learning rate is the steadier one across seeds for {', '.join(steadier)}" if steadier
           else ""))


def c_adam_fast(rec: Record):
    rows = rec.rows
    sgd = _by_seed(rows, "epoch1_train_loss", optimizer="sgd", schedule="constant")
    parts, signs = [], []
    for opt in ("adam", "adamw"):
        mine = _by_seed(rows, "epoch1_train_loss", optimizer=opt, schedule="constant")
        d = plain_diff(sgd, mine, min_se=0.01)
        signs.append(d.clear)
        parts.append(f"sgd − {opt} {d.text()}")
    measured = ("training loss over epoch 1 (constant LR), mean ± sd over seeds: "
                + ", ".join(f"{o} {_spread(_by_seed(rows, 'epoch1_train_loss', optimizer=o, schedule='constant'))}"
                            for o in ("sgd", "adam", "adamw")))
    return _verdict_of(signs), measured, "; ".join(parts) + ": adaptive per-parameter steps move faster at the start"


def c_amp_speed(rec: Record):
    amp = _pick(rec.rows, part="amp")
    off, on = _one(amp, amp=False), _one(amp, amp=True)
    measured = (f"{off['device']}: float32 {off['epoch_time_s']:.3f} s/epoch vs {on['dtype']} {on['epoch_time_s']:.3f} "
                f"s/epoch (median, wall; width-{on['model_width']} CNN, {on['train_images']} images), test acc "
                f"{off['test_acc']:.3f} vs {on['test_acc']:.3f}")
    if off["device"] != "cuda":
        ratio = on["epoch_time_s"] / max(off["epoch_time_s"], 1e-9)
        cpu = ("native (AVX512-BF16/AMX)" if on.get("native_bf16") else "emulated (no AVX512-BF16/AMX)")
        return NOT_MEASURED, measured, (f"the claim is about GPUs (tensor cores) and no GPU was lent for this run. "
                                        f"On this CPU bfloat16 is {cpu} and autocast took {ratio:.0%} of "
                                        "float32's wall time per epoch on a tiny model: a CPU figure, not the "
                                        "GPU claim. Run `lab3 results --device cuda --only ex3_amp_accumulation` "
                                        "on a GPU")
    ratio = on["epoch_time_s"] / max(off["epoch_time_s"], 1e-9)
    if ratio < 0.9:
        return HOLDS, measured, f"{on['dtype']} autocast takes {ratio:.0%} of float32's time per epoch"
    return FAILS, measured, f"{on['dtype']} autocast takes {ratio:.0%} of float32's time per epoch"


def c_amp_memory(rec: Record):
    amp = _pick(rec.rows, part="amp")
    off, on = _one(amp, amp=False), _one(amp, amp=True)
    a, b = off["activation_MB_per_batch"], on["activation_MB_per_batch"]
    measured = (f"tensors saved for backward per batch: float32 {a:.2f} MB, {on['dtype']} autocast {b:.2f} MB "
                f"({b / a:.0%})")
    ratio = b / a
    why = ("16-bit activations take 2 bytes instead of 4; what keeps its size (max-pool's int64 indices, the "
           "norm layers' float32 statistics) holds the ratio above 50 %")
    if 0.4 <= ratio <= 0.6:
        return HOLDS, measured, why
    if ratio < 0.4:
        return FAILS, measured, "more than halved: something besides the 2-byte values shrank (check the count)"
    return FAILS, measured, "less than halved: " + why


def c_accumulation(rec: Record):
    acc = _pick(rec.rows, part="accumulation")
    diffs = [r for r in acc if r["accumulation_steps"] > 1]
    base = _one(acc, accumulation_steps=1)
    measured = "; ".join(
        f"k={r['accumulation_steps']} x {r['micro_batch']}: largest weight difference after one step "
        f"{r['max_weight_diff_one_step']:.1e}, final train loss {r['final_train_loss']:.4f} "
        f"(one batch of {base['effective_batch']}: {base['final_train_loss']:.4f}), activations "
        f"{r['activation_MB_per_micro_batch']:.2f} MB vs {base['activation_MB_per_micro_batch']:.2f} MB"
        for r in diffs)
    same = all(r["max_weight_diff_one_step"] < 1e-5 for r in diffs)
    small = all(r["activation_MB_per_micro_batch"] <= 1.2 * base["activation_MB_per_micro_batch"]
                / r["accumulation_steps"] for r in diffs)
    if same and small:
        return HOLDS, measured, "the same update up to float32 rounding, with the activation memory of one micro-batch"
    if same or small:
        return MIXED, measured, ("same update" if same else "different update") + (
            ", micro-batch memory" if small else ", memory not reduced by k")
    return FAILS, measured, "the accumulated update differs and memory is not reduced"


def _reg(rec: Record, key: str, variant: str) -> list[float]:
    return _by_seed(rec.rows, key, variant=variant)


def c_reg_gap(rec: Record):
    rows, n = rec.rows, _n_test_ex3(rec)
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    k = len(rec.seeds())
    measured = (f"train − test gap, {k} seed(s), mean ± sd: "
                + ", ".join(f"{v} {_spread(_reg(rec, 'gap', v))}" for v in variants))
    signs, parts = [], []
    for v in variants[1:]:
        p = _mean(_reg(rec, "test_acc", "none") + _reg(rec, "test_acc", v))  # the sampling floor of NOISE_RULE
        d = plain_diff(_reg(rec, "gap", "none"), _reg(rec, "gap", v), min_se=math.sqrt(2 * p * (1 - p) / (n * k)))
        signs.append(d.clear)
        parts.append(f"{v} {d.text()}")
    return _verdict_of(signs), measured, "gap narrowed (none − variant): " + "; ".join(parts)


def c_reg_test(rec: Record):
    rows, n = rec.rows, _n_test_ex3(rec)
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    k = len(rec.seeds())
    measured = (f"test accuracy, {k} seed(s), mean ± sd: "
                + ", ".join(f"{v} {_spread(_reg(rec, 'test_acc', v))}" for v in variants)
                + f"; training accuracy without regularization {_spread(_reg(rec, 'train_acc', 'none'))}")
    signs, parts = [], []
    for v in variants[1:]:
        d = diff(_reg(rec, "test_acc", v), _reg(rec, "test_acc", "none"), n)
        signs.append(d.clear)
        parts.append(f"{v} {d.text()}")
    return _verdict_of(signs), measured, "variant − none: " + "; ".join(parts)


def c_distill(rec: Record):
    rows = rec.rows
    ns = sorted({r["labels"] for r in rows})
    parts, signs, details = [], [], []
    for n in ns:
        lab, kd = _one(rows, method="labels only", labels=n), _one(rows, method="distilled", labels=n)
        t = _one(rows, method="teacher", labels=n)
        parts.append(f"{n} labels: labels only {lab['test_accuracy']:.3f}, distilled {kd['test_accuracy']:.3f}, "
                     f"teacher {t['test_accuracy']:.3f}")
        d = diff([kd["test_accuracy"]], [lab["test_accuracy"]], kd["test_images"])
        signs.append(d.clear)
        details.append(f"{n} labels {d.text()}")
    return _verdict_of(signs), "; ".join(parts), "distilled − labels only: " + "; ".join(details)


CLAIMS: list[Claim] = [
    Claim("ex1_length_sweep", "Transformers beat RNNs on longer sequences (reverse task, equal parameters and steps).",
          "holds when the Transformer's exact match beats the LSTM's by more than 2 SE at the longest length "
          "and the gap there is at least the gap at the shortest; else does not hold", c_length),
    Claim("ex1_vit_vs_cnn",
          "Transformers beat CNNs on images (a ViT against a CNN of the same size, same data and budget).",
          "holds when the ViT's test accuracy beats the CNN's by more than 2 SE at the largest training set; "
          "else does not hold here", c_vit_beats),
    Claim("ex1_vit_vs_cnn", "A ViT needs more data than a CNN: the CNN's lead shrinks as the training set grows.",
          "holds when CNN − ViT at the largest training set is smaller than at the smallest by more than 2 SE "
          "(SE of the two gaps combined); else does not hold here", c_vit_data),
    Claim("ex2_labels", "Pretrained models do much better on small data.",
          "holds when the best transfer method beats scratch at the smallest label budget by at least 0.10 and "
          "by more than 2 SE", c_labels_small),
    Claim("ex2_labels", "The advantage of pretraining shrinks as labels grow.",
          "holds when (best transfer − scratch) at the largest budget is below its value at the smallest by "
          "more than 2 SE", c_labels_shrinks),
    Claim("ex2_labels", "Transfer trains faster than training from scratch.",
          "CPU seconds at each label budget (the feature method's include extracting its training features); "
          "a method is faster at a budget when it takes under 0.75x scratch's CPU time there (repeats of the same "
          "run vary by up to ~20 % in CPU time here); holds when every transfer method is faster at every "
          "budget, mixed when some method is at some budget, else does not hold here", c_labels_time),
    Claim("ex2_domain", "Domain-related pretraining transfers better than unrelated pretraining.",
          "first, both sources must beat random weights by more than 2 SE (else not measured here: the "
          "experiment could not show the effect); then related − unrelated, mean over seeds, per use (frozen "
          "features, fine-tuned): holds when clearly positive in every use, mixed in some, else does not hold here",
          c_domain),
    Claim("ex2_text", "Fine-tuning a pretrained encoder beats frozen features, at a higher cost.",
          "holds when fine-tuning beats the best frozen sentence vector by more than 2 SE; the cost is read from "
          "the trainable parameters (wall times shown, not judged)", c_text),
    Claim("ex3_optimizers", "A warmup + cosine schedule gives a better final accuracy than a constant learning rate.",
          "per optimizer, warmup+cosine − constant over seeds: holds when clearly positive for every optimizer, "
          "mixed for some, else does not hold here", c_schedule),
    Claim("ex3_optimizers", "Schedulers train faster.",
          "per optimizer, the level halfway between ln 10 (a uniform guess) and the higher final loss of the two "
          "arms; steps until the 10-step running mean of the training loss first reaches it; holds when "
          "warmup+cosine needs fewer steps than constant by more than 2 SE (at least 1 step) for every "
          "optimizer, mixed for some", c_schedule_faster),
    Claim("ex3_optimizers", "Schedulers give more stable convergence.",
          "at least 3 seeds; spread = standard deviation over seeds of the smoothed training loss, averaged over "
          "the steps; holds when constant's spread is at least 1.5x warmup+cosine's for every optimizer, mixed "
          "for some", c_schedule_stable),
    Claim("ex3_optimizers", "Adam/AdamW drop the training loss fastest at first.",
          "epoch-1 training loss with a constant LR: holds when both Adam and AdamW are below SGD by more than "
          "2 SE (over seeds)", c_adam_fast),
    Claim("ex3_amp_accumulation", "Mixed precision trains faster.",
          "on a GPU: holds when autocast's median epoch time is under 0.9x float32's; on a CPU not measured here",
          c_amp_speed),
    Claim("ex3_amp_accumulation", "Mixed precision halves activation memory.",
          "bytes of the tensors saved for backward: holds when autocast's are 40-60 % of float32's", c_amp_memory),
    Claim("ex3_amp_accumulation", "Gradient accumulation over k micro-batches equals one batch of k times the size, "
          "with the memory of a micro-batch.",
          "holds when the weights after one step differ by under 1e-5 and a micro-batch's saved activations are "
          "at most 1.2x the large batch's / k", c_accumulation),
    Claim("ex3_regularization", "Regularization narrows the train/test gap.",
          "per regularizer, none's gap − its gap over seeds: holds when clearly positive for every regularizer, "
          "mixed for some", c_reg_gap),
    Claim("ex3_regularization", "Regularization generalizes better (higher test accuracy).",
          "per regularizer, its test accuracy − none's over seeds: holds when clearly positive for every "
          "regularizer, mixed for some", c_reg_test),
    Claim("next_distillation", "(next steps) A pretrained teacher improves a small CNN when labels are few.",
          "per label budget, distilled − labels only: holds when clearly positive at every budget, mixed at some",
          c_distill),
]


def evaluate(out: Path) -> list[tuple[int, Claim, str, str, str]]:
    """Every claim's ``(number, claim, verdict, measured, reason)`` from the records in ``out``."""
    records = {n: r for n in EXPERIMENTS if (r := load_record(out, n)) is not None}
    results = []
    for i, claim in enumerate(CLAIMS, 1):
        rec = records.get(claim.experiment)
        if rec is None:
            results.append((i, claim, "not recorded yet", "—", f"`lab3 results --only {claim.experiment}`"))
            continue
        try:
            verdict, measured, reason = claim.check(rec)
        except Exception as exc:  # noqa: BLE001 - a missing column must not lose the README
            verdict, measured, reason = NOT_MEASURED, "—", f"cannot evaluate: {type(exc).__name__}: {exc}"
        results.append((i, claim, verdict, measured, reason))
    return results


# ------------------------------------------------------------------------------------------ settings


def _images_seen(n: int, budget: int) -> int:
    return n * min(max(budget // n, 10), 60)


def settings(name: str, meta: dict[str, Any]) -> str:
    """The settings of one recorded run, written from its ``<name>.json`` (what the README header shows)."""
    c = meta.get("config", {})
    seeds = c.get("seeds")
    seed_text = f"seeds {', '.join(map(str, seeds))}" if seeds else f"seed {meta.get('seed', 0)}"
    if name == "ex1_length_sweep":
        return (f"{c['steps']} steps at lengths {', '.join(map(str, c['lengths']))}, {c['eval_examples']} held-out "
                f"sequences, {seed_text}")
    if name == "ex1_vit_vs_cnn":
        sizes = c["train_per_class"] if isinstance(c["train_per_class"], list) else [c["train_per_class"]]
        long = (f"; the ViT also for {c['long_vit_epochs']} epochs at the largest size"
                if c.get("long_vit_epochs") else "")
        return (f"{' / '.join(str(10 * s) for s in sizes)} training images, {c['epochs']} epochs, first "
                f"{c['test_examples']} test images{long}, {seed_text}")
    if name == "ex2_labels":
        labels = c["labels"]
        seen = " / ".join(str(_images_seen(n, c["scratch_images"])) for n in labels)
        ft = " / ".join(str(n * min(max(c["finetune_images"] // n, 1), 10)) for n in c["finetune_labels"])
        return (f"{' / '.join(map(str, labels))} labels, {10 * c['test_per_class']} test images; scratch CNN width "
                f"{c['scratch_width']}, {seen} images seen; features at {c['feature_size']} px; fine-tuning at "
                f"{c['finetune_size']} px only at {' / '.join(map(str, c['finetune_labels']))} labels, {ft} images "
                f"seen; {seed_text}")
    if name == "ex2_domain":
        return (f"sources of {6 * c['source_per_class']} images each, {c['source_epochs']} epochs, CNN width "
                f"{c['width']}; {4 * c['target_per_class']} vehicle labels, {4 * min(c['test_per_class'], 1000)} "
                f"vehicle test images, fine-tuning {c['finetune_epochs']} epochs; {seed_text}")
    if name == "ex2_text":
        return (f"{c['train_sentences']} training sentences, {c['test_sentences']} test sentences, fine-tuning "
                f"{c['finetune_epochs']} epochs, {seed_text}")
    if name.startswith("ex3_"):
        epochs = {"ex3_optimizers": f"{c['epochs']} epochs",
                  "ex3_regularization": f"{c['ablation_epochs']} epochs",
                  "ex3_amp_accumulation": f"AMP {c['amp_epochs']} epochs, accumulation {min(c['epochs'], 3)} epochs"}
        return (f"{10 * c['train_per_class']} training and {10 * c['test_per_class']} test images, "
                f"{epochs.get(name, '')}, CNN width {c['width']}, batch {c['batch_size']}, {seed_text}")
    if name == "next_distillation":
        return (f"{' / '.join(map(str, c['labels']))} labels, {10 * c['transfer_per_class']} transfer images, "
                f"{10 * c['test_per_class']} test images, student width {c['width']}, {c['epochs']} epochs, "
                f"{seed_text}")
    return seed_text


# ------------------------------------------------------------------------------------------ README


def _table(rows: Rows, limit: int = 40) -> list[str]:
    if not rows:
        return ["(no rows)"]
    keys = list(rows[0])

    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v).replace("|", "/")

    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(r.get(k, "")) for k in keys) + " |" for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"| … {len(rows) - limit} more rows in the CSV |" + " |" * (len(keys) - 1))
    return lines


def _minutes(meta: dict[str, Any], key: str) -> str:
    return f"{meta[key] / 60:.1f} min" if key in meta else "—"


def write_readme(out: Path) -> Path:
    """(Re)write ``out/README.md`` from every ``<name>.json`` + ``<name>.csv`` in ``out``."""
    records = {n: r for n in EXPERIMENTS if (r := load_record(out, n)) is not None}
    lines = [
        "# Lab 3 — the answer key: measured results",
        "",
        "Generated by `lab3 results` from the CSV and JSON files in this folder (do not edit: rerun the command).",
        "Every experiment runs the solution code; each `<name>.json` holds its configuration, seeds, machine,",
        "wall and CPU time and command. The settings below are written from those files.",
        "",
    ]
    machines = {json.dumps(r.meta["machine"], sort_keys=True) for r in records.values()}
    for mj in sorted(machines):
        m = json.loads(mj)
        lines.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch thread(s), GPU: "
                     f"{m['gpu'] or 'none'}; Python {m['python']}, torch {m['torch']}.")
    modes = sorted({r.meta["mode"] for r in records.values()})
    on_gpu = any(r.meta["device"] == "cuda" for r in records.values())
    note = (GPU_NOTE if on_gpu else BUDGET_NOTE) if "full" in modes else ""
    lines += ["", f"Mode: {', '.join(modes) or '—'}. " + note, ""]
    lines += ["## Experiments", "", "| experiment | what | settings | wall time | CPU time | command |",
              "|---|---|---|---|---|---|"]
    wall = cpu = 0.0
    for name, r in records.items():
        wall += r.meta["wall_time_s"]
        cpu += r.meta.get("cpu_time_s", 0.0)
        lines.append(f"| [{name}](#{name}) | {r.meta['what']} | {settings(name, r.meta)} | "
                     f"{_minutes(r.meta, 'wall_time_s')} | {_minutes(r.meta, 'cpu_time_s')} | `{r.meta['command']}` |")
    missing = [n for n in EXPERIMENTS if n not in records]
    lines += ["", f"Total: {wall / 60:.1f} min wall, {cpu / 60:.1f} min CPU where recorded (runs recorded before "
              "CPU time was kept show —)." + (f" Not recorded yet: {', '.join(missing)}." if missing else ""), ""]
    lines += ["## How verdicts are decided", "", NOISE_RULE, "", TIME_RULE + timing_evidence(records), "",
              "A claim **holds** when its rule is met, is **mixed** when it is met for some of the arms the rule "
              "names, **does not hold here** when it is not met at this scale, and is **not measured here** when "
              "this run cannot test it (the reason says why).", ""]
    lines += ["## The lab's claims", "", "| # | claim | rule | measured | verdict |", "|---|---|---|---|---|"]
    details: dict[str, list[str]] = {}
    for i, claim, verdict, measured, reason in evaluate(out):
        lines.append(f"| {i} | {claim.text} | {claim.rule} | {measured} | **{verdict}**: {reason} |")
        details.setdefault(claim.experiment, []).append(
            f"- Claim {i}: *{claim.text}* — **{verdict}**. Rule: {claim.rule}. Measured: {measured}. {reason}.")
    lines.append("")
    for name, r in records.items():
        m = r.meta
        lines += [f"## {name}", "", f"{m['what']}. {m['mode']} mode on {m['device']}: {settings(name, m)}; "
                  f"{_minutes(m, 'wall_time_s')} wall, {_minutes(m, 'cpu_time_s')} CPU (finished {m['finished']}): "
                  f"`{m['command']}`.", ""]
        lines += details.get(name, [])
        lines += [""] + _table(r.rows) + ["", f"CSV: [`{m['csv']}`]({m['csv']})"]
        lines += [f"; more records: [`{name}_{p}.csv`]({name}_{p}.csv)" for p in r.parts]
        lines += [""] + [f"![{fig}]({fig})" for fig in m["figures"]] + [""]
    if (out / "Lab3.solutions.ipynb").exists():
        lines += ["## The executed solutions notebook", "",
                  "[`Lab3.solutions.ipynb`](Lab3.solutions.ipynb): `solutions/Lab3.ipynb` with the model answers, "
                  "executed top to bottom in **quick mode** (`LAB3_QUICK=1`, CPU) by `lab3 results --notebook`. "
                  "The model answers cite the full-mode records above; the quick-mode outputs printed next to them "
                  "come from smaller budgets and can differ (each answer says which mode it cites).", ""]
    path = out / "README.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path


BUDGET_NOTE = (
    "Full mode here is the notebook's full settings scaled down to what one CPU thread could do on a 2-core "
    "machine shared with two other jobs: the runs that record a CPU time were made within a budget of about "
    "100 CPU minutes in all (the Total line says what they used; the runs without one are from an earlier "
    "session, on the same kind of machine). The settings column says what each run used; the notebook's own "
    "full settings are the defaults of each configuration class in `lab3/`. The experiments whose verdicts turn "
    "on small margins (Exercise 3's optimizers and regularization, the domain experiment) run 3 seeds; the "
    "others one. On a GPU, `lab3 results --device cuda` runs the notebook's full settings into `results/cuda/`."
)
GPU_NOTE = (
    "Full mode on a GPU runs the notebook's own full settings (the defaults of each configuration class in "
    "`lab3/`; the settings column says what each run used)."
)
