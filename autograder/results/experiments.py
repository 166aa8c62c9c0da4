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


def ex1_vit_vs_cnn(ctx: Context) -> dict[str, Any]:
    """ViT vs a SmallCNN of the same parameter count, same subset, augmentation, optimizer and epochs."""
    from lab3 import ex1_experiments as ex1
    from lab3 import viz
    from lab3.data import CIFAR10_CLASSES

    if ctx.quick:
        cfg = ex1.ViTConfig(train_per_class=100, epochs=2, test_examples=2000, num_threads=1, seed=ctx.seed)
    else:
        cfg = ex1.ViTConfig(test_examples=5000, num_threads=1, seed=ctx.seed)
    runs = ex1.vit_vs_cnn(cfg, device=ctx.device, run_prefix="results/ex1_vit_vs_cnn", verbose=True)
    rows = []
    for r in runs:
        curve = [h["test_accuracy"] for h in r["history"]]
        rows.append({
            "model": r["model"],
            "params": r["params"],
            "train_images": cfg.train_per_class * 10,
            "test_images": len(r["targets"]),
            "epochs": r["epochs"],
            "test_accuracy": r["test_accuracy"],
            "best_test_accuracy": max(curve),
            "final_train_accuracy": r["history"][-1]["train_accuracy"],
            "train_seconds": r["train_seconds"],
        })
    write_csv(rows, ctx.out / "ex1_vit_vs_cnn.csv")
    hist = {f"{r['model']} ({r['params'] / 1e3:.0f}k)": r["history"] for r in runs}
    figures = [
        _save(viz.plot_learning_curves(hist, metrics=("train_loss", "train_accuracy", "test_accuracy"),
                                       title="ViT vs CNN on the same CIFAR-10 subset"),
              ctx.out / "ex1_vit_vs_cnn.png"),
        _save(viz.plot_confusion_matrix(runs[0]["targets"], runs[0]["predictions"], CIFAR10_CLASSES),
              ctx.out / "ex1_vit_confusion.png"),
    ]
    return {"rows": rows, "config": dataclasses.asdict(cfg), "figures": figures}


# ------------------------------------------------------------------------------------------ exercise 2


def _move(tmp: Path, name: str, ctx: Context, new: str) -> str:
    shutil.move(str(tmp / name), str(ctx.out / new))
    return new


def ex2_labels(ctx: Context) -> dict[str, Any]:
    """Scratch vs frozen features vs full fine-tuning at 100 / 1 000 / 5 000 labels: accuracy and time."""
    from lab3 import transfer_experiments as ex2

    if ctx.quick:
        cfg = ex2.LabelsConfig.quick()
    else:
        cfg = ex2.LabelsConfig(test_per_class=200, finetune_size=96, finetune_labels=(100, 1000),
                               finetune_images=2000, scratch_images=20_000, scratch_width=16)
    with tempfile.TemporaryDirectory() as tmp:
        rows = ex2.labels_experiment(cfg, out_dir=tmp, seed=ctx.seed, device=ctx.device)
        rows = [{k: v for k, v in r.items() if k != "quick"} for r in rows]
        for r in rows:  # throughput: images through the network per second of training
            r["images_per_s"] = round(r["images_seen"] / max(r["train_time_s"], 1e-9), 1)
        write_csv(rows, ctx.out / "ex2_labels.csv")
        figures = [_move(Path(tmp), "labels.png", ctx, "ex2_labels.png")]
    return {"rows": rows, "config": dataclasses.asdict(cfg), "figures": figures}


def ex2_domain(ctx: Context) -> dict[str, Any]:
    """Related (CIFAR animals) vs unrelated vs no vs ImageNet pretraining, transferred to 100 vehicle labels."""
    from lab3 import transfer_experiments as ex2

    if ctx.quick:
        cfg = ex2.DomainConfig.quick()
    else:
        cfg = ex2.DomainConfig(source_per_class=400, source_epochs=6, test_per_class=250, width=16)
    with tempfile.TemporaryDirectory() as tmp:
        rows = ex2.domain_experiment(cfg, out_dir=tmp, seed=ctx.seed, device=ctx.device)
        rows = [{k: v for k, v in r.items() if k != "quick"} for r in rows]
        write_csv(rows, ctx.out / "ex2_domain.csv")
        figures = [_move(Path(tmp), "domain.png", ctx, "ex2_domain.png")]
    return {"rows": rows, "config": dataclasses.asdict(cfg), "figures": figures}


