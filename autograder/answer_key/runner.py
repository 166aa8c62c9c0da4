"""Run the experiments of ``lab3 results`` and record them: ``results/<name>.csv``, figures, ``<name>.json``."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from autograder import REPO_ROOT
from autograder.answer_key.registry import EXPERIMENTS, RUN_ORDER


def machine() -> dict[str, Any]:
    """CPU model, core count, GPU and library versions of this run."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    return info


def _command(args: argparse.Namespace, name: str) -> str:
    parts = ["lab3", "results"]
    if args.quick:
        parts.append("--quick")
    parts += ["--only", name]
    if args.device:
        parts += ["--device", args.device]
    return " ".join(shlex.quote(p) for p in parts)


def execute_notebook(out: Path, timeout: int = 1800) -> Path:
    """Execute the solutions notebook top to bottom in quick mode on CPU; keep it with its outputs as
    ``out/Lab3.solutions.ipynb``. Raises when a cell fails (the partial notebook is kept for reading)."""
    import tempfile

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(str(REPO_ROOT / "solutions" / "Lab3.ipynb"), as_version=4)
    env = {"LAB3_QUICK": "1", "MPLBACKEND": "Agg", "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO_ROOT / "solutions") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    saved = {k: os.environ.get(k) for k in env}
    path = out / "Lab3.solutions.ipynb"
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(env, LAB3_RUNS_DIR=str(Path(tmp) / "runs"))
        saved.setdefault("LAB3_RUNS_DIR", None)
        try:
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                    resources={"metadata": {"path": tmp}})
            start = time.perf_counter()
            try:
                client.execute()
            except CellExecutionError:
                nbformat.write(nb, str(path))
                raise
            nb.metadata["lab3_results"] = {"mode": "quick (LAB3_QUICK=1), CPU", "machine": machine(),
                                           "wall_time_s": round(time.perf_counter() - start, 1),
                                           "command": "lab3 results --notebook"}
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    nbformat.write(nb, str(path))
    return path


def run_results(args: argparse.Namespace) -> int:
    """The ``lab3 results`` command; exit 1 when an experiment failed (the others still run)."""
    if getattr(args, "notebook", False):
        out = Path(args.out).resolve() if args.out else REPO_ROOT / "results"
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        path = execute_notebook(out)
        importlib.import_module("autograder.answer_key.claims").write_readme(out)
        print(f"executed in {time.perf_counter() - start:.0f} s (quick mode): {path}")
        return 0
    names = list(args.only or RUN_ORDER)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        print(f"lab3 results: unknown experiment(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}",
              file=sys.stderr)
        return 2
    import torch
    from tqdm.auto import tqdm

    if args.device == "cuda" and not torch.cuda.is_available():
        print("lab3 results: --device cuda, but no CUDA device is available", file=sys.stderr)
        return 2
    device = torch.device(args.device or "cpu")
    # a GPU run keeps the CPU answer key: its records go to results/cuda/ (with their own README)
    default_out = REPO_ROOT / "results" / ("cuda" if device.type == "cuda" else "")
    out = Path(args.out).resolve() if args.out else default_out
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    os.environ["LAB3_QUICK"] = "1" if args.quick else "0"  # experiment code reads quick mode from here
    os.environ.setdefault("LAB3_RUNS_DIR", str(REPO_ROOT / "runs"))  # TensorBoard logs, never in results/
    from .experiments import Context

    ctx = Context(out=out, quick=bool(args.quick), device=device, seed=args.seed, seeds=args.seeds)
    module = importlib.import_module("autograder.answer_key.experiments")
    failed = []
    bar = tqdm(names, desc="lab3 results", unit="experiment")
    for name in bar:
        bar.set_postfix_str(name)
        start, cpu = time.perf_counter(), time.process_time()
        try:
            module = importlib.reload(module)  # a long run picks up fixes made while it runs
            result = getattr(module, name)(ctx)
        except Exception as exc:  # noqa: BLE001 - one failed experiment must not lose the others
            failed.append(name)
            tqdm.write(f"lab3 results: {name} failed: {type(exc).__name__}: {exc}")
            traceback.print_exc()
            continue
        wall = time.perf_counter() - start
        meta = {
            "name": name,
            "what": EXPERIMENTS[name],
            "mode": "quick" if args.quick else "full",
            "device": device.type,
            "seed": args.seed,
            "wall_time_s": round(wall, 1),
            "cpu_time_s": round(time.process_time() - cpu, 1),  # this process's CPU time (steady when shared)
            "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "command": _command(args, name),
            "machine": machine(),
            "config": result["config"],
            "figures": result["figures"],
            "csv": f"{name}.csv",
        }
        (out / f"{name}.json").write_text(json.dumps(meta, indent=1, default=str) + "\n")
        tqdm.write(f"lab3 results: {name} done in {wall:.0f} s -> {out / (name + '.csv')}")
        importlib.reload(importlib.import_module("autograder.answer_key.claims")).write_readme(out)
    bar.close()
    from .claims import write_readme

    readme = write_readme(out)
    print(f"results in {out} ({readme.name} regenerated)")
    if failed:
        print(f"lab3 results: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def add_results_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="quick settings: each experiment in minutes")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these: " + ", ".join(EXPERIMENTS))
    p.add_argument("--device", choices=("cpu", "cuda"),
                   help="where to train (default: cpu); cuda runs the notebook's full settings into results/cuda/")
    p.add_argument("--out", help="results folder (default: results/ at the repository root)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--notebook", action="store_true",
                   help="instead: execute solutions/Lab3.ipynb in quick mode into results/Lab3.solutions.ipynb")
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--seeds", type=int, default=3,
                   help="seeds of the experiments whose verdicts turn on small margins (default 3)")
