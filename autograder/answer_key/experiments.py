"""One function per experiment of ``lab3 results``: run it with the solution code, write its CSV and figures.

Each function takes a :class:`Context` and returns ``{"rows": [...], "config": {...}, "figures": [...]}``;
the rows are what the CSV holds. ``Context.quick`` picks the quick settings (minutes); the full settings
are sized for ~1 hour on one CPU thread in all (see ``FULL_NOTE``).
"""

from __future__ import annotations

import csv
import dataclasses
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from autograder.answer_key.claims import smooth

FULL_NOTE = (
    "Full mode here is the notebook's full settings scaled down to what one CPU thread could do in about "
    "90 minutes on a 2-core machine shared with three other jobs (this process got a quarter of a core on "
    "average): seq2seq 500 steps, 128 validation sequences (notebook: 1 500, 256); ViT vs CNN tested on the "
    "first 5 000 test images (notebook: 10 000); SST-2 tested on 1 000 sentences (notebook: 1 821); transfer "
    "by labels: scratch CNN width 16 for 20 000 images seen (notebook: width 32, 40 000), 2 000 test images "
    "(notebook: 10 000), fine-tuning at 96 px (notebook: 128 px) for at most 2 000 images seen and only at "
    "100 and 1 000 labels; domain: sources of 400 images per class for 6 epochs, CNN width 16, 1 000 vehicle "
    "test images (notebook: 2 000 for 15 epochs, width 32, 4 000); Exercise 3 on 2 500 training and 1 000 "
    "test images (notebook: 5 000 and 2 000) with 4 optimizer epochs, 7 regularization epochs and 3 "
    "accumulation epochs (notebook: 10, 15, 10); distillation student 8 epochs. Everything else as in the "
    "notebook; each `<name>.json` holds every setting. On a GPU or an idle machine, run the notebook's full "
    "settings for reference numbers."
)


@dataclass
class Context:
    out: Path  # the results folder
    quick: bool
    device: torch.device
    seed: int = 0
    seeds: int = 3  # the experiments whose verdicts turn on small margins run seeds seed, seed + 1, ...

    @property
    def notebook_full(self) -> bool:
        """On a GPU, full mode runs the notebook's own full settings (each config class's defaults); on a
        CPU, the scaled-down settings of ``BUDGET_NOTE`` (results/README.md)."""
        return not self.quick and self.device.type == "cuda"


def seeds_of(ctx: Context) -> list[int]:
    """The seeds of a multi-seed experiment (each one changes the data subsets, the initialization and the
    shuffling, so the spread across seeds is the run-to-run variation of the whole experiment)."""
    return [ctx.seed + i for i in range(max(1, ctx.seeds))]


