"""How many torch threads should grading use on this machine? Grades the solution with 1, 2, 4, ... threads
(trusted session and sandbox child alike; the default is every CPU) and prints wall time and score per setting.

    .venv/bin/python benchmarks/bench_threads.py [--threads 1 2 4 16] [--repeat 1]

Most graders run tiny tensors, where extra threads only add synchronisation; the training probes pin one
thread themselves. BENCHMARKS.md keeps the figures with the machine they came from.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    from autograder.engine.grade import grade_submission

    cpus = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+",
                        default=sorted({t for t in (1, 2, 4, 8, cpus) if t <= cpus}))  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    solution = REPO / "examples" / "submissions" / "solution"
    print(f"machine: {cpus} CPUs; solution graded {args.repeat}x per setting", flush=True)
    print(f"{'threads':>7} {'wall s (median)':>16} {'min':>7} {'max':>7} {'score':>9}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        for threads in args.threads:
            walls, score = [], ""
            for i in range(args.repeat):
                t0 = time.perf_counter()
                res = grade_submission(solution, Path(tmp) / f"t{threads}-{i}", threads=threads)
                walls.append(time.perf_counter() - t0)
                score = f"{res.score:g}/{res.max_score:g}"
            print(f"{threads:>7} {statistics.median(walls):>16.1f} {min(walls):>7.1f} {max(walls):>7.1f} "
                  f"{score:>9}", flush=True)


if __name__ == "__main__":
    main()
