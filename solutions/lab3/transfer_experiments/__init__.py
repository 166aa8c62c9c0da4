"""Exercise 2 experiments: transfer vs from scratch, domain relatedness, text (the notebook calls these).

One module per concept: :mod:`.common` (class groups, subsets, model input, tables), :mod:`.features`
(frozen pretrained features, cached; the linear probe), :mod:`.fit` (training CNNs on in-memory images),
:mod:`.fashion` (fetching the unrelated source), :mod:`.labels`, :mod:`.domain` and :mod:`.text` (the
three experiments) and :mod:`.plots` (their figures); everything is importable from here.

Three experiments, each a function that trains, evaluates, logs to TensorBoard (``runs/ex2/...``),
prints progress bars, and writes a CSV next to its figure (in ``out_dir``, default ``runs/ex2``):

1. :func:`labels_experiment` — CIFAR-10 with 100 / 1 000 / 5 000 labelled images: a small CNN from
   scratch, feature extraction (frozen EfficientNet-Lite0 + linear head, features computed once and
   cached) and full fine-tuning with discriminative learning rates; test accuracy, training time,
   images seen. ``labels.csv`` + ``labels.png``.
2. :func:`domain_experiment` — backbones pretrained on a related source (CIFAR-10's six animal
   classes), an unrelated one (Fashion-MNIST; sklearn's handwritten digits when Fashion-MNIST
   cannot be found or fetched), none (random weights) and ImageNet, each transferred to CIFAR-10's
   four vehicle classes with few labels. ``domain.csv`` + ``domain.png``.
3. :func:`text_experiment` — SST-2 with all-MiniLM-L6-v2: feature extraction vs full fine-tuning.
   ``text.csv`` + ``text.png``.

Quick mode (``LAB3_QUICK=1``, see :func:`lab3.utils.quick_mode`) shrinks every experiment so that
all three finish in a few minutes on two CPU cores; the full mode is meant for a GPU (it runs on a
CPU too, slowly). The experiments use *your* ``replace_head``, ``freeze_backbone`` and
``param_groups``: finish those first.
"""

from __future__ import annotations

import time
from pathlib import Path

from tqdm.auto import tqdm

from . import common, domain, fashion, features, fit, labels, plots, text
from .common import (
    ANIMALS,
    VEHICLES,
    _accuracy,
    _arrays,
    _augment,
    _out_dir,
    _subset,
    _writer,
    format_table,
    save_csv,
    to_model_input,
)
from .domain import DomainConfig, _smallcnn_features, domain_experiment
from .fashion import (
    DEBIAN_FASHION_MNIST,
    FASHION_MNIST_FILES,
    _fashion_dirs,
    _find_fashion,
    _read_idx,
    fetch_fashion_mnist,
    unrelated_source,
)
from .features import cached_features, extract_features, feature_fn, train_linear_probe
from .fit import FitConfig, _chw, fit_images, predict_images
from .labels import LabelsConfig, labels_experiment
from .plots import plot_domain, plot_labels, plot_text
from .text import TextConfig, _balanced, _encode, _sentence_features, text_experiment


def run_all(out_dir: str | Path | None = None, seed: int = 0) -> dict[str, list[dict]]:
    """All three experiments (quick or full, per ``LAB3_QUICK``); returns their rows by name."""
    results = {}
    for name, fn in (("labels", labels_experiment), ("domain", domain_experiment), ("text", text_experiment)):
        start = time.perf_counter()
        results[name] = fn(out_dir=out_dir, seed=seed)
        tqdm.write(f"== {name}: {time.perf_counter() - start:.1f} s")
    return results


def summary(results: dict[str, list[dict]]) -> str:
    """The three tables as text."""
    return "\n\n".join(f"{name}\n{format_table(rows)}" for name, rows in results.items())


__all__ = [
    "labels_experiment",
    "domain_experiment",
    "text_experiment",
    "run_all",
    "summary",
    "LabelsConfig",
    "DomainConfig",
    "TextConfig",
    "FitConfig",
    "cached_features",
    "extract_features",
    "train_linear_probe",
    "fit_images",
    "predict_images",
    "unrelated_source",
    "fetch_fashion_mnist",
    "save_csv",
    "format_table",
]

__all__ += [
    "ANIMALS",
    "VEHICLES",
    "FASHION_MNIST_FILES",
    "DEBIAN_FASHION_MNIST",
    "to_model_input",
    "feature_fn",
    "plot_labels",
    "plot_domain",
    "plot_text",
    "common",
    "domain",
    "fashion",
    "features",
    "fit",
    "labels",
    "plots",
    "text",
]
# helpers that callers of the former single module import by name (the notebook, lab3.distillation, tests)
_HELPERS = (_accuracy, _arrays, _augment, _out_dir, _subset, _writer, _smallcnn_features, _fashion_dirs, _find_fashion,
            _read_idx, _chw, _balanced, _encode, _sentence_features)