def _mean_rows(rows: list[dict[str, Any]], key: str, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per value of ``key`` (first-seen order) with the mean of ``fields`` over the seeds."""
    out = []
    for value in dict.fromkeys(r[key] for r in rows):
        group = [r for r in rows if r[key] == value]
        out.append({key: value, **{f: sum(r[f] for r in group) / len(group) for f in fields}})
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 5)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return _plain(value.item())
    if isinstance(value, tuple):
        return list(value)
    return value


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    """Rows (dicts, possibly with different keys) as CSV; columns in first-seen order."""
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys, restval="")
        writer.writeheader()
        writer.writerows({k: _plain(v) for k, v in row.items()} for row in rows)
    return path


def _save(fig, path: Path) -> str:
    fig.savefig(path, dpi=100)
    try:
        import matplotlib.pyplot as plt

        plt.close(fig)
    except Exception:  # noqa: BLE001 - a matplotlib.figure.Figure is not registered with pyplot
        pass
    return path.name


def _scalar_rows(rows: list[dict[str, Any]], drop: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


# ------------------------------------------------------------------------------------------ exercise 1


def ex1_length_sweep(ctx: Context) -> dict[str, Any]:
    """Transformer vs LSTM (equal parameters, equal steps) at growing lengths; attention map at length 16."""
    from lab3 import ex1_experiments as ex1
    from lab3 import viz
    from lab3.sequences import generate_seq2seq_batch, tokens_to_labels

    if ctx.quick:
        base = ex1.Seq2SeqConfig(steps=300, eval_every=150, eval_examples=128, num_threads=1, seed=ctx.seed)
        lengths = (8, 16)
    elif ctx.notebook_full:
        base, lengths = ex1.Seq2SeqConfig(eval_every=250, seed=ctx.seed), (8, 16, 32, 64)
    else:
        base = ex1.Seq2SeqConfig(steps=500, eval_every=250, eval_examples=128, num_threads=1, seed=ctx.seed)
        lengths = (8, 16, 32, 64)
    sweep = ex1.length_sweep(lengths, base=base, device=ctx.device, run_prefix="results/ex1_reverse", verbose=True)
    rows = [
        {
            "model": r["model"],
            "length": r["length"],
            "params": r["params"],
            "steps": r["steps"],
            "exact_match": r["exact_match"],
            "token_accuracy": r["token_accuracy"],
            "train_seconds": r["train_seconds"],
        }
        for r in sweep
    ]
    write_csv(rows, ctx.out / "ex1_length_sweep.csv")
    figures = [
        _save(viz.plot_length_sweep(sweep, title="reverse task: exact match vs length"),
              ctx.out / "ex1_length_sweep.png"),
        _save(viz.plot_length_sweep(sweep, metric="token_accuracy", title="reverse task: token accuracy vs length"),
              ctx.out / "ex1_length_sweep_tokens.png"),
    ]
    model = next(r["module"] for r in sweep if r["model"] == "transformer" and r["length"] == 16)
    torch.manual_seed(ctx.seed)
    example = generate_seq2seq_batch("reverse", 1, 16, 16).to(ctx.device)
    model.eval()
    with torch.no_grad():
        maps = viz.capture_attention(model, lambda: model(example.src, example.tgt_in))
    last = f"decoder_layers.{len(model.decoder_layers) - 1}.multihead_attn"
    fig = viz.plot_attention(maps[last][0].cpu(), query_labels=tokens_to_labels(example.tgt_in[0].cpu()),
                             key_labels=tokens_to_labels(example.src[0].cpu()), title=f"{last} (reverse, L = 16)")
    figures.append(_save(fig, ctx.out / "ex1_length_sweep_attention.png"))
    return {"rows": rows, "config": {**dataclasses.asdict(base), "lengths": list(lengths)}, "figures": figures}


def _plot_vit_trend(rows: list[dict[str, Any]]):
    """Test (solid) and training (dashed) accuracy against training-set size, ViT vs CNN."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.subplots()
    base = min(r["epochs"] for r in rows)
    for model in ("vit", "cnn"):
        sub = sorted((r for r in rows if r["model"] == model and r["epochs"] == base), key=lambda r: r["train_images"])
        xs = [r["train_images"] for r in sub]
        line = ax.plot(xs, [r["test_accuracy"] for r in sub], "-o", label=f"{model} test")[0]
        ax.plot(xs, [r["final_train_accuracy"] for r in sub], "--o", color=line.get_color(), label=f"{model} train")
    for r in rows:
        if r["epochs"] != base:
            ax.plot([r["train_images"]], [r["test_accuracy"]], "*", markersize=11,
                    label=f"{r['model']} test, {r['epochs']} epochs")
    ax.set_xscale("log")
    ax.set(xlabel="training images (log scale)", ylabel="accuracy",
           title=f"ViT vs CNN of the same size, {base} epochs")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def ex1_vit_vs_cnn(ctx: Context) -> dict[str, Any]:
    """ViT vs a SmallCNN of the same parameter count, same subset, augmentation, optimizer and epochs, at
    growing training-set sizes (the trend), plus the ViT at the largest size trained longer."""
    from lab3 import ex1_experiments as ex1
    from lab3 import viz
    from lab3.data import CIFAR10_CLASSES

    if ctx.quick:
        cfg = ex1.ViTConfig(train_per_class=100, epochs=2, test_examples=2000, num_threads=1, seed=ctx.seed)
        sizes, long_epochs = (50, 100), 4
    elif ctx.notebook_full:
        cfg, sizes, long_epochs = ex1.ViTConfig(seed=ctx.seed), (100, 250, 500, 1000, 2500), 100
    else:
        cfg = ex1.ViTConfig(test_examples=2000, num_threads=1, seed=ctx.seed)
        sizes, long_epochs = (100, 250, 500), 30
    rows, largest = [], None
    for per_class in sizes:
        runs = ex1.vit_vs_cnn(dataclasses.replace(cfg, train_per_class=per_class), device=ctx.device,
                              run_prefix=f"results/ex1_vit_vs_cnn/n{per_class * 10}", verbose=True)
        rows += [_vit_row(r, per_class) for r in runs]
        largest = runs
    long_cfg = dataclasses.replace(cfg, train_per_class=sizes[-1], epochs=long_epochs)
    long_run = ex1.train_vit(long_cfg, device=ctx.device, run_name="results/ex1_vit_vs_cnn/vit_long")
    rows.append(_vit_row({**long_run, "model": "vit", "epochs": len(long_run["history"])}, sizes[-1]))
    write_csv(rows, ctx.out / "ex1_vit_vs_cnn.csv")
    write_csv(_confusion_rows(largest[0], CIFAR10_CLASSES), ctx.out / "ex1_vit_vs_cnn_confusion.csv")
    hist = {f"{r['model']} ({r['params'] / 1e3:.0f}k)": r["history"] for r in largest}
    hist[f"vit, {long_epochs} epochs"] = long_run["history"]
    figures = [
        _save(_plot_vit_trend(rows), ctx.out / "ex1_vit_trend.png"),
        _save(viz.plot_learning_curves(hist, metrics=("train_loss", "train_accuracy", "test_accuracy"),
                                       title=f"ViT vs CNN on the same {sizes[-1] * 10} CIFAR-10 images"),
              ctx.out / "ex1_vit_vs_cnn.png"),
        _save(viz.plot_confusion_matrix(largest[0]["targets"], largest[0]["predictions"], CIFAR10_CLASSES),
              ctx.out / "ex1_vit_confusion.png"),
    ]
    config = {**dataclasses.asdict(cfg), "train_per_class": list(sizes), "long_vit_epochs": long_epochs}
    return {"rows": rows, "config": config, "figures": figures}


def _confusion_rows(run: dict[str, Any], classes) -> list[dict[str, Any]]:
    """The ViT's confusion matrix as rows: per true class, the share predicted as each class (the figure's cells)."""
    y = torch.as_tensor(run["targets"]).long().cpu()
    p = torch.as_tensor(run["predictions"]).long().cpu()
    rows = []
    for i, name in enumerate(classes):
        mask = y == i
        total = max(int(mask.sum()), 1)
        rows.append({"true_class": name, **{c: round(int((p[mask] == j).sum()) / total, 4)
                                             for j, c in enumerate(classes)}})
    return rows


def _vit_row(r: dict[str, Any], per_class: int) -> dict[str, Any]:
    curve = [h["test_accuracy"] for h in r["history"]]
    return {
        "model": r["model"],
        "params": r["params"],
        "train_images": per_class * 10,
        "test_images": len(r["targets"]),
        "epochs": r["epochs"],
        "test_accuracy": r["test_accuracy"],
        "best_test_accuracy": max(curve),
        "final_train_accuracy": r["history"][-1]["train_accuracy"],
        "train_seconds": r["train_seconds"],
    }


# ------------------------------------------------------------------------------------------ exercise 2


def _move(tmp: Path, name: str, ctx: Context, new: str) -> str:
    shutil.move(str(tmp / name), str(ctx.out / new))
    return new


def ex2_labels(ctx: Context) -> dict[str, Any]:
    """Scratch vs frozen features vs full fine-tuning at 100 / 1 000 / 5 000 labels: accuracy and time."""
    from lab3 import transfer_experiments as ex2

    if ctx.quick:
        cfg = ex2.LabelsConfig.quick()
    elif ctx.notebook_full:
        cfg = ex2.LabelsConfig()
    else:
        cfg = ex2.LabelsConfig(test_per_class=200, finetune_size=96, finetune_labels=(100, 1000),
                               finetune_images=2000, scratch_images=20_000, scratch_width=16)
    with tempfile.TemporaryDirectory() as tmp:
        rows = ex2.labels_experiment(cfg, out_dir=tmp, seed=ctx.seed, device=ctx.device)
        rows = [{k: v for k, v in r.items() if k != "quick"} for r in rows]
        for r in rows:  # throughput: images through the network per CPU second of training
            r["images_per_cpu_s"] = round(r["images_seen"] / max(r["cpu_time_s"], 1e-9), 1)
        write_csv(rows, ctx.out / "ex2_labels.csv")
        figures = [_move(Path(tmp), "labels.png", ctx, "ex2_labels.png")]
    return {"rows": rows, "config": dataclasses.asdict(cfg), "figures": figures}


def _plot_domain_seeds(rows: list[dict[str, Any]]):
    """Horizontal bars: mean vehicle test accuracy per source and method over the seeds, min-max whiskers."""
    from matplotlib.figure import Figure

    arms = list(dict.fromkeys((r["source"], r["method"]) for r in rows))
    fig = Figure(figsize=(8, 0.45 * len(arms) + 1.6), layout="constrained")
    ax = fig.subplots()
    accs = [[r["test_accuracy"] for r in rows if (r["source"], r["method"]) == arm] for arm in arms]
    means = [sum(a) / len(a) for a in accs]
    ax.barh([f"{s} [{m}]" for s, m in arms], means, color="tab:blue",
            xerr=[[m - min(a) for m, a in zip(means, accs, strict=True)],
                  [max(a) - m for m, a in zip(means, accs, strict=True)]], capsize=3)
    ax.axvline(0.25, color="grey", ls="--", label="chance (4 classes)")
    ax.set(xlabel="test accuracy on CIFAR-10 vehicles", xlim=(0, 1),
           title=f"{rows[0]['target_labels']} vehicle labels: mean of {len({r['seed'] for r in rows})} seeds, "
                 "whiskers min-max")
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    return fig


def ex2_domain(ctx: Context) -> dict[str, Any]:
    """Related (CIFAR animals) vs unrelated (Fashion-MNIST, same size and budget) vs no vs ImageNet
    pretraining, transferred to 100 vehicle labels; several seeds (sources, labels, initialization)."""
    from lab3 import transfer_experiments as ex2

    if ctx.quick:
        cfg = ex2.DomainConfig.quick()
    elif ctx.notebook_full:
        cfg = ex2.DomainConfig()
    else:  # sources large and long enough to learn features: 9 000 images each, 8 epochs
        cfg = ex2.DomainConfig(source_per_class=1500, source_epochs=8, test_per_class=1000, width=16)
    rows = []
    for seed in seeds_of(ctx):
        with tempfile.TemporaryDirectory() as tmp:
            seed_rows = ex2.domain_experiment(cfg, out_dir=tmp, seed=seed, device=ctx.device)
        rows += [{"seed": seed, **{k: v for k, v in r.items() if k != "quick"}} for r in seed_rows]
    write_csv(rows, ctx.out / "ex2_domain.csv")
    figures = [_save(_plot_domain_seeds(rows), ctx.out / "ex2_domain.png")]
    return {"rows": rows, "config": {**dataclasses.asdict(cfg), "seeds": seeds_of(ctx)}, "figures": figures}


def ex2_text(ctx: Context) -> dict[str, Any]:
    """all-MiniLM-L6-v2 on SST-2: frozen features ([CLS] / mean) vs full fine-tuning."""
    from lab3 import transfer_experiments as ex2

    cfg = ex2.TextConfig.quick() if ctx.quick else ex2.TextConfig(test_sentences=1821 if ctx.notebook_full
                                                                   else 1000)
    with tempfile.TemporaryDirectory() as tmp:
        rows = ex2.text_experiment(cfg, out_dir=tmp, seed=ctx.seed, device=ctx.device)
        rows = [{k: v for k, v in r.items() if k != "quick"} for r in rows]
        write_csv(rows, ctx.out / "ex2_text.csv")
        figures = [_move(Path(tmp), "text.png", ctx, "ex2_text.png")]
    return {"rows": rows, "config": dataclasses.asdict(cfg), "figures": figures}


# ------------------------------------------------------------------------------------------ exercise 3


def _ex3_config(ctx: Context, seed: int | None = None):
    from lab3 import ex3_experiments as ex3

    if ctx.quick:
        cfg = ex3.Ex3Config.quick()
    elif ctx.notebook_full:
        cfg = ex3.Ex3Config()
    else:
        cfg = ex3.Ex3Config(train_per_class=250, test_per_class=100, epochs=4, ablation_epochs=7)
    return dataclasses.replace(cfg, seed=ctx.seed if seed is None else seed, log_root="results/ex3")


def _plot_step_losses(curves: list[dict[str, Any]], window: int):
    """Per optimizer: the smoothed training loss per step, mean over seeds with the min-max band."""
    from matplotlib.figure import Figure

    opts = list(dict.fromkeys(c["optimizer"] for c in curves))
    fig = Figure(figsize=(4.2 * len(opts), 3.4), layout="constrained")
    axes = fig.subplots(1, len(opts), squeeze=False)[0]
    for ax, opt in zip(axes, opts, strict=True):
        for schedule in dict.fromkeys(c["schedule"] for c in curves):
            runs = {}
            for c in curves:
                if c["optimizer"] == opt and c["schedule"] == schedule:
                    runs.setdefault(c["seed"], []).append(c["train_loss"])
            smooth = [smooth(v, window) for v in runs.values()]
            n = min(len(v) for v in smooth)
            steps = range(1, n + 1)
            mean = [sum(v[i] for v in smooth) / len(smooth) for i in range(n)]
            ax.plot(steps, mean, "--" if schedule == "constant" else "-", label=schedule)
            ax.fill_between(steps, [min(v[i] for v in smooth) for i in range(n)],
                            [max(v[i] for v in smooth) for i in range(n)], alpha=0.2)
        ax.set_title(opt)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(f"train loss (mean of {window} steps)")
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=8)
    fig.suptitle(f"training loss per step: mean over {len({c['seed'] for c in curves})} seeds, band = min-max")
    return fig


