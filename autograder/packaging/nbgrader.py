"""nbgrader compatibility: the cell metadata ``nbgrader generate_assignment`` needs on the lab notebook.

The master ``source/Lab3.py`` marks solutions with nbgrader's own markers, and ``lab3 build`` makes the
student notebook with nbgrader's ``ClearSolutions`` / ``ClearHiddenTests`` (``enforce_metadata=False``).
A course that runs ``nbgrader generate_assignment`` itself needs either

- nbgrader metadata on the cells that hold markers (what :func:`add_nbgrader_metadata` adds: solution
  cells for ``### BEGIN SOLUTION``, locked 0-point autograder-test cells for ``### BEGIN HIDDEN TESTS``;
  jupytext's percent format keeps it in the cell header, ``# %% nbgrader={...}``), or
- ``c.ClearSolutions.enforce_metadata = False`` and ``c.ClearHiddenTests.enforce_metadata = False`` in its
  ``nbgrader_config.py`` (:data:`NBGRADER_CONFIG`).

Either way generate_assignment yields the same cells as ``lab3 build`` (tests/packaging/test_nbgrader.py).
The scores come from the hidden pytest graders (Gradescope / otter / ``lab3 grade``), not from nbgrader.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from autograder.layout import GRADED_MODULES

SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
HIDDEN = "### BEGIN HIDDEN TESTS"
#: What a written answer reads in the student notebook until the student replaces it (nbgrader's text stub).
PLACEHOLDER = "*Your answer here.*"
#: The student modules that nbgrader's autograde must never replace with the instructor's copies.
STUDENT_MODULES = tuple(f"lab3/{m}.py" for m in GRADED_MODULES)
#: The course's ``nbgrader_config.py``, shipped as ``autograder/packaging/templates/nbgrader_config.py``.
NBGRADER_CONFIG = (Path(__file__).resolve().parent / "templates" / "nbgrader_config.py").read_text(encoding="utf-8")


def _grade_id(cell: nbformat.NotebookNode, index: int, used: set[str]) -> str:
    """A readable, stable id: the first function or variable the cell defines, else its position."""
    m = re.search(r"^(?:def|class)\s+(\w+)|^(\w+)\s*=", cell.source, re.M)
    base = f"lab3-{(m.group(1) or m.group(2)) if m else f'cell{index:03d}'}".replace("_", "-")
    gid, n = base, 2
    while gid in used:
        gid, n = f"{base}-{n}", n + 1
    used.add(gid)
    return gid


def _question(cell: nbformat.NotebookNode, used: set[str]) -> None:
    """A written question of the master (``# %% [markdown] lab3={"question": ID, "points": N}``) becomes an
    nbgrader manually graded answer cell: ``solution`` + ``grade`` with its points and ``grade_id`` = ID.

    The answer is a solution region in the cell (the model answer, if the master has one; else the
    placeholder), so nbgrader's ``ClearSolutions`` keeps the prompt and puts :data:`PLACEHOLDER` in its
    place. ``metadata.lab3.prompt`` keeps the prompt so the grader can tell an answer from the prompt.
    """
    spec = cell.metadata["lab3"]
    gid, points = str(spec["question"]), spec.get("points")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", gid) or gid in used:
        raise ValueError(f"question id {gid!r}: must be unique and made of letters, digits, '.', '_', '-'")
    if not isinstance(points, int | float) or isinstance(points, bool) or points < 0:
        raise ValueError(f"question {gid!r}: points must be a number >= 0 (lab3={{..., \"points\": N}})")
    used.add(gid)
    lines = cell.source.split("\n")
    if SOLUTION not in cell.source:  # no model answer yet: the placeholder itself is the region
        at = next((i for i, line in enumerate(lines) if line.strip() == PLACEHOLDER), None)
        region = [SOLUTION, PLACEHOLDER, END_SOLUTION]
        lines = lines[:at] + region + lines[at + 1:] if at is not None else [*lines, "", *region]
        cell.source = "\n".join(lines)
    prompt = "\n".join(lines[: next(i for i, line in enumerate(lines) if SOLUTION in line)]).strip()
    cell.metadata["lab3"] = {"question": gid, "points": points, "prompt": prompt}
    cell.metadata["nbgrader"] = {"grade": True, "solution": True, "locked": False, "task": False,
                                 "points": points, "grade_id": gid, "schema_version": 3}


def add_nbgrader_metadata(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Mark the cells holding nbgrader markers and the written questions (in place); other cells are left
    without nbgrader metadata."""
    used: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "question" in cell.metadata.get("lab3", {}):
            _question(cell, used)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if SOLUTION in cell.source:
            meta = {"grade": False, "solution": True, "locked": False, "task": False}
        elif HIDDEN in cell.source:
            meta = {"grade": True, "solution": False, "locked": True, "task": False, "points": 0}
        else:
            continue
        cell.metadata["nbgrader"] = {**meta, "grade_id": _grade_id(cell, i, used), "schema_version": 3}
    return nb


def nbgrader_source(master_text: str) -> str:
    """The nbgrader *source* notebook (markers kept, metadata added) of the jupytext master, as JSON.

    Drop it into an nbgrader course as ``source/<assignment>/Lab3.ipynb``; ``nbgrader generate_assignment``
    then releases the same cells as ``lab3 build``.
    """
    import jupytext

    nb = add_nbgrader_metadata(jupytext.reads(master_text, fmt="py:percent"))
    nb.metadata.pop("jupytext", None)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
    return nbformat.writes(nb, version=4) + "\n"
