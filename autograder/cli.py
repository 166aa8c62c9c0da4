"""The ``lab3`` command: a thin layer over the library functions (one sub-command each)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _cmd_data(args: argparse.Namespace) -> int:
    from lab3.data import DataError, data_home, download_cifar10, download_sst2

    root = Path(args.dir) / "cifar10" if args.dir else data_home() / "cifar10"
    try:
        path = download_cifar10(root, force=args.force)
    except DataError as exc:
        print(f"lab3 data: {exc}", file=sys.stderr)
        return 1
    from lab3.data import cifar10

    train, test = cifar10(True, root=path), cifar10(False, root=path)
    print(f"CIFAR-10 ready in {path}: {len(train)} train / {len(test)} test images, verified")
    try:
        print(download_sst2())
    except DataError as exc:
        print(f"lab3 data: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from autograder.build.release import run_build

    return run_build(check=args.check, root=Path(args.root) if args.root else None)


def _cmd_grade(args: argparse.Namespace) -> int:
    from autograder.grade_cli import run_grade

    return run_grade(args)


def _cmd_answers(args: argparse.Namespace) -> int:
    from autograder.gradebook.cli import run_answers

    return run_answers(args)


def _cmd_selftest(args: argparse.Namespace) -> int:
    from autograder.selftest import run_selftest

    return run_selftest(
        record_expected=args.record,
        from_out=Path(args.from_out).absolute() if args.from_out else None,
        jobs=args.jobs,
        solution_only_root=Path(args.solution_only).absolute() if args.solution_only else None,
    )


def _cmd_check(args: argparse.Namespace) -> int:
    from autograder.student_check import run_check

    return run_check(Path(args.path))


def _cmd_submit(args: argparse.Namespace) -> int:
    from autograder.student_check import make_submission

    return make_submission(Path(args.path), Path(args.output))


def _cmd_results(args: argparse.Namespace) -> int:
    # this entry point saves figures without a screen: it picks the file backend itself (the lab3 library
    # never does, so that the notebook's inline plotting stays on)
    os.environ.setdefault("MPLBACKEND", "Agg")
    from autograder.answer_key import run_results

    return run_results(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lab3", description="Lab 3 — Advanced Deep Learning: build, grade, check.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="fetch and verify CIFAR-10 and SST-2 (idempotent; LAB3_DATA_DIR sets the place; "
                       "SST-2 through Hugging Face datasets, or LAB3_SST2_DIR for an offline copy)")
    p.add_argument("--dir", help="data home (default: $LAB3_DATA_DIR or ~/.cache/lab3)")
    p.add_argument("--force", action="store_true", help="fetch again even when the data is there")
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("build", help="source/ -> assignments/, solutions/, autograder/dist/autograder.zip")
    p.add_argument("--check", action="store_true", help="fail when releases are stale or a stub leaks a solution")
    p.add_argument("--root", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("grade", help="grade one submission or a whole class (--batch)")
    try:
        from autograder.grade_cli import add_grade_arguments

        add_grade_arguments(p)
    except ImportError:  # the engine is not installed in this copy
        pass
    p.set_defaults(func=_cmd_grade)

    p = sub.add_parser("answers", help="TAs: grade the written answers of a batch (serve) and export the final "
                       "grades (export: final.csv, canvas.csv)")
    from autograder.gradebook.cli import add_answers_arguments

    add_answers_arguments(p)
    p.set_defaults(func=_cmd_answers)

    p = sub.add_parser("results", help="run the lab's experiments with the solution code: results/ (CSV, figures, "
                                       "README with a verdict per claim)")
    from autograder.answer_key.runner import add_results_arguments

    add_results_arguments(p)
    p.set_defaults(func=_cmd_results)

    p = sub.add_parser("selftest", help="grade the samples (solution, blank stubs, buggy ones) against "
                       "examples/submissions/expected.json; exit 1 with a diff on any difference")
    p.add_argument("--record", action="store_true", help="grade the samples and rewrite expected.json")
    p.add_argument("--from", dest="from_out", metavar="OUT", help="compare an existing `grade --batch` output")
    p.add_argument("--solution-only", metavar="ROOT", help="grade ROOT/solutions (full marks) and "
                   "ROOT/assignments (0) only: the Gradescope image build runs this")
    p.add_argument("-j", "--jobs", type=int, default=2, help="samples graded at once")
    p.set_defaults(func=_cmd_selftest)

    p = sub.add_parser("check", help="student side: run the public tests on your lab3/ and print a rubric")
    p.add_argument("path", nargs="?", default=".", help="folder holding lab3/ and tests/ (default: .)")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("submit", help="student side: zip exactly the graded modules into submission.zip")
    p.add_argument("path", nargs="?", default=".", help="folder holding lab3/ (default: .)")
    p.add_argument("-o", "--output", default="submission.zip")
    p.set_defaults(func=_cmd_submit)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
