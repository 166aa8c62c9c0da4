"""Grade a submission inside a memory cgroup, as a container with ``--memory`` would: score and peak.

    sudo .venv/bin/python benchmarks/bench_memory_cgroup.py [--memory 768m ...] [--submission solutions]
                                                           [--no-check] [--only TAG ...]

For each ``--memory`` value (``none`` = no limit) it makes a cgroup v1 memory cgroup under this process's
own (root needed), runs ``lab3 grade`` in it, and prints the exit code, the score and the cgroup's peak
(``memory.max_usage_in_bytes``: every process of the run, shared pages once, page cache included — what
the kernel compares with the limit). ``--no-check`` sets ``LAB3_MIN_MEMORY_MB=0`` to see what happens
below the grader's own minimum (a kill there must be exit 3, never a lower grade).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder.engine.memory import own_cgroup_dirs  # noqa: E402


def parse_size(text: str) -> int | None:
    text = text.strip().lower()
    if text == "none":
        return None
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def run_in_cgroup(limit: int | None, submission: Path, only: list[str], no_check: bool) -> dict:
    parent = own_cgroup_dirs().get("memory")
    if os.geteuid() != 0 or parent is None:
        raise SystemExit("needs root and a cgroup v1 memory controller")
    cg = parent / f"lab3-bench-{uuid.uuid4().hex[:8]}"
    cg.mkdir()
    try:
        if limit is not None:
            (cg / "memory.limit_in_bytes").write_text(str(limit))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        if no_check:
            env["LAB3_MIN_MEMORY_MB"] = "0"
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "autograder.cli", "grade", str(submission), "--out", f"{tmp}/o"]
            if only:
                cmd += ["--only", *only]
            t0 = time.monotonic()
            proc = subprocess.run(["sh", "-c", f'echo $$ > {cg}/cgroup.procs && exec "$@"', "sh", *cmd],
                                  capture_output=True, text=True, env=env, cwd=tmp)
            wall = time.monotonic() - t0
            try:
                score = json.loads(Path(f"{tmp}/o/results.json").read_text())["score"]
            except (OSError, ValueError, KeyError):
                score = None
        peak = int((cg / "memory.max_usage_in_bytes").read_text())
        line = next((x for x in proc.stderr.splitlines() if x.startswith("internal error")), "")
        return {"limit": limit, "rc": proc.returncode, "score": score, "peak_mib": peak >> 20, "wall_s": wall,
                "error": line}
    finally:
        for _ in range(100):
            try:
                cg.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--memory", nargs="+", default=["none", "1g", "768m"])
    ap.add_argument("--submission", type=Path, default=REPO / "solutions")
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--no-check", action="store_true", help="LAB3_MIN_MEMORY_MB=0: no refusal below the minimum")
    args = ap.parse_args()
    print(f"{'--memory':>9}  {'exit':>4}  {'score':>6}  {'peak MiB':>8}  {'wall s':>6}  error")
    for text in args.memory:
        r = run_in_cgroup(parse_size(text), args.submission.absolute(), args.only, args.no_check)
        score = "-" if r["score"] is None else f"{r['score']:g}"
        print(f"{text:>9}  {r['rc']:>4}  {score:>6}  {r['peak_mib']:>8}  {r['wall_s']:>6.1f}  {r['error'][:90]}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
