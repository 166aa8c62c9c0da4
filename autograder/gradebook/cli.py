"""``lab3 answers``: grade the written answers of a batch and export the final grades.

    lab3 answers serve OUT [--port N] [--open]       the grading pages on http://127.0.0.1:N/
    lab3 answers export OUT [--roster R] [--assignment NAME]
                                                     rebuild final.csv, canvas.csv and grades.csv; write
                                                     OUT/<id>/written_feedback.md (points, comments)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.outdir import OutDir


def add_answers_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` and ``export`` sub-commands of ``lab3 answers``."""
    sub = parser.add_subparsers(dest="answers_command", required=True)
    p = sub.add_parser("serve", help="grading pages, one question at a time (local web server on 127.0.0.1)")
    p.add_argument("out", type=Path, metavar="OUT", help="the output folder of `lab3 grade --batch`")
    p.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000; 0 = any free one)")
    p.add_argument("--open", action="store_true", help="open the index in the default web browser")
    p = sub.add_parser("export", help="rebuild final.csv, canvas.csv and grades.csv (autograded + manual points)")
    p.add_argument("out", type=Path, metavar="OUT", help="the output folder of `lab3 grade --batch`")
    p.add_argument("--roster", type=Path, metavar="CSV", help="submission -> student_id, name, email (kept in OUT)")
    p.add_argument("--assignment", default=None, metavar="NAME",
                   help="the gradebook column of canvas.csv (default 'Lab 3'; Canvas' own 'Lab 3 (12345)' updates "
                        "that assignment)")


def _batch_out(out: Path) -> Path | None:
    out = out.expanduser().absolute()
    if not out.is_dir() or not OutDir(out).graded_ids():
        print(f"lab3 answers: {out}: no graded submissions (run `lab3 grade --batch DIR --out {out}` first)",
              file=sys.stderr)
        return None
    return out


def run_answers(args: argparse.Namespace) -> int:
    out = _batch_out(args.out)
    if out is None:
        return 2
    if args.answers_command == "serve":
        from autograder.gradebook.server import serve

        return serve(out, args.port, args.open)
    from autograder.gradebook import classview, roster
    from autograder.gradebook.final import DEFAULT_ASSIGNMENT, write_final, write_written_feedback
    from autograder.reports.per_class import write_grades_csv

    try:
        if args.roster:
            roster.keep(out, args.roster)
        view = classview.load(out)
        table = write_final(out, view.rows, view.questions, assignment=args.assignment or DEFAULT_ASSIGNMENT)
    except (roster.RosterError, ValueError) as exc:
        print(f"lab3 answers: {exc}", file=sys.stderr)
        return 2
    write_grades_csv(out, view.rows, table)
    write_written_feedback(out, table)
    incomplete = [r["id"] for r in table.rows if r["complete"] != "yes"]
    files = OutDir(out)
    print(f"wrote {files.final_csv}, {files.canvas_csv}, {files.grades_csv} ({len(table.rows)} row(s)) and "
          f"each student's {files.submission('<id>').written_feedback_md} (points and comments)")
    if incomplete:
        print(f"note: {len(incomplete)} without a final grade in canvas.csv (not graded, missing, or written "
              f"answers not all graded yet): {', '.join(incomplete[:10])}" + (" ..." if len(incomplete) > 10 else ""))
    return 0