def ex3_optimizers(ctx: Context) -> dict[str, Any]:
    """SGD-momentum / Adam / AdamW x constant / cosine / warmup+cosine over several seeds: final accuracy,
    accuracy per epoch, the training loss of every step (``ex3_optimizers_steps.csv``) and CPU time."""
    from lab3 import ex3_experiments as ex3

    rows, curves, hist0 = [], [], None
    for seed in seeds_of(ctx):
        cfg = _ex3_config(ctx, seed)
        data = ex3.load_data(cfg)
        steps: dict[str, list[float]] = {}
        seed_rows, hist = ex3.optimizer_comparison(data, cfg, ctx.device,
                                                   schedules=("constant", "cosine", "warmup_cosine"),
                                                   step_losses=steps)
        for r in seed_rows:
            key = f"{r['optimizer']}/{r['schedule']}"
            h = hist[key]
            rows.append({"seed": seed, **r, "epoch1_train_loss": round(h[0]["train_loss"], 4), "epochs": len(h),
                         "steps": len(steps[key]),
                         "test_acc_by_epoch": " ".join(f"{e['val_accuracy']:.4f}" for e in h)})
            curves += [{"optimizer": r["optimizer"], "schedule": r["schedule"], "seed": seed, "step": i + 1,
                        "train_loss": round(v, 4)} for i, v in enumerate(steps[key])]
        hist0 = hist0 or hist
    write_csv(rows, ctx.out / "ex3_optimizers.csv")
    write_csv(curves, ctx.out / "ex3_optimizers_steps.csv")
    figures = [_save(_plot_step_losses(curves, STEP_WINDOW), ctx.out / "ex3_optimizers_steps.png")]
    for name in ("sgd", "adam", "adamw"):
        sub = {k: v for k, v in hist0.items() if k.startswith(name + "/")}
        fig = ex3.plot_histories(sub, ("train_loss", "val_accuracy"),
                                 title=f"{name}: constant / cosine / warmup+cosine (seed {ctx.seed})")
        figures.append(_save(fig, ctx.out / f"ex3_optimizers_{name}.png"))
    fig = ex3.plot_histories({k: v for k, v in hist0.items() if k.endswith("/warmup_cosine")},
                             ("train_loss", "val_accuracy"), title=f"optimizers, warmup + cosine (seed {ctx.seed})")
    figures.insert(0, _save(fig, ctx.out / "ex3_optimizers.png"))
    config = {**dataclasses.asdict(_ex3_config(ctx)), "seeds": seeds_of(ctx), "step_loss_window": STEP_WINDOW}
    return {"rows": rows, "config": config, "figures": figures}


