"""Real ``nbgrader generate_assignment`` on the master notebook gives ``lab3 build``'s student notebook.

The master (source/Lab3.py, jupytext percent format) is converted as it is; nbgrader then needs either
cell metadata (added by autograder.packaging.nbgrader, kept through a jupytext round trip, so the master
could carry it in its cell headers) or ``enforce_metadata = False`` in the course's nbgrader_config.py.
Without either, generate_assignment refuses the notebook: the last case pins that down.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from packaging_helpers import REPO

from autograder.build.notebook import notebook_releases
from autograder.packaging.nbgrader import NBGRADER_CONFIG, PLACEHOLDER, SOLUTION, STUDENT_MODULES, nbgrader_source

pytestmark = pytest.mark.slow
MASTER = REPO / "source" / "Lab3.py"


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.rstrip()) for c in nb.cells]


def _generate(course: Path, nb: nbformat.NotebookNode, config: str = "") -> subprocess.CompletedProcess:
    (course / "source" / "lab3").mkdir(parents=True)
    nbformat.write(nb, str(course / "source" / "lab3" / "Lab3.ipynb"))
    (course / "nbgrader_config.py").write_text(config or "c = get_config()  # noqa: F821\n")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # nbgrader runs alembic
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", "lab3", "--force"],
        capture_output=True,
        text=True,
        cwd=str(course),
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def expected() -> list[tuple[str, str]]:
    text = MASTER.read_text(encoding="utf-8")
    if SOLUTION not in text:
        pytest.skip("the master notebook has no solution region yet")
    return _cells(nbformat.reads(notebook_releases(text, "source/Lab3.py")[0], as_version=4))


@pytest.mark.parametrize("mode", ["metadata", "config"])
def test_generate_assignment_matches_lab3_build(mode: str, tmp_path: Path, expected) -> None:
    nb = jupytext.reads(MASTER.read_text(encoding="utf-8"), fmt="py:percent")
    config = ""
    if mode == "metadata":
        config = f"c = get_config()  # noqa: F821\nc.ClearSolutions.text_stub = {PLACEHOLDER!r}\n"
        nb = nbformat.reads(nbgrader_source(MASTER.read_text(encoding="utf-8")), as_version=4)
        marked = [c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata]
        assert marked and all(m["solution"] for m in marked)
        # the metadata survives the percent format: the master could keep it in its cell headers
        nb = jupytext.reads(jupytext.writes(nb, fmt="py:percent"), fmt="py:percent")
        assert [c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata] == marked
    else:
        config = NBGRADER_CONFIG
    res = _generate(tmp_path, nb, config)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    released = nbformat.read(str(tmp_path / "release" / "lab3" / "Lab3.ipynb"), as_version=4)
    assert _cells(released) == expected
    assert not [c for c in released.cells if SOLUTION in c.source]
    if mode == "metadata":  # nbgrader recorded the solution cells (checksums, gradebook)
        assert any("checksum" in c.metadata.get("nbgrader", {}) for c in released.cells)


def test_generate_assignment_needs_metadata_or_config(tmp_path: Path, expected) -> None:
    nb = jupytext.reads(MASTER.read_text(encoding="utf-8"), fmt="py:percent")
    res = _generate(tmp_path, nb)
    assert res.returncode != 0
    assert "Solution region detected in a non-solution cell" in res.stdout + res.stderr


def test_shipped_config_keeps_student_modules_and_written_answers() -> None:
    """The shipped nbgrader_config.py: autograde never overwrites the seven modules; the written questions
    are manually graded answer cells with points and a stable grade_id."""
    ns: dict = {}

    class _C(dict):
        def __getattr__(self, name):
            return self.setdefault(name, _C())

        def __setattr__(self, name, value):
            self[name] = value

    exec(NBGRADER_CONFIG, {"get_config": _C}, ns)
    c = ns["c"]
    assert sorted(c["Autograde"]["exclude_overwriting"]["lab3"]) == sorted(STUDENT_MODULES)
    assert len(STUDENT_MODULES) == 7 and c["ClearSolutions"]["text_stub"] == PLACEHOLDER
    nb = nbformat.reads(nbgrader_source(MASTER.read_text(encoding="utf-8")), as_version=4)
    manual = [c.metadata["nbgrader"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
              and c.cell_type == "markdown"]
    assert len(manual) >= 6 and all(m["solution"] and m["points"] > 0 for m in manual)
