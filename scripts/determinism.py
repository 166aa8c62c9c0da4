"""Grade the reference solution N times in a row (full suite) and check the grades are deterministic.

Every run must score 100/100 with identical per-test scores; prints each run's wall time and a summary,
exits 1 otherwise. The solution submission is ``examples/submissions/solution`` (``.venv/bin/lab3 build``
generates it).

Usage (from the repo root; ~1-1.5 min per run on 2 busy cores)::

    .venv/bin/python scripts/determinism.py --runs 10 | tee scripts/determinism.out.txt
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.engine import grade_submission  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--submission", type=Path, default=ROOT / "examples" / "submissions" / "solution")
    ap.add_argument("--expected", type=float, default=100.0, help="expected total score of every run")
    args = ap.parse_args()
    if not args.submission.exists():
        print(f"{args.submission} missing: run `.venv/bin/lab3 build` first", file=sys.stderr)
        return 2

    import torch

    print(f"# determinism: {args.runs} consecutive full-suite gradings of {args.submission.relative_to(ROOT)}")
    print(f"# {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} CPU "
          f"cores (load average {os.getloadavg()[0]:.1f} at start), torch {torch.__version__}, "
          f"Python {platform.python_version()}")  # fmt: skip
    print(f"# command: .venv/bin/python {' '.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}", flush=True)

    runs: list[dict[str, float]] = []
    walls: list[float] = []
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lab3-determinism-") as tmp:
        for i in range(1, args.runs + 1):
            t = time.perf_counter()
            res = grade_submission(args.submission, Path(tmp) / f"run{i}")
            walls.append(time.perf_counter() - t)
            scores = {r.id: r.score for r in res.tests}
            runs.append(scores)
            bad = [f"{r.id} ({r.status} {r.score:g}/{r.max_score:g})" for r in res.tests if r.score != r.max_score]
            line = (f"run {i:>2}: {res.score:g}/{res.max_score:g} over {len(res.tests)} tests, "
                    f"wall {walls[-1]:.1f} s (engine {res.execution_time:.1f} s)")  # fmt: skip
            if res.notes:
                line += f"; notes: {res.notes}"
            print(line, flush=True)
            if res.score != args.expected or res.max_score != args.expected or bad:
                problems.append(f"run {i}: {res.score:g}/{res.max_score:g}; not full marks: {bad}")
            if i > 1 and scores != runs[0]:
                diff = sorted(k for k in set(scores) | set(runs[0]) if scores.get(k) != runs[0].get(k))
                problems.append(f"run {i}: per-test scores differ from run 1 on {diff}")

    print(f"\nsummary: {args.runs} runs, wall min {min(walls):.1f} s / median {statistics.median(walls):.1f} s / "
          f"max {max(walls):.1f} s, total {sum(walls) / 60:.1f} min")  # fmt: skip
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        return 1
    print(f"OK: every run scored {args.expected:g}/{args.expected:g} with identical per-test scores "
          f"({len(runs[0])} tests)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
