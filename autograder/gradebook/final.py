"""The final grade of each student: autograded points (per exercise and area) + manual points.

``OUT/final.csv`` (one row per submission, and per roster student without one) and ``OUT/canvas.csv`` (a
Canvas gradebook import) are rebuilt from their two sources, never edited: the autograded points of
``OUT/<id>/instructor/result.json`` (the manifest's tests) and the manual points of
``OUT/manual_grades.json``. ``final = autograded + manual``; a submission whose grading failed
(``error``) has no autograded points and no final grade at all (a gradebook import cannot take a 0), and
Canvas gets a final grade only once every written question of that student is graded.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.gradebook import roster as roster_mod
from autograder.gradebook import store
from autograder.gradebook.questions import Question
from autograder.outdir import OutDir, SubmissionOut
from autograder.reports.per_submission import atomic_write

FINAL, CANVAS = OutDir.FINAL, OutDir.CANVAS
DEFAULT_ASSIGNMENT = "Lab 3"
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def _num(x: float | None) -> str:
    return "" if x is None else f"{round(x, 4):g}"


def _area(tags: list[str]) -> tuple[str, str]:
    exercise = next((t for t in tags if t.startswith("ex")), "")
    area = next((t for t in tags if not t.startswith("ex") and t != "notebook"), exercise)
    return exercise, area


@dataclass
class FinalTable:
    """The rows of ``final.csv`` (dicts keyed by :attr:`columns`) and the questions' maximum."""

    columns: list[str]
    rows: list[dict[str, str]]
    questions: list[Question]

    @property
    def manual_max(self) -> float:
        return sum(q.points for q in self.questions)


def _breakdown(rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    exercises: list[str] = []
    areas: list[str] = []
    for r in rows:
        for t in r.get("tests", []):
            ex, area = _area(list(t.get("tags") or []))
            if ex and ex not in exercises:
                exercises.append(ex)
            if area and f"area:{area}" not in areas:
                areas.append(f"area:{area}")
    return sorted(exercises), areas


def final_table(rows: list[dict[str, Any]], questions: list[Question],
                grades: dict[str, dict[str, dict[str, Any]]], roster: dict[str, roster_mod.Student]) -> FinalTable:
    """Every student's grade from the batch ``rows``, the manual ``grades`` and the ``roster``."""
    exercises, areas = _breakdown(rows)
    manual_cols = [f"manual:{q.id}" for q in questions]
    columns = ["id", "student_id", "name", "email", "section", "status", "autograded", "autograded_max",
               *exercises, *areas, *manual_cols, "manual", "manual_max", "manual_graded", "final", "final_max",
               "complete"]
    manual_max = sum(q.points for q in questions)
    out = []
    for r in sorted(rows, key=lambda r: r["id"]):
        who = roster.get(r["id"], roster_mod.Student(r["id"]))
        status = str(r.get("status") or "graded")
        mine = store.points_of(grades, r["id"])
        manual = sum(mine.get(q.id, 0.0) for q in questions)
        n_done = sum(1 for q in questions if q.id in mine)
        row = {"id": r["id"], "student_id": who.student_id, "name": who.name, "email": who.email,
               "section": who.section, "status": status, "manual_max": _num(manual_max),
               "manual_graded": f"{n_done}/{len(questions)}", "manual": _num(manual),
               **{f"manual:{q.id}": _num(mine.get(q.id)) for q in questions}}
        if status != "error":
            parts: dict[str, float] = {c: 0.0 for c in [*exercises, *areas]}
            for t in r.get("tests", []):
                ex, area = _area(list(t.get("tags") or []))
                for col in (ex, f"area:{area}"):
                    if col in parts:
                        parts[col] += float(t.get("score") or 0)
            auto, auto_max = float(r.get("score") or 0), float(r.get("max_score") or 0)
            row |= {"autograded": _num(auto), "autograded_max": _num(auto_max),
                    **{c: _num(v) for c, v in parts.items()},
                    "final": _num(auto + manual), "final_max": _num(auto_max + manual_max),
                    "complete": "yes" if n_done == len(questions) else "no"}
        else:
            row["complete"] = "no"
        out.append(row)
    graded_ids = {r["id"] for r in rows}
    for sid, who in sorted(roster.items()):
        if sid not in graded_ids:  # on the roster, nothing submitted (or not graded yet)
            out.append({"id": sid, "student_id": who.student_id, "name": who.name, "email": who.email,
                        "section": who.section, "status": "missing", "complete": "no"})
    return FinalTable(columns, [{c: row.get(c, "") for c in columns} for row in out], questions)


def _csv(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def canvas_csv(table: FinalTable, roster: dict[str, roster_mod.Student], assignment: str = DEFAULT_ASSIGNMENT) -> str:
    """A Canvas gradebook import: ``Student, ID, SIS User ID, SIS Login ID, Section, <assignment>`` and a
    ``Points Possible`` row; the grade only where it is final (graded, every question graded)."""
    top = next((r["final_max"] for r in table.rows if r["final_max"]), "")
    lines = [["Points Possible", "", "", "", "", top]]
    for r in table.rows:
        who = roster.get(r["id"], roster_mod.Student(r["id"]))
        grade = r["final"] if r["complete"] == "yes" and r["status"] in ("graded", "timeout") else ""
        lines.append([who.name or r["id"], who.canvas_id, who.student_id, who.login or who.email, who.section, grade])
    return _csv([*CANVAS_COLUMNS, assignment], lines)


def write_final(out: Path, rows: list[dict[str, Any]], questions: list[Question], *,
                assignment: str = DEFAULT_ASSIGNMENT) -> FinalTable:
    """Write ``OUT/final.csv`` and ``OUT/canvas.csv``; returns the table."""
    roster = roster_mod.load(out)
    table = final_table(rows, questions, store.load(out), roster)
    atomic_write(OutDir(out).final_csv, _csv(table.columns, [[r[c] for c in table.columns] for r in table.rows]))
    atomic_write(OutDir(out).canvas_csv, canvas_csv(table, roster, assignment))
    return table


def write_written_feedback(out: Path, table: FinalTable) -> list[Path]:
    """``OUT/<id>/written_feedback.md`` per graded submission: each written question's points and the TA's
    comment (for the students; ``feedback.md`` beside it holds the autograded part)."""
    grades = store.load(out)
    written = []
    for row in table.rows:
        folder = Path(out) / row["id"]
        if row["status"] in ("missing", "error") or not folder.is_dir():
            continue
        lines = [f"# Written answers: {row['manual']} / {row['manual_max']} points ({row['manual_graded']} graded)",
                 "", "| question | points | comment |", "|---|---|---|"]
        for q in table.questions:
            g = grades.get(q.id, {}).get(row["id"], {})
            points = "not graded yet" if g.get("points") is None else f"{_num(g['points'])} / {_num(q.points)}"
            comment = " ".join(str(g.get("comment", "")).split()).replace("|", "\\|")
            lines.append(f"| {q.id} | {points} | {comment} |")
        path = SubmissionOut(folder).written_feedback_md
        atomic_write(path, "\n".join(lines) + "\n")
        written.append(path)
    return written
