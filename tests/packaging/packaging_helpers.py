"""Helpers of the packaging tests: a Gradescope-like tree, running run_autograder, sample submissions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.layout import GRADED_MODULES
from autograder.settings import value

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
# the CI subset: ex1 graders that train nothing (the full suite on the solution takes ~25 s per run; the
# causal_mask tag also selects the seq2seq training test, ~6 s per run)
CI_TAGS = ["sdpa", "mha"]


def require_releases() -> None:
    for rel in ("assignments/lab3/__init__.py", "solutions/lab3/__init__.py"):
        if not (REPO / rel).exists():
            pytest.skip(f"{rel} missing: run `lab3 build` first")


def gradescope_tree(zip_path: Path, root: Path, submission: Path) -> Path:
    """``root`` laid out like Gradescope's /autograder: source/ (the zip), submission/, results/."""
    for sub in ("source", "submission", "results"):
        (root / sub).mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root / "source")
    for name in ("run_autograder", "setup.sh"):
        os.chmod(root / "source" / name, 0o755)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    if submission.is_dir():
        shutil.copytree(submission, root / "submission", dirs_exist_ok=True)
    else:
        with zipfile.ZipFile(submission) as zf:
            zf.extractall(root / "submission")
    return root


def run_autograder(
    root: Path,
    *,
    only: list[str] | None = None,
    python: str = PYTHON,
    timeout: float = 600,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        {
            "LAB3_AUTOGRADER_ROOT": str(root),
            "LAB3_PYTHON": python,
            "LAB3_SKIP_DATA": "1",
            "LAB3_DATA_DIR": str(value("LAB3_DATA_DIR")),
        }
    )
    if only:
        env["LAB3_GRADE_ONLY"] = " ".join(only)
    env.update(extra_env or {})
    return subprocess.run(
        ["bash", str(root / "run_autograder")],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=str(root),
    )


def copy_modules(src_lab3: Path, dest: Path) -> Path:
    """A submission folder holding only the graded modules, in lab3/ (as `lab3 submit` makes them)."""
    (dest / "lab3").mkdir(parents=True)
    for m in GRADED_MODULES:
        shutil.copy2(src_lab3 / f"{m}.py", dest / "lab3" / f"{m}.py")
    return dest


def zip_folder(folder: Path, zip_path: Path) -> Path:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return zip_path
