"""Grading outputs: results.json / feedback.md / the terminal table per submission (:mod:`.per_submission`),
grades.csv / report.html per batch (:mod:`.per_class`)."""

from autograder.reports.per_submission import (
    clean_text,
    feedback_md,
    results_json,
    table,
    write_feedback,
    write_results,
)

__all__ = ["clean_text", "feedback_md", "results_json", "table", "write_feedback", "write_results"]
