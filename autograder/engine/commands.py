"""``lab3 grade``: argument parsing and the command body (the lead's ``autograder/cli.py`` calls these).

    lab3 grade SUBMISSION --out DIR [--only TAG ...]
    lab3 grade --batch DIR --out OUT [-j N] [--shard i/n] [--force]

Exit status 0 whenever grading completed, whatever the scores; 2 for usage errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


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
    parser.add_argument("--force", action="store_true", help="batch: grade again even if results exist")
    parser.add_argument(
        "--timeout-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply every deadline by F (slow machines)",
    )
    parser.add_argument("--release", type=Path, default=None, help=argparse.SUPPRESS)


def _usage(msg: str) -> int:
    print(f"lab3 grade: {msg}", file=sys.stderr)
    return 2


def run_grade(args: argparse.Namespace) -> int:
    from autograder.engine import isolation
    from autograder.engine.manifest import ALLOWED_TAGS

    submission, batch = getattr(args, "submission", None), getattr(args, "batch", None)
    if (submission is None) == (batch is None):
        return _usage("give either SUBMISSION or --batch DIR (not both)")
    only = list(args.only or [])
    bad = [t for t in only if t not in ALLOWED_TAGS]
    if bad:
        return _usage(f"unknown tag(s) {bad}; known tags: {', '.join(sorted(ALLOWED_TAGS))}")
    if args.timeout_scale <= 0:
        return _usage("--timeout-scale must be positive")
    iso = isolation.detect()
    if iso.off:
        print("note: sandbox protections OFF: " + "; ".join(iso.off), file=sys.stderr)
    if batch is not None:
        from autograder.engine.batch import grade_batch, parse_shard

        if not batch.is_dir():
            return _usage(f"--batch {batch}: not a folder")
        try:
            shard = parse_shard(args.shard)
        except ValueError as exc:
            return _usage(str(exc))
        results = grade_batch(
            batch,
            args.out,
            jobs=args.jobs,
            only_tags=only or None,
            shard=shard,
            force=args.force,
            timeout_scale=args.timeout_scale,
            release=args.release,
        )
        width = max([len(r.submission) for r in results] + [10])
        for r in results:
            print(f"{r.submission:<{width}}  {r.score:>6g} / {r.max_score:g}")
        print(f"{len(results)} submission(s); wrote {args.out / 'grades.csv'} and {args.out / 'report.html'}")
        return 0
    if args.shard or args.force or args.jobs != 1:
        print("note: -j, --shard and --force apply to --batch only", file=sys.stderr)
    if not submission.exists():
        return _usage(f"{submission}: no such file or folder")
    from autograder.engine.grade import grade_submission
    from autograder.reports import table

    result = grade_submission(
        submission, args.out, only_tags=only or None, release=args.release, timeout_scale=args.timeout_scale
    )
    print(table(result))
    for note in result.notes:
        print(f"note: {note}")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'feedback.md'}")
    return 0
