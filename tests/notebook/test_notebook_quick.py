"""The solution notebook runs top to bottom in quick mode on CPU (what a student's finished notebook does), and
the product's notebook reader finds every written answer and every figure in what it saved.

The notebook runs once (a module fixture, minutes) with the kernel's own plotting setup (no ``MPLBACKEND``):
figures are drawn inline as a student sees them.
"""

from __future__ import annotations

import os
import time

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import REPO_ROOT
from autograder.build.release import build_releases
from autograder.engine.notebook_answers import written_answers

pytestmark = [pytest.mark.notebook, pytest.mark.slow]
QUESTIONS, FIGURES = 6, 11


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """(the executed solution notebook, seconds): one run for every test of this module."""
    tmp = tmp_path_factory.mktemp("notebook")
    nb = nbformat.reads(build_releases(REPO_ROOT).solutions["Lab3.ipynb"].decode(), as_version=4)
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB3_QUICK", "1")
    mp.delenv("MPLBACKEND", raising=False)  # the notebook's own `%matplotlib inline`, as in Jupyter
    mp.setenv("LAB3_RUNS_DIR", str(tmp / "runs"))
    mp.setenv("PYTHONPATH", str(REPO_ROOT / "solutions") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp)}})
        start = time.perf_counter()
        client.execute()
        elapsed = time.perf_counter() - start
    finally:
        mp.undo()
    nbformat.write(nb, str(tmp / "Lab3.ipynb"))
    return tmp / "Lab3.ipynb", elapsed


def test_solution_notebook_runs_in_quick_mode(executed):
    path, elapsed = executed
    nb = nbformat.read(str(path), as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    print(f"notebook quick mode: {elapsed:.0f} s")
    assert elapsed < 600, f"quick mode took {elapsed:.0f} s (budget 10 min)"


def test_executed_notebook_grades_every_answer_and_figure(executed):
    """What ``lab3 grade`` reads from the saved notebook: 6/6 written answers and 11/11 figures."""
    path, _ = executed
    report = written_answers(path.parent, REPO_ROOT / "assignments" / "Lab3.ipynb")
    assert report["readable"], report
    missing = [f["id"] for f in report["figures"] if not f["present"]]
    unanswered = [q["id"] for q in report["questions"] if not q["answered"]]
    assert (len(report["questions"]), len(report["figures"])) == (QUESTIONS, FIGURES)
    assert not unanswered and not missing, f"unanswered: {unanswered}; figures missing: {missing}"


def test_recorded_solutions_notebook_grades_every_answer_and_figure():
    """The answer key's executed notebook (``results/Lab3.solutions.ipynb``, also the sample solution's
    notebook) holds every answer and every figure too."""
    path = REPO_ROOT / "results" / "Lab3.solutions.ipynb"
    if not path.is_file():
        pytest.skip("results/Lab3.solutions.ipynb not recorded (lab3 results --notebook)")
    report = written_answers(path, REPO_ROOT / "assignments" / "Lab3.ipynb")
    missing = [f["id"] for f in report["figures"] if not f["present"]]
    unanswered = [q["id"] for q in report["questions"] if not q["answered"]]
    assert (len(report["questions"]), len(report["figures"])) == (QUESTIONS, FIGURES)
    assert not unanswered and not missing, f"unanswered: {unanswered}; figures missing: {missing}"


def test_student_notebook_has_no_solutions():
    built = build_releases(REPO_ROOT)
    student = nbformat.reads(built.assignments["Lab3.ipynb"].decode(), as_version=4)
    solution = nbformat.reads(built.solutions["Lab3.ipynb"].decode(), as_version=4)
    assert len(student.cells) == len(solution.cells)
    stubbed = [c for c in student.cells if c.cell_type == "code" and "raise NotImplementedError()" in c.source]
    assert stubbed, "the student notebook has no cell for students to write"
    for cell in student.cells:
        assert "BEGIN SOLUTION" not in cell.source and "END SOLUTION" not in cell.source
