"""The lab notebook: jupytext percent-format master -> student and solution ``.ipynb``.

The student notebook is made by nbgrader's own ``ClearSolutions`` and ``ClearHiddenTests``
preprocessors (so ``nbgrader generate_assignment`` on the master agrees with it); cell ids are
numbered and outputs cleared so that the build is byte-for-byte deterministic.
"""

from __future__ import annotations

import copy
import re

import jupytext
import nbformat

from autograder.gradebook.questions import mark_figures
from autograder.packaging.nbgrader import END_SOLUTION, PLACEHOLDER, SOLUTION, add_nbgrader_metadata

from .markers import find_regions, make_solution

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def written_questions(notebook_json: str | bytes) -> list[dict]:
    """``[{"id", "section", "points"}]``: the written questions of a built notebook (nbgrader manual-grading
    cells), in order, with the number of the section they answer (as :func:`mark_figures` numbers it)."""
    import json

    section, out = "0", []
    for cell in json.loads(notebook_json)["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        grading = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "markdown" and grading.get("grade") and grading.get("solution"):
            out.append({"id": grading["grade_id"], "section": section, "points": grading.get("points", 0)})
        if cell["cell_type"] == "markdown":
            for line in source.splitlines():
                m = re.match(r"#{2,4}\s+(?:Exercise\s+)?(\d+(?:\.\d+)*)", line)
                if m:
                    section = m.group(1)
    return out


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


_MARKDOWN_MARKER = re.compile(r"^# (### (?:BEGIN|END) SOLUTION)$", re.M)


def notebook_releases(text: str, name: str = "Lab3.py") -> tuple[str, str]:
    """(student notebook JSON, solution notebook JSON) from the jupytext master ``text``."""
    # raises MarkerError with file:line for a malformed marker; a markdown cell's marker line ("# ### BEGIN
    # SOLUTION" in the percent format: a written answer's model answer) is checked like a code comment's
    find_regions(_MARKDOWN_MARKER.sub(r"\1", text), name)
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    master = jupytext.reads(text, fmt="py:percent")
    add_nbgrader_metadata(master)  # so that nbgrader itself (JupyterHub courses) accepts both notebooks
    mark_figures(master)
    student = copy.deepcopy(master)
    student, _ = ClearSolutions(code_stub={"python": CODE_STUB}, text_stub=PLACEHOLDER,
                                enforce_metadata=False).preprocess(student, {"language": "python"})
    student, _ = ClearHiddenTests(enforce_metadata=False).preprocess(student, {})
    solution = copy.deepcopy(master)
    for cell in solution.cells:
        if cell.cell_type == "code":
            cell.source = make_solution(cell.source + "\n", name).rstrip("\n")
        elif SOLUTION in cell.source:  # a written answer: the model answer without its markers
            cell.source = "\n".join(line for line in cell.source.split("\n")
                                    if line.strip() not in (SOLUTION, END_SOLUTION))
    return _normalize(student), _normalize(solution)
