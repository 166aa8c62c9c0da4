"""The files a grading run writes, each named once here: :class:`SubmissionOut` for one graded submission
(``lab3 grade SUBMISSION --out DIR``, and each ``OUT/<id>/`` of a batch) and :class:`OutDir` for a batch's
folder (``lab3 grade --batch DIR --out OUT``). Every writer and reader takes the paths from these types and
loads the grader's own records through them; no other module spells a file name under an output folder.

    DIR/results.json              Gradescope's results (what the student sees)
    DIR/feedback.md               the student's feedback
    DIR/written_feedback.md       the TA's points and comments on the written answers (gradebook export)
    DIR/instructor/result.json    the whole result, per test (what every batch file is rebuilt from)
    DIR/instructor/log.txt        the grading log (instructor only); records.jsonl, config.json,
                                  session.out.txt, session.log, pytest.ini, child<n>.stdout.txt /
                                  child<n>.stderr.txt, batch_error.txt, entry_error.txt beside it
    DIR/entry.log                 what the Gradescope entry printed (the otter bridge's run)
    OUT/<id>/                     one SubmissionOut per graded submission
    OUT/skipped.txt               entries of the batch folder that are not submissions, one per line
    OUT/grades.csv  OUT/report.html  OUT/answers.html (+ OUT/answers/figures/)
    OUT/final.csv  OUT/canvas.csv  OUT/manual_grades.json  OUT/roster.csv  OUT/history/
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _file(*parts: str) -> property:
    """A read-only attribute: the path ``root / parts...``."""
    return property(lambda self: self.root.joinpath(*parts))


@dataclass(frozen=True)
class SubmissionOut:
    """The output folder of one graded submission (``root`` as given; callers make it absolute)."""

    root: Path

    RESULTS = "results.json"
    FEEDBACK = "feedback.md"
    WRITTEN_FEEDBACK = "written_feedback.md"
    INSTRUCTOR = "instructor"
    RESULT = "result.json"  # under instructor/
    # written by the session itself, into its log_dir (= instructor/)
    TRACE_LOG = "session.log"  # the session's log, full traces
    PYTEST_INI = "pytest.ini"  # the session's own pytest configuration

    @staticmethod
    def child_log(generation: int, stream: str) -> str:
        """The name of sandbox child ``generation``'s captured ``stream`` ("stdout" or "stderr"), in instructor/."""
        return f"child{generation}.{stream}.txt"

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    results_json = _file(RESULTS)
    feedback_md = _file(FEEDBACK)
    written_feedback_md = _file(WRITTEN_FEEDBACK)
    instructor = _file(INSTRUCTOR)
    result_json = _file(INSTRUCTOR, RESULT)
    log_txt = _file(INSTRUCTOR, "log.txt")
    records = _file(INSTRUCTOR, "records.jsonl")
    session_config = _file(INSTRUCTOR, "config.json")
    session_log = _file(INSTRUCTOR, "session.out.txt")  # what the session process printed
    trace_log = _file(INSTRUCTOR, TRACE_LOG)
    batch_error = _file(INSTRUCTOR, "batch_error.txt")
    entry_error = _file(INSTRUCTOR, "entry_error.txt")
    entry_log = _file("entry.log")  # what the Gradescope entry printed when the otter bridge ran it

    def has_result(self) -> bool:
        """Both the student's ``results.json`` and the instructor's ``result.json`` are there."""
        return self.results_json.exists() and self.result_json.exists()

    def load_result(self) -> dict[str, Any] | None:
        """``instructor/result.json`` as a dict (None when missing or unreadable)."""
        try:
            data = json.loads(self.result_json.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def load_results_json(self) -> dict[str, Any]:
        """The Gradescope ``results.json`` (raises ``OSError`` / ``ValueError`` when missing or broken)."""
        return json.loads(self.results_json.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class OutDir:
    """A batch's output folder: one :class:`SubmissionOut` per submission id, and the class-level files."""

    root: Path

    SKIPPED = "skipped.txt"
    GRADES = "grades.csv"
    REPORT = "report.html"
    ANSWERS = "answers.html"
    ANSWERS_DIR = "answers"  # the figure files of answers.html
    FINAL = "final.csv"
    CANVAS = "canvas.csv"
    MANUAL_GRADES = "manual_grades.json"
    ROSTER = "roster.csv"
    HISTORY = "history"
    #: folder names the batch writes itself: never a submission id
    RESERVED = (ANSWERS_DIR, HISTORY)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def submission(self, sid: str) -> SubmissionOut:
        return SubmissionOut(self.root / sid)

    skipped_txt = _file(SKIPPED)
    grades_csv = _file(GRADES)
    report_html = _file(REPORT)
    answers_html = _file(ANSWERS)
    answers_dir = _file(ANSWERS_DIR)
    final_csv = _file(FINAL)
    canvas_csv = _file(CANVAS)
    manual_grades = _file(MANUAL_GRADES)
    roster_csv = _file(ROSTER)
    history = _file(HISTORY)

    def graded_ids(self) -> list[str]:
        """The ids of the submissions with an ``instructor/result.json``, sorted."""
        pattern = f"*/{SubmissionOut.INSTRUCTOR}/{SubmissionOut.RESULT}"
        return sorted(p.parent.parent.name for p in self.root.glob(pattern))

    def load_rows(self) -> list[dict[str, Any]]:
        """Every ``OUT/<id>/instructor/result.json``, with ``id`` set (unreadable files left out)."""
        rows = []
        for sid in self.graded_ids():
            data = self.submission(sid).load_result()
            if data is not None:
                data["id"] = sid
                rows.append(data)
        return rows

    def load_skipped(self) -> list[str]:
        """The lines of ``skipped.txt`` (empty when there is none)."""
        try:
            return [line for line in self.skipped_txt.read_text().splitlines() if line]
        except OSError:
            return []

    def write_skipped(self, lines: list[str]) -> Path:
        self.skipped_txt.write_text("".join(f"{line}\n" for line in lines))
        return self.skipped_txt
