"""Engine-level figures (issue 6): per-probe overhead, large-input transfer, child start and restart,
blank stubs / solution wall time through ``grade_submission``.

    .venv/bin/python benchmarks/bench_engine.py [--calls 200] [--no-grade]

Prints medians in a table; whole-suite memory and batch speed-up are in ``bench_grading.py``.
Budgets: per-probe overhead <= 20 ms (small tensors), blank stubs <= 15 s, solution <= 90 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder.engine import isolation  # noqa: E402
from autograder.engine.sandbox import Sandbox  # noqa: E402
from autograder.engine.staging import default_release, stage  # noqa: E402


def _median_ms(fn, n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


def bench_sandbox(calls: int) -> list[tuple[str, str]]:
    import torch

    rows = []
    iso = isolation.detect()
    tmp = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    os.chmod(tmp, 0o711)
    sub = tmp / "sub"
    sub.mkdir()
    shutil.copy(
        REPO / "solutions" / "lab3" / "attention.py"
        if (REPO / "solutions" / "lab3").exists()
        else REPO / "source" / "lab3" / "attention.py",
        sub / "attention.py",
    )
    staged = stage(sub, default_release(REPO), tmp / "s", sandbox_uid=iso.uid, sandbox_gid=iso.gid)
    logs = tmp / "logs"
    logs.mkdir()
    box = Sandbox(staged.root, graded=["attention"], isolation=iso, log_dir=logs, log=lambda s: None)
    try:
        t0 = time.perf_counter()
        box.start()
        box.request("ping", None, 60, "ping")
        rows.append(("child start (python -I + torch import, ready)", f"{time.perf_counter() - t0:.2f} s"))
        box.request("import", {"module": "lab3.attention"}, 30, "import")
        small = {"q": torch.randn(2, 4, 8), "k": torch.randn(2, 4, 8), "v": torch.randn(2, 4, 8)}
        med, p90 = _median_ms(lambda: box.request("ping", small, 10, "ping"), calls)
        rows.append(("round trip, 3 small tensors (echo)", f"{med:.2f} ms median, {p90:.2f} ms p90"))
        med, p90 = _median_ms(
            lambda: box.request("call", {"probe": "attention.causal_mask", "kwargs": {"size": 4}}, 10, "c"),
            calls,
        )
        rows.append(("probe call attention.causal_mask(4)", f"{med:.2f} ms median, {p90:.2f} ms p90"))
        images = torch.randint(0, 256, (5000, 32, 32, 3), dtype=torch.uint8)
        med, _ = _median_ms(lambda: box.request("ping", {"x": images}, 30, "big"), 10)
        rows.append(("round trip, 5000 CIFAR images uint8 (15 MB each way)", f"{med:.1f} ms median"))
        t0 = time.perf_counter()
        box.kill(restart=True)
        box.request("ping", None, 60, "ping")
        rows.append(("kill + fresh child ready (after a crash/timeout)", f"{time.perf_counter() - t0:.2f} s"))
    finally:
        box.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def bench_grade() -> list[tuple[str, str]]:
    from autograder.engine import grade_submission

    rows = []
    subs = REPO / "examples" / "submissions"
    out = Path(tempfile.mkdtemp(prefix="bench-engine-grade-"))
    candidates = {
        "blank stubs": [subs / "blank_stubs", REPO / "assignments"],
        "solution": [subs / "solution", REPO / "solutions"],
    }
    for name, paths in candidates.items():
        path = next((p for p in paths if p.exists()), None)
        if path is None:
            rows.append((f"grade {name}", "skipped (no submission found)"))
            continue
        res = grade_submission(path, out / name.replace(" ", "_"))
        rows.append(
            (
                f"grade {name} ({path.relative_to(REPO)})",
                f"{res.execution_time:.1f} s wall, {res.score:g}/{res.max_score:g} points, "
                f"{len(res.tests)} tests",
            )
        )
    shutil.rmtree(out, ignore_errors=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--no-grade", action="store_true", help="skip the whole-suite runs")
    args = ap.parse_args()
    iso = isolation.detect()
    print(f"machine: {os.cpu_count()} CPUs; root: {iso.root}; {iso.summary()}")
    rows = bench_sandbox(args.calls)
    if not args.no_grade:
        rows += bench_grade()
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  value")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
