"""Exercise 2 figures (issue 4): feature extraction speed, 1 000-label linear probe, quick-mode experiments.

    .venv/bin/python benchmarks/bench_ex2.py [--repeats 3] [--test-per-class 1000] [--no-quick]

1. Feature extraction of 1 000 CIFAR-10 training images through the frozen ImageNet EfficientNet-Lite0
   at 128 x 128 (no cache): median wall time over ``--repeats`` runs. Budget: <= 30 s on 2 CPU cores.
2. Linear probe on the features of 1 000 labelled images (100 per class), test accuracy on
   ``--test-per-class`` x 10 test images (default: the whole test set; its features are cached in
   ``data_home()/features`` after the first run). Budget: >= 0.65.
3. The three experiments in quick mode (``LAB3_QUICK=1``), run in a fresh process: wall time of each.
   Budget: <= 6 min in all.

The machine's load average is printed next to the figures: on a shared machine the timings move a lot.
Tip: ``OMP_WAIT_POLICY=PASSIVE`` stops idle OpenMP threads from spinning; on an overloaded 2-core
machine it made these runs many times faster.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "source"))


def _load() -> str:
    try:
        return "load avg " + " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "load avg n/a"


def bench_features(repeats: int, test_per_class: int) -> list[tuple[str, str, str]]:
    import torch
    from lab3 import transfer
    from lab3.data import cifar10
    from lab3.transfer_experiments import (
        _accuracy,
        _arrays,
        _subset,
        cached_features,
        extract_features,
        train_linear_probe,
    )

    rows = []
    train_x, train_y = _arrays(cifar10(train=True))
    test_x, test_y = _arrays(cifar10(train=False))
    idx = _subset(train_y, range(10), 100, seed=0)
    model = transfer.load_pretrained("efficientnet_lite0")
    extract_features(model, train_x[idx[:64]], image_size=128)  # warm-up
    times = []
    feats = None
    for _ in range(repeats):
        start = time.perf_counter()
        feats = extract_features(model, train_x[idx], image_size=128)
        times.append(time.perf_counter() - start)
    med = statistics.median(times)
    rows.append(("feature extraction, 1 000 images @128 px", f"{med:.1f} s ({1000 / med:.0f} img/s)",
                 "<= 30 s"))
    tidx = _subset(test_y, range(10), test_per_class, seed=0)
    start = time.perf_counter()
    test_feats, seconds, cached = cached_features(model, test_x[tidx], "cifar10_test", image_size=128)
    note = f"cached (took {seconds:.0f} s once)" if cached else f"{time.perf_counter() - start:.0f} s"
    rows.append((f"test features, {len(tidx)} images", note, ""))
    start = time.perf_counter()
    probe = train_linear_probe(feats, torch.from_numpy(train_y[idx]), 10, epochs=100, seed=0)
    t_probe = time.perf_counter() - start
    acc = _accuracy(probe(test_feats), torch.from_numpy(test_y[tidx]))
    rows.append(("linear probe, 1 000 labels", f"test acc {acc:.3f} on {len(tidx)} ({t_probe:.1f} s)",
                 ">= 0.65"))
    return rows


def bench_quick() -> list[tuple[str, str, str]]:
    code = (
        "import time, json\n"
        "from lab3 import transfer_experiments as ex2\n"
        "out = {}\n"
        "for name, fn in (('labels', ex2.labels_experiment), ('domain', ex2.domain_experiment),"
        " ('text', ex2.text_experiment)):\n"
        "    t = time.perf_counter(); rows = fn(out_dir=OUT); out[name] = (time.perf_counter() - t, rows)\n"
        "print('RESULT', json.dumps(out))\n"
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ex2-") as tmp:
        env = dict(os.environ, LAB3_QUICK="1", LAB3_RUNS_DIR=str(Path(tmp) / "runs"), TQDM_DISABLE="1")
        env["PYTHONPATH"] = str(REPO / "source") + os.pathsep + env.get("PYTHONPATH", "")
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", f"OUT = {str(Path(tmp) / 'out')!r}\n" + code], env=env,
                              capture_output=True, text=True, check=False)
        total = time.perf_counter() - start
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        return [("quick mode", f"FAILED (exit {proc.returncode}): {proc.stderr[-400:]}", "")]
    import json

    result = json.loads(line[len("RESULT "):])
    for name, (seconds, table) in result.items():
        summary = ", ".join(f"{r['method']}{'@' + str(r['labels']) if 'labels' in r else ''}"
                            f"{' ' + r['source'].split(' (')[0] if 'source' in r else ''}="
                            f"{r['test_accuracy']:.2f}" for r in table)
        rows.append((f"quick: {name}", f"{seconds:.0f} s", summary))
    rows.append(("quick: all three (fresh process)", f"{total:.0f} s", "<= 360 s"))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--test-per-class", type=int, default=1000)
    ap.add_argument("--no-quick", action="store_true", help="skip the quick-mode experiments")
    args = ap.parse_args(argv)
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, {_load()}")
    rows = bench_features(args.repeats, args.test_per_class)
    if not args.no_quick:
        rows += bench_quick()
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':{width}s}  {'measured':40s}  budget / details")
    for name, value, budget in rows:
        print(f"{name:{width}s}  {value:40s}  {budget}")
    print(_load())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
