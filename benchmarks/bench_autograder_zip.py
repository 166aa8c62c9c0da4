"""The shipped autograder zip: its size, and wall time per submission under Gradescope's layout and otter.

    .venv/bin/python benchmarks/bench_autograder_zip.py [--only TAG ...] [--repeat N] [--no-otter]

Grades the solution, the blank stubs and the solution without the 1/sqrt(d_k) scale with
(a) ``lab3 grade`` (the engine, reference), (b) the zip's ``run_autograder`` in a temporary tree laid out
like /autograder, (c) ``otter run -a autograder.zip`` (the otter bridge: kernel start + the same engine).
Prints the median wall time of each (``--repeat``) and the scores, which must agree.
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
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder.layout import GRADED_MODULES  # noqa: E402
from autograder.packaging.gradescope import autograder_files, write_zip  # noqa: E402

PY = sys.executable
SCALED = "scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)"


def submissions(base: Path) -> dict[str, Path]:
    subs = {}
    for name, src in (("solution", REPO / "solutions" / "lab3"), ("stubs", REPO / "assignments" / "lab3"),
                      ("buggy", REPO / "solutions" / "lab3")):
        folder = base / name / "lab3"
        folder.mkdir(parents=True)
        for m in GRADED_MODULES:
            text = (src / f"{m}.py").read_text()
            if name == "buggy" and m == "attention":
                text = text.replace(SCALED, "scores = q @ k.transpose(-2, -1)")
            (folder / f"{m}.py").write_text(text)
        subs[name] = base / name
    return subs


def _env(only: list[str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LAB3_GRADE_ONLY", "PYTHONPATH"))}
    env["LAB3_PYTHON"] = PY
    env.setdefault("LAB3_DATA_DIR", str(Path.home() / ".cache" / "lab3"))
    if only:
        env["LAB3_GRADE_ONLY"] = " ".join(only)
    return env


def lab3_grade(sub: Path, out: Path, only: list[str]) -> float:
    cmd = [PY, "-m", "autograder.cli", "grade", str(sub), "--out", str(out)]
    cmd += ["--only", *only] if only else []
    subprocess.run(cmd, check=True, capture_output=True, cwd=str(REPO))
    return json.loads((out / "results.json").read_text())["score"]


def run_autograder(zip_path: Path, sub: Path, root: Path, only: list[str]) -> float:
    for d in ("source", "results"):
        (root / d).mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root / "source")
    shutil.copytree(sub, root / "submission")
    env = _env(only) | {"LAB3_AUTOGRADER_ROOT": str(root), "LAB3_SKIP_DATA": "1"}
    script = str(root / "source" / "run_autograder")
    subprocess.run(["bash", script], check=True, capture_output=True, env=env)
    return json.loads((root / "results" / "results.json").read_text())["score"]


def otter_run(zip_path: Path, sub: Path, work: Path, only: list[str]) -> float:
    work.mkdir(parents=True)
    sub_zip = work / "submission.zip"
    with zipfile.ZipFile(sub_zip, "w") as zf:
        for p in sorted(sub.rglob("*.py")):
            zf.write(p, p.relative_to(sub).as_posix())
    otter = Path(PY).with_name("otter")
    subprocess.run([str(otter), "run", "-a", str(zip_path), "-o", str(work), str(sub_zip)], check=True,
                   capture_output=True, env=_env(only), cwd=str(work))
    tests = json.loads((work / "results.json").read_text())["tests"]
    return sum(t.get("score", 0) for t in tests)


def timed(fn, args: tuple, base: Path, label: str, repeat: int) -> tuple[float, float]:
    """Median wall time of ``fn(*args, <fresh folder>)`` over ``repeat`` runs, and the last score."""
    times, score = [], 0.0
    for i in range(repeat):
        t0 = time.perf_counter()
        score = fn(*args[:-1], base / f"{label}-{i}", args[-1])
        times.append(time.perf_counter() - t0)
    return statistics.median(times), score


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", default=[], metavar="TAG")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-otter", action="store_true")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-zip-"))
    try:
        zip_path = write_zip(autograder_files(REPO), base / "autograder.zip")
        with zipfile.ZipFile(zip_path) as zf:
            n = len(zf.namelist())
        which = "tags " + " ".join(args.only) if args.only else "full suite"
        print(f"autograder.zip: {zip_path.stat().st_size / 1e3:.0f} kB, {n} files; tests: {which}; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        subs = submissions(base / "subs")
        header = f"{'submission':<10} {'lab3 grade':>14} {'run_autograder':>16} {'otter run':>14}"
        print(header + "   (median s / score)")
        for name, sub in subs.items():
            ref = timed(lab3_grade, (sub, args.only), base, f"ref-{name}", args.repeat)
            ag = timed(run_autograder, (zip_path, sub, args.only), base, f"ag-{name}", args.repeat)
            ot = (float("nan"), float("nan")) if args.no_otter else timed(
                otter_run, (zip_path, sub, args.only), base, f"otter-{name}", args.repeat)
            cells = [f"{t:6.1f} / {s:<5g}" for t, s in (ref, ag, ot)]
            print(f"{name:<10} {cells[0]:>14} {cells[1]:>16} {cells[2]:>14}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
