"""``lab3 grade``: argument parsing and the command body (the lead's ``autograder/cli.py`` calls these).

    lab3 grade SUBMISSION --out DIR [--only TAG ...]
    lab3 grade --batch DIR --out OUT [-j N] [--shard i/n] [--force | --regrade ID ...] [--reason TEXT]
               [--roster CSV]

Exit status: 0 whenever grading completed, whatever the scores; 2 for a usage error or an input that
is not a submission; 3 when the grader itself failed (never reported as a grade).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.engine.options import DEFAULT_TIMEOUT_SCALE
from autograder.outdir import OutDir, SubmissionOut


def add_grade_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "submission",
        nargs="?",
        type=Path,
        metavar="SUBMISSION",
        help="one submission: a folder or a .zip (graded modules flat or inside lab3/)",
    )
    parser.add_argument(
        "--batch", type=Path, metavar="DIR", help="grade every folder/.zip in DIR (one submission each)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="output folder (results.json, feedback.md; per submission in batch mode)",
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=1, metavar="N", help="submissions graded at once (batch)"
    )
    parser.add_argument(
        "--only", nargs="+", metavar="TAG", help="grade only the tests carrying one of these tags"
    )
    parser.add_argument("--shard", metavar="i/n", help="batch: grade only shard i of n (1-based), e.g. 2/4")
    parser.add_argument("--force", action="store_true", help="batch: grade again even if results exist (the "
                        "previous grades are kept in OUT/history/ with a diff; manual grades are never touched)")
    parser.add_argument("--regrade", nargs="+", metavar="ID", help="batch: grade these submissions again (ids "
                        "as in grades.csv), keep the others")
    parser.add_argument("--reason", metavar="TEXT", help="batch: why this run regrades (recorded in OUT/history/)")
    parser.add_argument("--roster", type=Path, metavar="CSV", help="batch: submission -> student_id, name, email "
                        "(kept as OUT/roster.csv for final.csv and canvas.csv)")
    parser.add_argument(
        "--timeout-scale",
        type=float,
        default=DEFAULT_TIMEOUT_SCALE,
        metavar="F",
        help="multiply every deadline by F (slow machines)",
    )
    parser.add_argument("--release", type=Path, default=None, help=argparse.SUPPRESS)


EXIT_GRADED, EXIT_USAGE, EXIT_INTERNAL = 0, 2, 3


def _usage(msg: str) -> int:
    print(f"lab3 grade: {msg}", file=sys.stderr)
    return EXIT_USAGE


def internal_error_line(error: str, out: Path) -> str:
    return f"internal error: {error} (details: {SubmissionOut(out).log_txt})"


def run_grade(args: argparse.Namespace) -> int:
    """``lab3 grade``: the arguments become one :class:`~autograder.engine.request.GradeRequest` (validated,
    every path absolute), then one submission or the batch is graded from it."""
    from autograder.engine import isolation
    from autograder.engine.request import GradeRequest, RequestError

    try:
        request = GradeRequest.from_args(args)
    except RequestError as exc:
        return _usage(str(exc))
    iso = isolation.detect()
    if iso.off:
        print("note: sandbox protections OFF: " + "; ".join(iso.off), file=sys.stderr)
    if request.is_batch:
        return _run_batch(request)
    if request.batch_only_options():
        print("note: -j, --shard, --force, --regrade, --roster and --reason apply to --batch only", file=sys.stderr)
    submission = args.submission  # as the user wrote it, in the messages
    if not request.submission.exists():
        return _usage(f"{submission}: no such file or folder")
    from autograder.engine.submission import entry_problem

    problem = entry_problem(request.submission)  # the batch's rule too
    if problem:
        return _usage(f"{submission}: not a submission: {problem}")
    from autograder.engine.grade import grade_request
    from autograder.reports import table

    result = grade_request(request)
    files = SubmissionOut(request.out)
    print(table(result))
    for note in result.notes:
        print(f"note: {note}")
    print(f"wrote {files.results_json} and {files.feedback_md}")
    if result.status == "error":
        print(internal_error_line(result.error, request.out), file=sys.stderr)
        return EXIT_INTERNAL
    return EXIT_GRADED


def _run_batch(request) -> int:
    from autograder.engine.batch import grade_batch_request, submission_entries

    batch, out = request.batch, request.out
    if not batch.is_dir():
        return _usage(f"--batch {batch}: not a folder")
    known = {sid for sid, _ in submission_entries(batch)}
    unknown = [x for x in request.regrade if x not in known]
    if unknown:
        return _usage(f"--regrade: no submission {', '.join(unknown)} in {batch}")
    if request.roster is not None:
        from autograder.gradebook import roster

        try:
            roster.keep(out, request.roster)
        except roster.RosterError as exc:
            return _usage(str(exc))
    return _report_batch(grade_batch_request(request), out)


def _report_batch(results, out: Path) -> int:
    """The score table of a batch; names what was not graded or skipped; exit 3 if anything was not graded."""
    files = OutDir(out)
    width = max([len(r.submission) for r in results] + [10])
    for r in results:
        shown = "NOT GRADED (internal error)" if r.status == "error" else f"{r.score:>6g} / {r.max_score:g}"
        extra = "  (whole-run time limit)" if r.status == "timeout" else ""
        print(f"{r.submission:<{width}}  {shown}{extra}")
    failed = [r for r in results if r.status == "error"]
    skipped = files.load_skipped()
    for name in skipped:
        print(f"skipped: {name}")
    print(f"{len(results)} submission(s), {len(failed)} not graded, {len(skipped)} skipped; "
          f"wrote {files.grades_csv}, {files.final_csv}, {files.report_html} and {files.answers_html}")
    from autograder.gradebook.history import last_run

    run = last_run(out)
    if run and run.get("previously_graded"):
        print(f"regrade: {len(run.get('moved', []))} of {len(run['previously_graded'])} previously graded "
              f"submission(s) moved; the diff: {run['diff']}")
    print(f"written answers: lab3 answers serve {out}")
    for r in failed:
        print(f"{r.submission}: " + internal_error_line(r.error, out / r.submission), file=sys.stderr)
    return EXIT_INTERNAL if failed else EXIT_GRADED
