"""`lab3 submit` names what the notebook still lacks: each missing figure, each unanswered question and each
code cell that still holds the release's `YOUR CODE HERE` / `raise NotImplementedError()`."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from autograder import REPO_ROOT
from autograder.build.release import build_releases

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.fixture(scope="module")
def built():
    return build_releases(REPO_ROOT)


def _folder(tmp_path: Path, built, notebook: dict) -> Path:
    folder = tmp_path / "work"
    for rel, data in built.solutions.items():
        if rel.startswith("lab3/"):
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
    (folder / "Lab3.ipynb").write_text(json.dumps(notebook))
    return folder


def _submit(folder: Path) -> str:
    from lab3.__main__ import make_submission

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert make_submission(folder, folder.parent / "s.zip") == 0
    return buf.getvalue()


def _draw(cell: dict) -> None:
    cell["outputs"] = [{"output_type": "display_data", "metadata": {}, "data": {"image/png": PNG,
                                                                               "text/plain": "<Figure>"}}]


def test_submit_names_figures_questions_and_code_cells_left(built, tmp_path):
    nb = json.loads(built.assignments["Lab3.ipynb"])
    figure_cells = [c for c in nb["cells"] if "figure" in c["metadata"].get("lab3", {})]
    assert len(figure_cells) == 11
    for cell in figure_cells:
        if cell["metadata"]["lab3"]["figure"] not in ("fig-1.3", "fig-3.1"):
            _draw(cell)
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "ex1-length-sweep":
            cell["source"] = "".join(cell["source"]).replace("*Your answer here.*", "The LSTM falls behind.")
    out = _submit(_folder(tmp_path, built, nb))
    notes = {line.split(":")[0]: line for line in out.splitlines() if line.startswith("note: ")}
    assert "written answers 1 of 6, figures 9 of 11" in out
    assert "2 figure(s) missing: fig-1.3, fig-3.1 (the figure cells of section 1.3, 3.1)" in out
    unanswered = next(line for line in out.splitlines() if "unanswered questions:" in line)
    assert "ex1-length-sweep" not in unanswered and "ex3-optimization (4 pts)" in unanswered
    stubs = [c for c in nb["cells"] if c["cell_type"] == "code" and "YOUR CODE HERE" in "".join(c["source"])]
    todo = next(line for line in out.splitlines() if "still hold YOUR CODE HERE" in line)
    assert todo.startswith(f"note: {len(stubs)} code cell(s)") and len(stubs) >= 4
    for section in ("1.1", "1.3", "2.2", "3.1", "3.3"):
        assert f"section {section} (cell " in todo, todo
    assert notes


def test_submit_is_quiet_about_a_finished_notebook(built, tmp_path):
    nb = json.loads(built.solutions["Lab3.ipynb"])
    for cell in nb["cells"]:
        if "figure" in cell["metadata"].get("lab3", {}):
            _draw(cell)
    out = _submit(_folder(tmp_path, built, nb))
    assert "written answers 6 of 6, figures 11 of 11" in out
    assert "missing" not in out and "unanswered" not in out and "YOUR CODE HERE" not in out


def test_submit_cli_prints_the_notes(built, tmp_path):
    import subprocess
    import sys

    nb = json.loads(built.assignments["Lab3.ipynb"])
    folder = _folder(tmp_path, built, nb)
    shutil.rmtree(folder / "lab3" / "__pycache__", ignore_errors=True)
    proc = subprocess.run([sys.executable, "-m", "lab3", "submit", str(folder), "-o", str(tmp_path / "s.zip")],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(folder)})
    assert proc.returncode == 0, proc.stderr
    assert "11 figure(s) missing: fig-1.2, fig-1.3" in proc.stdout
    assert "unanswered questions: ex1-length-sweep (2 pts)" in proc.stdout
    assert "still hold YOUR CODE HERE / raise NotImplementedError(): section 1.1 (cell " in proc.stdout
