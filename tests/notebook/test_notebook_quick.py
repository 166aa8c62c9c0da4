"""The solution notebook runs top to bottom in quick mode on CPU (what a student's finished notebook does)."""

from __future__ import annotations

import os
import time

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import REPO_ROOT
from autograder.build.release import build_releases

pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def test_solution_notebook_runs_in_quick_mode(tmp_path, monkeypatch):
    nb = nbformat.reads(build_releases(REPO_ROOT).solutions["Lab3.ipynb"].decode(), as_version=4)
    monkeypatch.setenv("LAB3_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("LAB3_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT / "solutions") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    print(f"notebook quick mode: {elapsed:.0f} s")
    assert elapsed < 600, f"quick mode took {elapsed:.0f} s (budget 10 min)"


def test_student_notebook_has_no_solutions():
    built = build_releases(REPO_ROOT)
    student = nbformat.reads(built.assignments["Lab3.ipynb"].decode(), as_version=4)
    solution = nbformat.reads(built.solutions["Lab3.ipynb"].decode(), as_version=4)
    assert len(student.cells) == len(solution.cells)
    stubbed = [c for c in student.cells if c.cell_type == "code" and "raise NotImplementedError()" in c.source]
    assert stubbed, "the student notebook has no cell for students to write"
    for cell in student.cells:
        assert "BEGIN SOLUTION" not in cell.source and "END SOLUTION" not in cell.source