def ex2_text(ctx: Context) -> dict[str, Any]:
    """all-MiniLM-L6-v2 on SST-2: frozen features ([CLS] / mean) vs full fine-tuning."""
    from lab3 import transfer_experiments as ex2

    cfg = ex2.TextConfig.quick() if ctx.quick else ex2.TextConfig(test_sentences=1000)
    with tempfile.TemporaryDirectory() as tmp:
        rows = ex2.text_experiment(cfg, out_dir=tmp, seed=ctx.seed, device=ctx.device)
        rows = [{k: v for k, v in r.items() if k != "quick"} for r in rows]
        write_csv(rows, ctx.out / "ex2_text.csv")
        figures = [_move(Path(tmp), "text.png", ctx, "ex2_text.png")]
    return {"rows": rows, "config": dataclasses.asdict(cfg), "figures": figures}


# ------------------------------------------------------------------------------------------ exercise 3


def _ex3_config(ctx: Context):
    from lab3 import ex3_experiments as ex3

    cfg = ex3.Ex3Config.quick() if ctx.quick else ex3.Ex3Config(train_per_class=250, test_per_class=100, epochs=4,
                                                                 ablation_epochs=7)
    return dataclasses.replace(cfg, seed=ctx.seed, log_root="results/ex3")


def ex3_optimizers(ctx: Context) -> dict[str, Any]:
    """SGD-momentum / Adam / AdamW x constant / cosine / warmup+cosine: accuracy, loss curves, time."""
    from lab3 import ex3_experiments as ex3

    cfg = _ex3_config(ctx)
    data = ex3.load_data(cfg)
    rows, hist = ex3.optimizer_comparison(data, cfg, ctx.device,
                                          schedules=("constant", "cosine", "warmup_cosine"))
    for r in rows:
        h = hist[f"{r['optimizer']}/{r['schedule']}"]
        r["epoch1_train_loss"] = round(h[0]["train_loss"], 4)
        r["epochs"] = len(h)
    write_csv(rows, ctx.out / "ex3_optimizers.csv")
    figures = []
    for name in ("sgd", "adam", "adamw"):
        sub = {k: v for k, v in hist.items() if k.startswith(name + "/")}
        fig = ex3.plot_histories(sub, ("train_loss", "val_accuracy"),
                                 title=f"{name}: constant / cosine / warmup+cosine")
        figures.append(_save(fig, ctx.out / f"ex3_optimizers_{name}.png"))
    fig = ex3.plot_histories({k: v for k, v in hist.items() if k.endswith("/warmup_cosine")},
                             ("train_loss", "val_accuracy"), title="optimizers, warmup + cosine")
    figures.insert(0, _save(fig, ctx.out / "ex3_optimizers.png"))
    return {"rows": rows, "config": dataclasses.asdict(cfg), "figures": figures}


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
        x = data.x_train[: cfg.batch_size].to(ctx.device)
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
            saved = activation_bytes(model, data.x_train[: r["micro_batch"]].to(ctx.device))
            rows.append({"part": "accumulation", **r, "activation_MB_per_micro_batch": round(saved / 2**20, 2)})
        histories.update(hist)
    write_csv(rows, ctx.out / "ex3_amp_accumulation.csv")
    fig = ex3.plot_histories(histories, ("train_loss", "val_accuracy"),
                             title=f"accumulation vs one batch of {cfg.batch_size}")
    figures = [_save(fig, ctx.out / "ex3_accumulation.png")]
    return {"rows": rows, "config": dataclasses.asdict(cfg), "figures": figures}


def ex3_regularization(ctx: Context) -> dict[str, Any]:
    """None / dropout / batch norm / layer norm / augmentation / all: train vs test accuracy and the gap."""
    from lab3 import ex3_experiments as ex3
    from lab3.regularization import REGULARIZERS

    cfg = _ex3_config(ctx)
    data = ex3.load_data(cfg)
    rows, hist = ex3.regularization_ablation(data, cfg, ctx.device, variants=(*REGULARIZERS, "all"))
    write_csv(rows, ctx.out / "ex3_regularization.csv")
    figures = [
        _save(ex3.plot_gap(rows), ctx.out / "ex3_regularization_gap.png"),
        _save(ex3.plot_histories(hist, ("train_accuracy", "val_accuracy"), title="regularization"),
              ctx.out / "ex3_regularization_curves.png"),
    ]
    return {"rows": rows, "config": dataclasses.asdict(cfg), "figures": figures}


# ------------------------------------------------------------------------------------------ next steps


def next_distillation(ctx: Context) -> dict[str, Any]:
    """EfficientNet-Lite0 (frozen features + linear probe) teaches the small CNN at two label budgets."""
    from lab3 import distillation

    cfg = distillation.DistillConfig.quick() if ctx.quick else distillation.DistillConfig(epochs=8,
                                                                                          scratch_images=20_000)
    cfg = dataclasses.replace(cfg, seed=ctx.seed)
    rows = distillation.distillation_experiment(cfg, device=ctx.device)
    write_csv(rows, ctx.out / "next_distillation.csv")
    figures = [_save(distillation.plot_distillation(rows), ctx.out / "next_distillation.png")]
    return {"rows": rows, "config": dataclasses.asdict(cfg), "figures": figures}
