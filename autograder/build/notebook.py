"""The lab notebook: jupytext percent-format master -> student and solution ``.ipynb``.

The student notebook is made by nbgrader's own ``ClearSolutions`` and ``ClearHiddenTests``
preprocessors (so ``nbgrader generate_assignment`` on the master agrees with it); cell ids are
numbered and outputs cleared so that the build is byte-for-byte deterministic.
"""

from __future__ import annotations

import copy

import jupytext
import nbformat

from autograder.packaging.nbgrader import add_nbgrader_metadata

from .markers import find_regions, make_solution

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def _normalize(nb: nbformat.NotebookNode) -> str:
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nbformat.writes(nb, version=4) + "\n"


def notebook_releases(text: str, name: str = "Lab3.py") -> tuple[str, str]:
    """(student notebook JSON, solution notebook JSON) from the jupytext master ``text``."""
    find_regions(text, name)  # raises MarkerError with file:line for a malformed marker
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    master = jupytext.reads(text, fmt="py:percent")
    add_nbgrader_metadata(master)  # so that nbgrader itself (JupyterHub courses) accepts both notebooks
    student = copy.deepcopy(master)
    student, _ = ClearSolutions(code_stub={"python": CODE_STUB}, enforce_metadata=False).preprocess(
        student, {"language": "python"})
    student, _ = ClearHiddenTests(enforce_metadata=False).preprocess(student, {})
    solution = copy.deepcopy(master)
    for cell in solution.cells:
        if cell.cell_type == "code":
            cell.source = make_solution(cell.source + "\n", name).rstrip("\n")
    return _normalize(student), _normalize(solution)
