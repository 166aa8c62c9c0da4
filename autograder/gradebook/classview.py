"""One batch as the manual grading needs it: the questions and, per submission, answers and figure files.

Loaded once from ``OUT/<id>/instructor/result.json`` (the notebook as the grader read it, never executed);
the figures are written out as files (:mod:`~autograder.gradebook.figures`) and dropped from memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.gradebook import figures
from autograder.gradebook.questions import MASTER, Question, class_questions
from autograder.outdir import OutDir


@dataclass
class SubmissionView:
    """What the grading page shows of one submission."""

    id: str
    status: str
    notebook: bool
    answers: dict[str, str] = field(default_factory=dict)  # question id -> the student's text ("" = none)
    figures: dict[str, list[str]] = field(default_factory=dict)  # figure id -> files under OUT/answers/
    missing_figures: list[str] = field(default_factory=list)


@dataclass
class ClassView:
    """The questions and the submissions of a batch (``rows``: the slim result rows, no images)."""

    out: Path
    questions: list[Question]
    submissions: list[SubmissionView]
    rows: list[dict[str, Any]]

    def question(self, qid: str) -> Question | None:
        """The question ``qid`` (None for an unknown id)."""
        return next((q for q in self.questions if q.id == qid), None)

    def submission(self, sid: str) -> SubmissionView | None:
        """The submission ``sid`` (None for an unknown id)."""
        return next((s for s in self.submissions if s.id == sid), None)


def submission_view(row: dict[str, Any], files: dict[str, list[str]]) -> SubmissionView:
    """What the pages show of one result row (``files``: its exported figures)."""
    rep = row.get("answers") or {}
    return SubmissionView(
        id=row["id"],
        status=str(row.get("status") or "graded"),
        notebook=bool(rep.get("notebook")) and bool(rep.get("readable")),
        answers={str(q["id"]): str(q.get("answer", "")) if q.get("answered") else "" for q in rep.get("questions", [])},
        figures=files,
        missing_figures=[str(f["id"]) for f in rep.get("figures", []) if not f.get("present")],
    )


def load(out: Path, rows: list[dict[str, Any]] | None = None, master: Path = MASTER) -> ClassView:
    """The class of batch ``out`` (figures exported to ``OUT/answers/figures/``)."""
    out = Path(out)
    rows = OutDir(out).load_rows() if rows is None else rows
    subs, slim = [], []
    for row in sorted(rows, key=lambda r: r["id"]):
        files = figures.export(out, row["id"], row.get("answers"))
        subs.append(submission_view(row, files))
        slim.append(dict(row, answers=figures.strip_images(row.get("answers"))))
    return ClassView(out, class_questions(rows, master), subs, slim)
