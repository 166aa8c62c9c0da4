"""The files a grading run writes, each named once here: :class:`SubmissionOut` for one graded submission
(``lab3 grade SUBMISSION --out DIR``, and each ``OUT/<id>/`` of a batch) and :class:`OutDir` for a batch's
folder (``lab3 grade --batch DIR --out OUT``). Every writer and reader takes the paths from these types and
loads the grader's own records through them; no other module spells a file name under an output folder.

    DIR/results.json              Gradescope's results (what the student sees)
    DIR/feedback.md               the student's feedback
    DIR/written_feedback.md       the TA's points and comments on the written answers (gradebook export)
    DIR/instructor/result.json    the whole result, per test (what every batch file is rebuilt from)
    DIR/instructor/log.txt        the grading log (instructor only); records.jsonl, config.json,
                                  session.out.txt, batch_error.txt, entry_error.txt beside it
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


@dataclass(frozen=True)
class SubmissionOut:
    """The output folder of one graded submission (``root`` as given; callers make it absolute)."""

    root: Path

    RESULTS = "results.json"
    FEEDBACK = "feedback.md"
    WRITTEN_FEEDBACK = "written_feedback.md"
    INSTRUCTOR = "instructor"
    RESULT = "result.json"  # under instructor/

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def results_json(self) -> Path:
        return self.root / self.RESULTS

    @property
    def feedback_md(self) -> Path:
        return self.root / self.FEEDBACK

    @property
    def written_feedback_md(self) -> Path:
        return self.root / self.WRITTEN_FEEDBACK

    @property
    def instructor(self) -> Path:
        return self.root / self.INSTRUCTOR

    @property
    def result_json(self) -> Path:
        return self.instructor / self.RESULT

    @property
    def log_txt(self) -> Path:
        return self.instructor / "log.txt"

    @property
    def records(self) -> Path:
        return self.instructor / "records.jsonl"

    @property
    def session_config(self) -> Path:
        return self.instructor / "config.json"

    @property
    def session_log(self) -> Path:
        return self.instructor / "session.out.txt"

    @property
    def batch_error(self) -> Path:
        return self.instructor / "batch_error.txt"

    @property
    def entry_error(self) -> Path:
        return self.instructor / "entry_error.txt"

    @property
    def entry_log(self) -> Path:
        """What the Gradescope entry printed when the otter bridge ran it."""
        return self.root / "entry.log"

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

    @property
    def skipped_txt(self) -> Path:
        return self.root / self.SKIPPED

    @property
    def grades_csv(self) -> Path:
        return self.root / self.GRADES

    @property
    def report_html(self) -> Path:
        return self.root / self.REPORT

    @property
    def answers_html(self) -> Path:
        return self.root / self.ANSWERS

    @property
    def answers_dir(self) -> Path:
        return self.root / self.ANSWERS_DIR

    @property
    def final_csv(self) -> Path:
        return self.root / self.FINAL

    @property
    def canvas_csv(self) -> Path:
        return self.root / self.CANVAS

    @property
    def manual_grades(self) -> Path:
        return self.root / self.MANUAL_GRADES

    @property
    def roster_csv(self) -> Path:
        return self.root / self.ROSTER

    @property
    def history(self) -> Path:
        return self.root / self.HISTORY

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
