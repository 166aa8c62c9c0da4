"""Every class-level file of a batch folder, rebuilt at once from the graded submissions in it.

``grades.csv`` and ``report.html`` (:mod:`autograder.reports.per_class`), ``answers.html`` with its figure files
(:mod:`autograder.gradebook.answers_html`), ``final.csv`` and ``canvas.csv`` (:mod:`autograder.gradebook.final`).
"""

from __future__ import annotations

from pathlib import Path

from autograder.gradebook import classview
from autograder.gradebook.answers_html import write_answers_html
from autograder.gradebook.final import write_final
from autograder.reports.per_class import write_grades_csv, write_report_html


def write_batch_reports(
    out: Path, *, wall_s: float | None = None, jobs: int | None = None
) -> tuple[Path, Path]:
    """grades.csv, report.html, answers.html (+ the figure files) and final.csv / canvas.csv of batch ``out``."""
    view = classview.load(out)  # the figures become files; the rows keep no image data
    write_answers_html(out, view)  # the notebooks' written answers and figures, for manual grading
    table = write_final(out, view.rows, view.questions)  # autograded + manual points (manual_grades.json)
    rows = view.rows
    return write_grades_csv(out, rows, table), write_report_html(out, rows, wall_s=wall_s, jobs=jobs)
