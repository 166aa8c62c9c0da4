"""The class roster: which student a submission is (``--roster roster.csv``, kept as ``OUT/roster.csv``).

A CSV with a header; the columns (case and spaces ignored; aliases in brackets):

- ``submission`` [``id``, ``folder``, ``submission_id``]: the folder or zip name in the batch (``alice`` or
  ``alice.zip``) or the Gradescope submission id: required;
- ``student_id`` [``sis_user_id``, ``sis_id``], ``name`` [``student``], ``email``, ``section``,
  ``canvas_id`` (Canvas' own user id, its ``ID`` column), ``login`` [``sis_login_id``]: optional.

See ``examples/gradebook/roster.csv``.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from autograder.outdir import OutDir

FILE = OutDir.ROSTER
FIELDS = {
    "submission": ("submission", "id", "folder", "submission_id"),
    "student_id": ("student_id", "sis_user_id", "sis_id"),
    "name": ("name", "student"),
    "email": ("email", "e_mail"),
    "section": ("section",),
    "canvas_id": ("canvas_id",),
    "login": ("login", "sis_login_id"),
}


class RosterError(ValueError):
    """A roster file that cannot be used."""


@dataclass
class Student:
    """One line of the roster."""

    submission: str
    student_id: str = ""
    name: str = ""
    email: str = ""
    section: str = ""
    canvas_id: str = ""
    login: str = ""


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


def submission_key(name: str) -> str:
    """How a roster entry names a batch submission id: ``alice.zip`` and ``alice`` are the same."""
    stem = name.strip()
    if stem.lower().endswith(".zip"):
        stem = stem[:-4]
    return re.sub(r"[^A-Za-z0-9._@+-]", "_", stem)[:100]


def read(path: Path) -> dict[str, Student]:
    """``{submission id: Student}`` of a roster file; :class:`RosterError` when unusable."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RosterError(f"{path}: cannot read the roster ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text))
    columns = {_key(c): c for c in reader.fieldnames or []}
    where = {f: next((columns[a] for a in aliases if a in columns), None) for f, aliases in FIELDS.items()}
    if where["submission"] is None:
        raise RosterError(f"{path}: no 'submission' column (the batch folder or zip name of each student); "
                          f"columns found: {', '.join(reader.fieldnames or []) or 'none'}")
    roster: dict[str, Student] = {}
    for line, row in enumerate(reader, start=2):
        values = {f: (row.get(col) or "").strip() for f, col in where.items() if col}
        if not values.get("submission"):
            continue
        key = submission_key(values["submission"])
        if key in roster:
            raise RosterError(f"{path}:{line}: submission {values['submission']!r} is listed twice")
        roster[key] = Student(**{**values, "submission": key})
    return roster


def keep(out: Path, roster: Path) -> Path:
    """Check ``roster`` and copy it to ``OUT/roster.csv``, where every later export finds it."""
    read(roster)
    dest = OutDir(out).roster_csv
    if Path(roster).absolute() != dest.absolute():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(roster, dest)
    return dest


def load(out: Path) -> dict[str, Student]:
    """The roster kept in ``OUT`` (empty without one)."""
    path = OutDir(out).roster_csv
    return read(path) if path.exists() else {}
