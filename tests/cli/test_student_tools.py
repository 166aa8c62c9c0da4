"""Student side: `python -m lab3 check` prints a rubric of the public tests; `submit` zips the graded modules."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder import REPO_ROOT
from autograder.build.release import build_releases, write_release

GRADED = {"attention", "positional", "transformer", "vit", "transfer", "training", "optim"}


@pytest.fixture(scope="module")
def releases(tmp_path_factory) -> dict[str, Path]:
    built = build_releases(REPO_ROOT)
    base = tmp_path_factory.mktemp("releases")
    out = {}
    for name in ("assignments", "solutions"):
        write_release(built.files(name), base / name)
        out[name] = base / name
    return out


def _check(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab3", "check", str(folder)], cwd=folder, capture_output=True,
                          text=True, timeout=600, env={"PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg",
                                                       "PYTHONPATH": str(folder), "HOME": str(folder)})


@pytest.mark.slow
def test_check_on_solution_passes(releases):
    proc = _check(releases["solutions"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "public checks pass" in proc.stdout and " FAIL " not in proc.stdout
    flat = " ".join(proc.stdout.split())
    assert "Passing the public checks is not the grade:" in flat and "hidden tests" in flat  # what they hold
    assert "Written questions of Lab3.ipynb: 14 points" in flat and "graded by the course staff" in flat


@pytest.mark.slow
def test_check_on_stubs_prints_rubric_with_hints(releases):
    proc = _check(releases["assignments"])
    assert proc.returncode == 1
    assert "FAIL" in proc.stdout and "not implemented yet" in proc.stdout
    summary = next(line for line in proc.stdout.splitlines() if "public checks pass" in line)
    passed, total = map(int, summary.split()[0].split("/"))
    assert total >= 5 and passed < total
    assert "Passing the public checks is not the grade" not in proc.stdout  # only once everything passes
    assert "Written questions of Lab3.ipynb: 14 points" in " ".join(proc.stdout.split())


def test_submit_zips_exactly_the_graded_modules(releases, tmp_path):
    out = tmp_path / "submission.zip"
    proc = subprocess.run([sys.executable, "-m", "lab3", "submit", str(releases["solutions"]), "-o", str(out)],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin",
                                                               "PYTHONPATH": str(releases["solutions"])})
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
    assert names - {"Lab3.ipynb"} == {f"lab3/{m}.py" for m in GRADED}
    assert "Lab3.ipynb" in names
    assert "Lab3.ipynb   written answers " in proc.stdout  # the solution notebook: its model answers


def test_submit_names_missing_modules(tmp_path):
    (tmp_path / "lab3").mkdir()
    (tmp_path / "lab3" / "attention.py").write_text("")
    from lab3.__main__ import make_submission

    assert make_submission(tmp_path, tmp_path / "s.zip") == 1
    assert not (tmp_path / "s.zip").exists()


def test_submit_reports_unanswered_questions_and_a_stale_notebook(releases, tmp_path):
    import os
    import shutil

    import nbformat
    from lab3.__main__ import make_submission

    folder = tmp_path / "work"
    shutil.copytree(releases["solutions"] / "lab3", folder / "lab3")
    nb = nbformat.read(str(releases["assignments"] / "Lab3.ipynb"), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "ex1-length-sweep":
            cell.source = cell.source.replace("*Your answer here.*", "The LSTM falls behind at L = 32.")
    nbformat.write(nb, str(folder / "Lab3.ipynb"))
    old = (folder / "Lab3.ipynb").stat().st_mtime - 3600
    os.utime(folder / "Lab3.ipynb", (old, old))
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert make_submission(folder, tmp_path / "s.zip") == 0
    out = buf.getvalue()
    assert "written answers 1 of" in out and "unanswered questions: ex1-vit-vs-cnn" in out
    assert "ex1-length-sweep" not in out.split("unanswered questions:")[1].splitlines()[0]
    assert "Lab3.ipynb was saved before your last change to attention.py" in out
    assert "still a TODO" not in out


def test_check_hints_are_whole():
    import xml.etree.ElementTree as ET

    from lab3.__main__ import _hint

    long = "weights differ from the reference: largest difference 0.21 at index (1, 3, 0); " * 3
    el = ET.Element("failure", message=f"AssertionError: {long}\nassert False\n +  where False = f()")
    assert _hint(el) == long.strip()
    el = ET.Element("failure", message="NotImplementedError: causal_mask (lab3/attention.py) is not implemented yet")
    assert _hint(el) == "causal_mask (lab3/attention.py) is not implemented yet"
