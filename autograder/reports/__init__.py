"""Grading outputs: results.json / feedback.md per submission, grades.csv / report.html per batch."""

from autograder.reports.results import (
    clean_text,
    feedback_md,
    results_json,
    table,
    write_feedback,
    write_results,
)

__all__ = ["clean_text", "feedback_md", "results_json", "table", "write_feedback", "write_results"]