STEP_WINDOW = 10  # steps in the running mean of the per-step training loss (claims 9-10 and the figure)


def ex3_amp_accumulation(ctx: Context) -> dict[str, Any]:
    """AMP off / on (time per epoch, activation memory, accuracy); accumulation k = 1 / 2 / 4."""
    from lab3 import ex3_experiments as ex3
    from lab3.models import SmallCNN
    from lab3.regularization import activation_bytes

    cfg = _ex3_config(ctx)
    data = ex3.load_data(cfg)
    rows = []
    for r in ex3.amp_comparison(data, cfg, ctx.device):
        model = SmallCNN(width=r["model_width"], norm="batch").to(ctx.device)
        # a copy, as a data loader's batch is: a slice is a view that would count the whole training set's
        # storage as the first layer's saved input
        x = data.x_train[: cfg.batch_size].clone().to(ctx.device)
        dtype = getattr(torch, r["dtype"])
        with torch.autocast(ctx.device.type, dtype=dtype, enabled=r["amp"]):
            saved = activation_bytes(model, x)
        mem = {"activation_MB_per_batch": round(saved / 2**20, 2)}
        if ctx.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(ctx.device)
            with torch.autocast("cuda", dtype=dtype, enabled=r["amp"]):
                torch.nn.functional.cross_entropy(model(x), torch.zeros(len(x), dtype=torch.long,
                                                                        device=ctx.device)).backward()
            mem["peak_cuda_MB"] = round(torch.cuda.max_memory_allocated(ctx.device) / 2**20, 1)
        rows.append({"part": "amp", **r, **mem})
    histories = {}
    for k in (2, 4):
        acc_rows, hist = ex3.accumulation_vs_large_batch(data, dataclasses.replace(cfg, accumulation_steps=k),
                                                         ctx.device, epochs=min(cfg.epochs, 3))
        for r in acc_rows:
            if r["accumulation_steps"] == 1 and any(x["part"] == "accumulation" and x["accumulation_steps"] == 1
                                                    for x in rows):
                continue  # the large-batch run is the same for every k
            model = SmallCNN(width=cfg.width, norm="layer").to(ctx.device)
            saved = activation_bytes(model, data.x_train[: r["micro_batch"]].clone().to(ctx.device))
            if r["accumulation_steps"] == 1:
                r["max_weight_diff_one_step"] = ""  # the reference itself: the difference is of the k-runs
            rows.append({"part": "accumulation", **r, "activation_MB_per_micro_batch": round(saved / 2**20, 2)})
        histories.update(hist)
    write_csv(rows, ctx.out / "ex3_amp_accumulation.csv")
    fig = ex3.plot_histories(histories, ("train_loss", "val_accuracy"),
                             title=f"accumulation vs one batch of {cfg.batch_size}")
    figures = [_save(fig, ctx.out / "ex3_accumulation.png")]
    return {"rows": rows, "config": dataclasses.asdict(cfg), "figures": figures}


