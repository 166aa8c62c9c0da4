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

import nbformat

SOLUTION = "### BEGIN SOLUTION"
HIDDEN = "### BEGIN HIDDEN TESTS"
NBGRADER_CONFIG = """c = get_config()  # noqa: F821
c.ClearSolutions.enforce_metadata = False
c.ClearHiddenTests.enforce_metadata = False
"""


def _grade_id(cell: nbformat.NotebookNode, index: int, used: set[str]) -> str:
    """A readable, stable id: the first function or variable the cell defines, else its position."""
    m = re.search(r"^(?:def|class)\s+(\w+)|^(\w+)\s*=", cell.source, re.M)
    base = f"lab3-{(m.group(1) or m.group(2)) if m else f'cell{index:03d}'}".replace("_", "-")
    gid, n = base, 2
    while gid in used:
        gid, n = f"{base}-{n}", n + 1
    used.add(gid)
    return gid


def add_nbgrader_metadata(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Mark the cells holding nbgrader markers (in place); other cells are left without metadata."""
    used: set[str] = set()
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
