"""``OUT/manual_grades.json``: the TA's points and comment per written question and student.

A plain JSON file in the batch's output folder, written atomically (a crash never leaves half a file) and
under a lock (two browser tabs saving at once never lose a grade)::

    {"about": "...", "version": 1,
     "grades": {"<question id>": {"<submission id>": {"points": 1.5, "comment": "...",
                                                       "updated": "2026-12-06T21:40:00Z"}}}}

``points`` is ``null`` while a question is not graded yet (a comment alone may be saved). The batch
grader never writes this file, so a regrade of the code keeps every manual point.
"""

from __future__ import annotations

import fcntl
import json
import math
import threading
import time
from pathlib import Path
from typing import Any

from autograder.outdir import OutDir
from autograder.reports.per_submission import atomic_write

FILE = OutDir.MANUAL_GRADES
ABOUT = ("Manual grades of the written questions (points and comment per question and submission), entered "
         "with `lab3 answers serve`. Regrading the code never changes this file.")
MAX_COMMENT = 5000
_LOCK = threading.Lock()


class GradeError(ValueError):
    """A manual grade that cannot be stored (points out of range, unknown question)."""


def path(out: Path) -> Path:
    """Where the manual grades of batch ``out`` live."""
    return OutDir(out).manual_grades


def load(out: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``{question: {submission: {"points", "comment", "updated"}}}`` (empty when nothing is graded yet)."""
    try:
        data = json.loads(path(out).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise GradeError(f"{path(out)} is not valid JSON ({exc}): fix it by hand, it holds the manual grades") \
            from exc
    grades = data.get("grades", {}) if isinstance(data, dict) else {}
    return {str(q): {str(s): dict(g) for s, g in per.items() if isinstance(g, dict)}
            for q, per in grades.items() if isinstance(per, dict)}


def parse_points(text: Any, max_points: float) -> float | None:
    """A TA's entry as points in ``0..max_points`` (``None`` for an empty field); :class:`GradeError` else."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        value = float(str(text).strip().replace(",", "."))
    except ValueError as exc:
        raise GradeError(f"points must be a number (got {str(text)[:40]!r})") from exc
    if not math.isfinite(value) or not 0 <= value <= max_points:
        raise GradeError(f"points must be between 0 and {max_points:g} (got {value:g})")
    return value


def save(out: Path, question: str, submission: str, points: float | None, comment: str) -> dict[str, Any]:
    """Store one grade (replacing the previous one of that question and submission); returns the entry."""
    entry = {"points": points, "comment": str(comment or "")[:MAX_COMMENT],
             "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    lock_path = Path(out) / f".{FILE}.lock"
    with _LOCK, open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        grades = load(out)
        grades.setdefault(question, {})[submission] = entry
        body = {"about": ABOUT, "version": 1,
                "grades": {q: dict(sorted(per.items())) for q, per in sorted(grades.items())}}
        atomic_write(path(out), json.dumps(body, indent=1, ensure_ascii=False) + "\n")
    return entry


def points_of(grades: dict[str, dict[str, dict[str, Any]]], submission: str) -> dict[str, float]:
    """``{question: points}`` of one submission (questions not graded yet left out)."""
    out = {}
    for q, per in grades.items():
        p = per.get(submission, {}).get("points")
        if isinstance(p, int | float) and not isinstance(p, bool) and math.isfinite(p):
            out[q] = float(p)
    return out
