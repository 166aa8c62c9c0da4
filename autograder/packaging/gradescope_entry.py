"""Gradescope entry: grade ``/autograder/submission`` into ``/autograder/results/results.json``.

    python -m autograder.packaging.gradescope_entry [--root /autograder] [--submission DIR] [--results FILE]
                                         [--out DIR] [--only TAG ...]

``run_autograder`` calls this; the otter bridge calls it too (on a filtered copy of the submission).
The engine (:func:`autograder.engine.grade.grade_submission`) writes its outputs into ``--out``
(default ``<root>/results/lab3``: results.json, feedback.md, instructor/ logs); the validated
``results.json`` is then written to ``--results`` and the exit status is 0. When grading itself fails
(engine fault, too little memory, import error, malformed output) no ``results.json`` is written and
the exit status is 3: Gradescope shows "The autograder failed to execute correctly" with this
program's one-line reason in the autograder output, never a quiet 0.

Environment: ``LAB3_AUTOGRADER_ROOT`` (default ``/autograder``), ``LAB3_GRADE_ONLY`` (tags, separated by
spaces or commas: grade only the tests carrying one of them), ``LAB3_SESSION_TIMEOUT`` (seconds for the
whole grading session), ``LAB3_TIMEOUT_SCALE`` (multiplies every deadline).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autograder.outdir import SubmissionOut
from autograder.settings import value

if TYPE_CHECKING:
    from autograder.engine.request import GradeRequest


def only_tags_from_env() -> list[str]:
    return value("LAB3_GRADE_ONLY")


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def validate(results: Any) -> list[str]:
    """What makes ``results`` an invalid Gradescope results.json (empty when valid)."""
    if not isinstance(results, dict):
        return ["not a JSON object"]
    problems = []
    if not _finite(results.get("score")):
        problems.append("score missing or not a finite number")
    tests = results.get("tests")
    if not isinstance(tests, list):
        return problems + ["tests is not a list"]
    for i, t in enumerate(tests):
        if not isinstance(t, dict):
            problems.append(f"tests[{i}] is not an object")
            continue
        for key in ("score", "max_score"):
            if key in t and not _finite(t[key]):
                problems.append(f"tests[{i}].{key} is not a finite number")
        if not isinstance(t.get("name"), str):
            problems.append(f"tests[{i}].name is not a string")
        if t.get("visibility", "visible") not in ("visible", "hidden", "after_due_date", "after_published"):
            problems.append(f"tests[{i}].visibility is not a Gradescope visibility")
    return problems


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic write (temp file + rename), strict JSON (no NaN)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


class AutograderFailure(RuntimeError):
    """Grading failed on the trusted side: Gradescope must show a failed autograder, not a score."""


def request_from_settings(submission: Path, out: Path, only_tags: list[str] | None = None) -> GradeRequest:
    """The Gradescope door (the otter bridge runs it too): the request from the entry's arguments and the
    grading settings (``LAB3_SESSION_TIMEOUT``, ``LAB3_TIMEOUT_SCALE``), validated once; a bad value raises
    ``ValueError`` (:class:`~autograder.engine.request.RequestError` for a bad tag or a non-positive number)."""
    from autograder.engine.options import DEFAULT_TIMEOUT_SCALE
    from autograder.engine.request import GradeRequest

    scale = value("LAB3_TIMEOUT_SCALE")
    return GradeRequest(out=out, submission=submission, only_tags=tuple(only_tags or ()),
                        session_timeout=value("LAB3_SESSION_TIMEOUT"),
                        timeout_scale=DEFAULT_TIMEOUT_SCALE if scale is None else scale)


def grade(submission: Path, results: Path, out: Path, only_tags: list[str] | None = None) -> dict[str, Any]:
    """Grade ``submission`` into ``out`` with the engine and write the validated ``results``.

    On a fault of the trusted side (the engine's ``status == "error"``, an exception, an invalid
    ``results.json``) no ``results`` file is left and :class:`AutograderFailure` is raised: Gradescope
    then shows "The autograder failed to execute correctly" (no score is recorded; staff can regrade),
    which is how the platform shows a failed autograder, instead of a quiet 0.
    """
    results.unlink(missing_ok=True)  # never a stale or placeholder score
    files = SubmissionOut(out)
    try:
        from autograder.engine.grade import grade_request

        request = request_from_settings(submission, out, only_tags)  # a bad setting: the autograder's failure
        if not request.submission.exists():
            raise FileNotFoundError(f"no submission folder at {submission}")
        result = grade_request(request)
        if result.status == "error":
            raise AutograderFailure(f"internal error: {result.error} (details: {files.log_txt})")
        data = files.load_results_json()
        problems = validate(data)
        if problems:
            raise AutograderFailure("the engine wrote an invalid results.json: " + "; ".join(problems))
    except AutograderFailure:
        raise
    except Exception as exc:  # noqa: BLE001 - any other failure is the autograder's, never the student's
        trace = traceback.format_exc()
        try:
            files.instructor.mkdir(parents=True, exist_ok=True)
            files.entry_error.write_text(trace)
        except OSError:
            pass
        raise AutograderFailure(f"internal error: {type(exc).__name__}: {exc}\n{trace}") from exc
    write_json(results, data)
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m autograder.packaging.gradescope_entry",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=value("LAB3_AUTOGRADER_ROOT"),
                    help="tree with submission/ and results/ (default $LAB3_AUTOGRADER_ROOT or /autograder)")
    ap.add_argument("--submission", type=Path, help="default ROOT/submission")
    ap.add_argument("--results", type=Path, help="results.json to write; default ROOT/results/results.json")
    ap.add_argument("--out", type=Path, help="engine output folder; default ROOT/results/lab3")
    ap.add_argument("--only", nargs="+", metavar="TAG", help="grade only these tags ($LAB3_GRADE_ONLY)")
    args = ap.parse_args(argv)
    results = args.results or SubmissionOut(args.root / "results").results_json  # Gradescope's results.json
    try:
        data = grade(args.submission or args.root / "submission", results,
                     args.out or args.root / "results" / "lab3", args.only or only_tags_from_env())
        print(f"Lab 3 autograder: {data['score']} points; wrote {results}")
    except AutograderFailure as exc:
        print(f"Lab 3 autograder FAILED (not a grade; no results.json written): {exc}")
        return 3
    except BaseException:  # noqa: BLE001 - last line of defence (e.g. KeyboardInterrupt, disk full)
        traceback.print_exc()
        results.unlink(missing_ok=True)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
