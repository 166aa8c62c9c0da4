"""The records file of a grading session: the one place that knows its kinds and its format.

The trusted pytest session (:mod:`autograder.engine.plugin`) appends one JSON object per line with
:func:`append_record`; the grader (:mod:`autograder.engine.grade`) reads them back with :func:`read_records`
once the session has ended, and scores from them. Each record has a ``type`` (a :class:`RecordKind`)::

    {"type": "header", "gpu": bool, "torch": str, "isolation": str, "protections_off": [...]}   first
    {"type": "test", "id": str, "outcome": "passed" | "failed" | "skipped", "message": str, "duration": float,
     "instructor": str}                                                                     one per graded test
    {"type": "fault", "id": str, "reason": str}            a fault of the grader itself during that test
    {"type": "footer", "exitstatus": int}                  last: the session ran to its end
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Any

from autograder.engine.errors import GradingFault


class RecordKind(StrEnum):
    """The ``type`` of a record (the string is what the file holds)."""

    HEADER = "header"  # first record: the session started (GPU present, torch version, isolation)
    TEST = "test"  # one graded test's outcome
    FAULT = "fault"  # the grader itself failed during a test: the run is not a grade
    FOOTER = "footer"  # last record: the session ran to its end
    CORRUPT = "corrupt"  # written by no one: what read_records makes of an unreadable line


def append_record(path: Path, kind: RecordKind, **fields: Any) -> None:
    """Append one record to ``path``, flushed to disk at once (a session killed later keeps it)."""
    with open(path, "a") as fh:
        fh.write(json.dumps({"type": kind, **fields}, allow_nan=False, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_records(path: Path) -> list[dict[str, Any]]:
    """The session's records; an unreadable line becomes ``{"type": "corrupt"}`` (a fault, never skipped)."""
    out: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    rec = None
                out.append(rec if isinstance(rec, dict) else {"type": RecordKind.CORRUPT, "line": line[:200]})
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise GradingFault(f"cannot read the records file {path}: {exc}") from exc
    return out


def of_kind(records: list[dict[str, Any]], kind: RecordKind) -> list[dict[str, Any]]:
    """The records of one kind, in file order."""
    return [r for r in records if r.get("type") == kind]