def ex3_regularization(ctx: Context) -> dict[str, Any]:
    """None / dropout / batch norm / layer norm / augmentation / all over several seeds: train vs test
    accuracy and the gap (figures: the mean over the seeds; curves of the first seed)."""
    from lab3 import ex3_experiments as ex3
    from lab3.regularization import REGULARIZERS

    rows, hist0 = [], None
    for seed in seeds_of(ctx):
        cfg = _ex3_config(ctx, seed)
        data = ex3.load_data(cfg)
        seed_rows, hist = ex3.regularization_ablation(data, cfg, ctx.device, variants=(*REGULARIZERS, "all"))
        rows += [{"seed": seed, **r} for r in seed_rows]
        hist0 = hist0 or hist
    write_csv(rows, ctx.out / "ex3_regularization.csv")
    mean = _mean_rows(rows, "variant", ("train_acc", "test_acc", "gap"))
    figures = [
        _save(ex3.plot_gap(mean), ctx.out / "ex3_regularization_gap.png"),
        _save(ex3.plot_histories(hist0, ("train_accuracy", "val_accuracy"), title=f"regularization (seed {ctx.seed})"),
              ctx.out / "ex3_regularization_curves.png"),
    ]
    return {"rows": rows, "config": {**dataclasses.asdict(_ex3_config(ctx)), "seeds": seeds_of(ctx)},
            "figures": figures}


# ------------------------------------------------------------------------------------------ next steps


def next_distillation(ctx: Context) -> dict[str, Any]:
    """EfficientNet-Lite0 (frozen features + linear probe) teaches the small CNN at two label budgets."""
    from lab3 import distillation

    if ctx.quick:
        cfg = distillation.DistillConfig.quick()
    elif ctx.notebook_full:
        cfg = distillation.DistillConfig()
    else:
        cfg = distillation.DistillConfig(epochs=8, scratch_images=20_000)
    cfg = dataclasses.replace(cfg, seed=ctx.seed)
    rows = distillation.distillation_experiment(cfg, device=ctx.device)
    write_csv(rows, ctx.out / "next_distillation.csv")
    figures = [_save(distillation.plot_distillation(rows), ctx.out / "next_distillation.png")]
    return {"rows": rows, "config": dataclasses.asdict(cfg), "figures": figures}
