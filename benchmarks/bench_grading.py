"""The performance budgets of the whole hidden suite: wall time and peak memory (sum of PSS over every process
of the grading run), for the solution and the blank stubs, per-test times, plus batch throughput.

    .venv/bin/python benchmarks/bench_grading.py [--repeat 3] [--batch] [--against REV] [--cold]

Prints medians; BENCHMARKS.md keeps the latest figures with the machine they came from. ``--against REV``
grades the solution with this tree and with a worktree of commit ``REV``, alternately (``--repeat`` runs
each), so that a change is compared on the same machine under the same load.

Peak PSS depends on the machine's state: library pages that other processes also map (another grading,
a test run on the same virtual environment) are split with them, and how the page cache holds a library
(cold: read in by these faults; warm: left by others) changes how much of it each fault maps. ``--cold``
drops the page cache of the Python environment's and the repository's files before each run (pages no
process maps; no root needed); run with and without it, and on an otherwise idle machine, before quoting.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
LAB3 = [sys.executable, "-m", "autograder.cli"]

from autograder.engine.memory import smaps_kib  # noqa: E402


def drop_page_cache(*roots: Path) -> None:
    """Evict the cached pages of every file under ``roots`` (``POSIX_FADV_DONTNEED``: pages that no
    process maps), so that the next run reads them from disk as on a cold machine."""
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                path = os.path.join(folder, name)
                if os.path.islink(path):
                    continue
                try:
                    fd = os.open(path, os.O_RDONLY)
                except OSError:
                    continue
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)


def run_measured(
    cmd: list[str], cwd: Path = REPO, env: dict[str, str] | None = None, cold: bool = False
) -> tuple[float, float, int]:
    """(wall seconds, peak PSS sum in MiB, peak process count) of ``cmd`` and all its descendants;
    ``cold``: drop the page cache of the Python environment and of ``cwd`` first."""
    if cold:
        drop_page_cache(Path(sys.prefix), cwd)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak, peak_n, done = 0, 0, threading.Event()

    def sample() -> None:
        nonlocal peak, peak_n
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                procs = []
            total = sum(smaps_kib(p.pid, "Pss") for p in procs)
            peak, peak_n = max(peak, total), max(peak_n, len(procs))
            done.wait(0.05)  # 20 samples a second: short peaks count too

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    proc.wait()
    done.set()
    thread.join()
    return time.perf_counter() - start, peak / 1024, peak_n


def compare_against(rev: str, repeat: int, cold: bool = False) -> None:
    """Alternate runs of this tree and of ``rev`` on the solution: median wall time and max peak PSS each."""
    base = Path(tempfile.mkdtemp(prefix="bench-against-")) / "tree"
    subprocess.run(["git", "worktree", "add", "-q", "--detach", str(base), rev], cwd=REPO, check=True)
    runs: dict[str, list[tuple[float, float, int]]] = {rev: [], "this tree": []}
    try:
        for _ in range(repeat):
            for label, tree in ((rev, base), ("this tree", REPO)):
                cmd = [*LAB3, "grade", str(tree / "examples" / "submissions" / "solution"), "--out",
                       str(base.parent / "out")]
                env = {**os.environ, "PYTHONPATH": str(tree)}
                runs[label].append(run_measured(cmd, cwd=tree, env=env, cold=cold))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=REPO, check=False)
        shutil.rmtree(base.parent, ignore_errors=True)
    for label, rows in runs.items():
        walls = [r[0] for r in rows]
        print(f"{label:<14} solution: {statistics.median(walls):.1f} s median of {len(walls)} "
              f"({min(walls):.1f}-{max(walls):.1f}), peak PSS {max(r[1] for r in rows):.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", action="store_true", help="also time a batch of 8 with -j 1 and -j 2")
    parser.add_argument("--top", type=int, default=12, help="slowest tests to list (per-test times)")
    parser.add_argument("--against", metavar="REV", help="compare with commit REV, runs alternating (solution)")
    parser.add_argument("--cold", action="store_true", help="drop the page cache of the venv and tree before each run")
    parser.add_argument("--only", choices=("solution", "blank_stubs"), help="grade only this sample")
    args = parser.parse_args()
    if args.against:
        compare_against(args.against, args.repeat, args.cold)
        return
    subs = REPO / "examples" / "submissions"
    out = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    print(f"machine: {os.cpu_count()} CPUs; root: {os.geteuid() == 0}; repeats: {args.repeat}; "
          f"page cache: {'dropped before each run' if args.cold else 'as found'}; load {os.getloadavg()[0]:.1f}")
    print(f"{'submission':<14} {'wall s (median)':>16} {'min':>7} {'max':>7} {'peak PSS MiB':>13} {'procs':>6}")
    per_test: dict[str, list[float]] = {}
    for name in (args.only,) if args.only else ("solution", "blank_stubs"):
        runs = []
        for _ in range(args.repeat):
            runs.append(run_measured([*LAB3, "grade", str(subs / name), "--out", str(out / name)], cold=args.cold))
            if name == "solution":
                for t in json.loads((out / name / "instructor" / "result.json").read_text())["tests"]:
                    per_test.setdefault(t["id"], []).append(float(t.get("duration") or 0.0))
        walls = [r[0] for r in runs]
        print(f"{name:<14} {statistics.median(walls):>16.1f} {min(walls):>7.1f} {max(walls):>7.1f} "
              f"{max(r[1] for r in runs):>13.0f} {max(r[2] for r in runs):>6}")
    medians = sorted(((statistics.median(v), k) for k, v in per_test.items()), reverse=True)
    if medians:
        print(f"\nper-test time on the solution (median of {args.repeat}; {len(medians)} tests, "
              f"{sum(m for m, _ in medians):.1f} s in tests), slowest {args.top}:")
    for m, test_id in medians[: args.top]:
        print(f"  {m:6.2f} s  {test_id}")
    if args.batch:
        batch = out / "batch"
        batch.mkdir()
        for i in range(8):
            shutil.copytree(subs / ("solution" if i % 2 else "blank_stubs"), batch / f"student{i}")
        times = {}
        for jobs in (1, 2):
            wall, pss, _ = run_measured([*LAB3, "grade", "--batch", str(batch), "--out", str(out / f"b{jobs}"),
                                         "-j", str(jobs), "--force"])
            times[jobs] = wall
            print(f"batch of 8, -j {jobs}: {wall:.1f} s, peak PSS {pss:.0f} MiB")
        print(f"speed-up -j 2 vs -j 1: {times[1] / times[2]:.2f}x")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
