"""The plotting helpers draw where the student looks: every helper that returns a figure returns one that
pyplot knows (so the notebook's inline backend and ``plt.show()`` draw it), and no library code changes the
matplotlib backend or ``rcParams`` (once it did, inline plotting stopped for the rest of the notebook)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from autograder import REPO_ROOT

SOURCE = REPO_ROOT / "source" / "lab3"
GLOBAL_STATE = re.compile(r"matplotlib\.use\(|\.switch_backend\(|rcParams\s*(\[|\.update)|matplotlib\.rc\(|plt\.rc\("
                          r"|style\.use\(|plt\.ion\(|plt\.ioff\(|rcdefaults\(")

PROBE = r"""
import json, sys, tempfile
from pathlib import Path
import matplotlib
import matplotlib.pyplot as plt
import torch

before = (matplotlib.get_backend(), {k: repr(v) for k, v in matplotlib.rcParams.items()})
from lab3 import distillation, viz
from lab3 import ex3_experiments as ex3
from lab3 import transfer_experiments as ex2

tmp = Path(tempfile.mkdtemp())
hist = [{"epoch": 1, "train_loss": 2.0, "val_accuracy": 0.2, "train_accuracy": 0.3, "test_accuracy": 0.2},
        {"epoch": 2, "train_loss": 1.0, "val_accuracy": 0.4, "train_accuracy": 0.5, "test_accuracy": 0.3}]
returned = {
    "viz.plot_attention": viz.plot_attention(torch.softmax(torch.randn(2, 3, 4), -1), list("abc"), list("wxyz")),
    "viz.plot_confusion_matrix": viz.plot_confusion_matrix([0, 1, 2], [0, 2, 2], ["a", "b", "c"]),
    "viz.plot_learning_curves": viz.plot_learning_curves({"run": hist}),
    "viz.plot_length_sweep": viz.plot_length_sweep(
        [{"model": m, "length": n, "exact_match": 0.5, "params": 1000} for m in ("a", "b") for n in (8, 16)]),
    "ex3.plot_histories": ex3.plot_histories({"adamw/constant": hist}, path=tmp / "h.png"),
    "ex3.plot_gap": ex3.plot_gap([{"variant": "none", "train_acc": 0.9, "test_acc": 0.5, "gap": 0.4}]),
    "distillation.plot_distillation": distillation.plot_distillation(
        [{"labels": 100, "method": m, "test_accuracy": 0.5} for m in ("labels only", "distilled", "teacher")]),
}
registered = {name: fig.number in plt.get_fignums() and plt.figure(fig.number) is fig
              for name, fig in returned.items()}
open_before = set(plt.get_fignums())
ex2.plot_labels([{"method": "scratch", "labels": n, "test_accuracy": 0.3, "train_time_s": 1.0} for n in (100, 1000)],
                tmp / "labels.png")
ex2.plot_domain([{"source": "none", "method": "features", "test_accuracy": 0.4, "target_labels": 100}],
                tmp / "domain.png")
ex2.plot_text([{"method": "features", "test_accuracy": 0.7, "train_time_s": 1.0, "train_sentences": 200}],
              tmp / "text.png")
after = (matplotlib.get_backend(), {k: repr(v) for k, v in matplotlib.rcParams.items()})
print(json.dumps({
    "backend": [before[0], after[0]],
    "rc_changed": sorted(k for k in before[1] if before[1][k] != after[1].get(k)),
    "registered": registered,
    "save_only_left_open": sorted(set(plt.get_fignums()) - open_before),
    "pngs": sorted(p.name for p in tmp.glob("*.png") if p.stat().st_size > 1000),
}))
"""


def test_no_library_code_changes_matplotlib_state():
    offenders = [f"{p.relative_to(REPO_ROOT)}:{i}: {line.strip()}"
                 for p in sorted(SOURCE.rglob("*.py")) for i, line in enumerate(p.read_text().splitlines(), 1)
                 if GLOBAL_STATE.search(line) and not line.lstrip().startswith("#")]
    assert not offenders, "library code changes matplotlib's global state:\n" + "\n".join(offenders)


@pytest.mark.slow
def test_plot_helpers_return_figures_that_display_and_leave_the_backend_alone(tmp_path):
    # svg: a backend that is not Agg, so a helper that switched to Agg (or to anything) would show
    env = {**os.environ, "MPLBACKEND": "svg", "MPLCONFIGDIR": str(tmp_path), "LAB3_RUNS_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["backend"] == ["svg", "svg"]
    assert got["rc_changed"] == []
    assert got["registered"] and all(got["registered"].values()), got["registered"]
    assert got["save_only_left_open"] == []  # the Exercise 2 helpers only write their PNG
    assert got["pngs"] == ["domain.png", "h.png", "labels.png", "text.png"]
