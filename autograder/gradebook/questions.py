"""The written questions as the grader sees them: prompt, points, model answer, rubric, related figures.

They come from the master ``source/Lab3.py`` (jupytext percent format): a question is a markdown cell
whose header carries ``lab3={"question": ID, "points": N}`` and, optionally, ``"rubric": [[points, "what
earns them"], ...]``; its model answer is the cell's solution region (never in the student release).
The figures of a question are the figure cells (``fig-<section>``, as ``lab3 build`` numbers them) between
the previous question and this one. Without the master (an installed copy), the questions are taken from
the submitted notebooks (prompt and points, no model answer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.layout import PACKAGE_PARENT

MASTER = PACKAGE_PARENT / "source" / "Lab3.py"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
#: A code cell whose output should hold a figure once the student has run the notebook.
FIGURE_CALL = re.compile(r"\b(display|plt\.show|\.savefig)\(")


@dataclass
class RubricItem:
    """One line of a question's rubric: what earns ``points``."""

    points: float
    text: str


@dataclass
class Question:
    """A written question, with what the TA needs to grade it."""

    id: str
    points: float
    prompt: str
    model_answer: str = ""
    rubric: list[RubricItem] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)


def _rubric(spec: Any) -> list[RubricItem]:
    items = []
    for item in spec if isinstance(spec, list) else []:
        if isinstance(item, dict):
            items.append(RubricItem(float(item.get("points", 0)), str(item.get("text", ""))))
        elif isinstance(item, list | tuple) and len(item) == 2:
            items.append(RubricItem(float(item[0]), str(item[1])))
    return items


def _split(source: str) -> tuple[str, str]:
    """(prompt, model answer) of a question cell's source."""
    lines = source.split("\n")
    begin = next((i for i, line in enumerate(lines) if line.strip() == BEGIN), None)
    if begin is None:
        return source.strip(), ""
    end = next((i for i, line in enumerate(lines) if line.strip() == END and i > begin), len(lines))
    return "\n".join(lines[:begin]).strip(), "\n".join(lines[begin + 1:end]).strip()


def mark_figures(nb: Any) -> None:
    """``metadata.lab3.figure`` = ``fig-<section>[-n]`` on every code cell that draws a figure (in place).

    The section is the number of the last ``## ...``/``### 1.2 ...`` heading above the cell, so the ids stay
    put when cells elsewhere change; the grader reads them to report which figures a submitted notebook has.
    """
    section, seen = "0", {}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                m = re.match(r"#{2,4}\s+(?:Exercise\s+)?(\d+(?:\.\d+)*)", line)
                if m:
                    section = m.group(1)
        elif cell.cell_type == "code" and FIGURE_CALL.search(cell.source):
            seen[section] = seen.get(section, 0) + 1
            fid = f"fig-{section}" + (f"-{seen[section]}" if seen[section] > 1 else "")
            cell.metadata.setdefault("lab3", {})["figure"] = fid


def master_questions(master: Path = MASTER) -> list[Question]:
    """The written questions of the master notebook, in notebook order (empty when it is missing)."""
    if not Path(master).is_file():
        return []
    import jupytext

    nb = jupytext.reads(Path(master).read_text(encoding="utf-8"), fmt="py:percent")
    mark_figures(nb)
    questions: list[Question] = []
    figures: list[str] = []
    for cell in nb.cells:
        lab3 = cell.metadata.get("lab3", {}) if isinstance(cell.metadata.get("lab3"), dict) else {}
        if cell.cell_type == "code" and "figure" in lab3:
            figures.append(str(lab3["figure"]))
        elif cell.cell_type == "markdown" and "question" in lab3:
            prompt, model = _split(cell.source)
            questions.append(Question(str(lab3["question"]), float(lab3.get("points", 0)), prompt, model,
                                      _rubric(lab3.get("rubric")), figures))
            figures = []
    return questions


def class_questions(rows: list[dict[str, Any]], master: Path = MASTER) -> list[Question]:
    """The master's questions. Without a master (an installed copy), the questions that at least half of the
    submitted notebooks hold (prompt and points from the first of them): a question cell that one student
    added to their notebook never becomes a graded question of the class."""
    questions = master_questions(master)
    if questions:
        return questions
    seen: dict[str, dict[str, Any]] = {}
    count: dict[str, int] = {}
    notebooks = 0
    for row in rows:
        rep = row.get("answers") or {}
        notebooks += bool(rep.get("readable"))
        for q in {str(q.get("id")): q for q in rep.get("questions", [])}.values():
            seen.setdefault(str(q["id"]), q)
            count[str(q["id"])] = count.get(str(q["id"]), 0) + 1
    return [Question(qid, float(q.get("points") or 0), str(q.get("prompt", ""))) for qid, q in seen.items()
            if 2 * count[qid] >= max(notebooks, 1)]
