"""How the reports show a submission's notebook: its written answers and figures, read by
:mod:`autograder.engine.notebook_answers` (a JSON-ready report dict), as Gradescope tests of 0 points, a
``feedback.md`` section and the ``grades.csv`` columns. None of this changes a score.
"""

from __future__ import annotations

from typing import Any

NOT_SUBMITTED = "written answers not submitted: the submission has no Lab3.ipynb (`lab3 submit` adds it)"


def summary(report: dict[str, Any]) -> tuple[str, str]:
    """("Written answers: k of n filled", "Figures: k of m present")."""
    q, f = report.get("questions", []), report.get("figures", [])
    return (f"Written answers: {sum(x['answered'] for x in q)} of {len(q)} filled",
            f"Figures: {sum(x['present'] for x in f)} of {len(f)} present")


def results_tests(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    """0-point visible Gradescope tests that show the notebook's status (never part of the score)."""
    if not report:
        return []
    if report.get("notebook") is None or not report.get("readable"):
        text = "; ".join(report.get("notes", [])) or NOT_SUBMITTED
        return [{"name": "Written answers and figures: not submitted", "score": 0, "max_score": 0,
                 "output": text + ". They are graded by the course staff, on top of the autograded points.",
                 "output_format": "text", "tags": ["notebook"], "visibility": "visible"}]
    answers, figures = summary(report)
    q_lines = [f"{'answered  ' if q['answered'] else 'NOT ANSWERED'}  {q['id']} ({q['points']} pts, graded by the "
               "staff)" for q in report["questions"]]
    f_lines = [f"{'present' if x['present'] else 'MISSING'}  {x['id']}" +
               ("" if x["present"] or not x["has_output"] else " (output without an image)")
               for x in report["figures"]]
    tail = ("\nInformation only: these do not change the autograded score; the staff grade the written "
            "answers by hand.")
    return [
        {"name": answers, "score": 0, "max_score": 0, "output": "\n".join(q_lines) + tail, "output_format": "text",
         "tags": ["notebook"], "visibility": "visible"},
        {"name": figures, "score": 0, "max_score": 0,
         "output": "\n".join(f_lines) + "\nRun the notebook and save it before `lab3 submit`: the grader reads the "
                   "saved outputs, it never runs the notebook.", "output_format": "text", "tags": ["notebook"],
         "visibility": "visible"},
    ]


def feedback_lines(report: dict[str, Any] | None) -> list[str]:
    """The ``feedback.md`` section of the notebook (markdown lines)."""
    if not report:
        return []
    lines = ["", "## Written answers and figures (graded by the staff; not part of the score above)", ""]
    if report.get("notebook") is None or not report.get("readable"):
        return lines + [f"- {n}" for n in report.get("notes", []) or [NOT_SUBMITTED]]
    answers, figures = summary(report)
    lines += [f"**{answers}.** " + ", ".join(f"{q['id']}: {'answered' if q['answered'] else 'not answered'}"
                                             for q in report["questions"]), ""]
    lines += [f"**{figures}.** " + ", ".join(f"{x['id']}: {'present' if x['present'] else 'missing'}"
                                             for x in report["figures"])]
    return lines


def csv_columns(report: dict[str, Any] | None) -> dict[str, str]:
    """``{"q:<id>": "yes"|"no"}`` per question and ``figures`` = "k/m" (``grades.csv``)."""
    if not report:
        return {}
    cols = {f"q:{q['id']}": "yes" if q["answered"] else "no" for q in report.get("questions", [])}
    f = report.get("figures", [])
    cols["figures"] = f"{sum(x['present'] for x in f)}/{len(f)}" if report.get("readable") else ""
    cols["notebook"] = "yes" if report.get("notebook") and report.get("readable") else "no"
    return cols
