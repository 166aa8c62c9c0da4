"""``lab3 selftest``: the grader grades what it knows the answer to, and says so when it disagrees.

    lab3 selftest                      grade examples/submissions/ and compare with expected.json
    lab3 selftest --from OUT           compare an existing batch output (``make demo``) without regrading
    lab3 selftest --record             grade the samples and (re)write expected.json
    lab3 selftest --solution-only      grade the solution (every CPU point) and the blank stubs (0);
                                       what the Gradescope image build runs

``examples/expected.json`` holds, per sample, the score of every manifest test. The
solution must get every CPU point, the blank stubs 0, each buggy sample strictly between; any
difference is printed as a diff and the exit status is 1.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from autograder.engine.grade import REPO_ROOT, GradeResult
from autograder.outdir import OutDir

SAMPLES = REPO_ROOT / "examples" / "submissions"
EXPECTED = REPO_ROOT / "examples" / "expected.json"  # beside the generated samples, never rewritten by the build
SOLUTION, STUBS = "solution", "blank_stubs"


def notebook_status(answers: dict[str, Any] | None) -> dict[str, Any]:
    """What the grader read in a sample's notebook: the questions answered and the figures present."""
    if not answers or not answers.get("notebook") or not answers.get("readable"):
        return {"submitted": False}
    figures = answers.get("figures", [])
    return {"submitted": True, "answered": sorted(q["id"] for q in answers.get("questions", []) if q["answered"]),
            "figures": f"{sum(1 for f in figures if f['present'])}/{len(figures)}"}


def _summary(result: GradeResult) -> dict[str, Any]:
    return {
        "status": result.status,
        "total": result.score,
        "max": result.max_score,
        "tests": {t.id: t.score for t in result.tests if t.status != "skipped"},
        "notebook": notebook_status(result.answers),
    }


def _messages(result: GradeResult) -> dict[str, str]:
    return {t.id: (t.output or "").splitlines()[0][:160] if t.output else "" for t in result.tests}


def invariants(results: dict[str, GradeResult]) -> list[str]:
    """What must hold whatever expected.json says: solution full, stubs 0, buggy strictly between."""
    problems = []
    for sid, r in sorted(results.items()):
        if r.status != "graded":
            problems.append(f"{sid}: not graded ({r.status}): {r.error}")
        elif sid == SOLUTION and r.score != r.max_score:
            lost = [t.id for t in r.tests if t.status == "failed"]
            problems.append(f"{sid}: {r.score:g} / {r.max_score:g}, must be full marks; failed: {lost}")
        elif sid == STUBS and r.score != 0:
            problems.append(f"{sid}: {r.score:g}, must be 0")
        elif sid not in (SOLUTION, STUBS) and not 0 < r.score < r.max_score:
            problems.append(f"{sid}: {r.score:g} / {r.max_score:g}, a buggy sample must be strictly between")
    return problems


def diff(expected: dict[str, Any], results: dict[str, GradeResult]) -> list[str]:
    """Lines naming every difference between the recorded expectations and ``results``."""
    lines = []
    want = expected.get("samples", {})
    for sid in sorted(set(want) - set(results)):
        lines.append(f"{sid}: expected, but not graded (missing from the samples?)")
    for sid in sorted(set(results) - set(want)):
        lines.append(f"{sid}: graded, but has no expected result (run `lab3 selftest --record`)")
    for sid in sorted(set(want) & set(results)):
        got, exp, msgs = _summary(results[sid]), want[sid], _messages(results[sid])
        if got["status"] != exp.get("status", "graded"):
            lines.append(f"{sid}: status {got['status']} (expected {exp.get('status', 'graded')}) "
                         f"{results[sid].error}")
        for tid in sorted(set(exp["tests"]) | set(got["tests"])):
            e, g = exp["tests"].get(tid), got["tests"].get(tid)
            if e != g:
                why = f" — {msgs[tid]}" if msgs.get(tid) else ""
                lines.append(f"{sid}: {tid}: expected {e}, got {g}{why}")
        if got["total"] != exp["total"]:
            lines.append(f"{sid}: total expected {exp['total']:g}, got {got['total']:g}")
        if "notebook" in exp and got["notebook"] != exp["notebook"]:
            lines.append(f"{sid}: notebook (answers, figures) expected {exp['notebook']}, got {got['notebook']}")
    return lines


def grade_samples(samples: Path, out: Path, jobs: int) -> dict[str, GradeResult]:
    from autograder.engine.batch import grade_batch

    return {r.submission: r for r in grade_batch(samples, out, jobs=jobs, force=True)}


def load_batch(out: Path) -> dict[str, GradeResult]:
    from autograder.engine.batch import load_result

    files = OutDir(out)
    results = {}
    for sid in files.graded_ids():
        r = load_result(files.submission(sid).result_json)
        if r is not None:
            results[sid] = r
    return results


def record(results: dict[str, GradeResult], path: Path = EXPECTED) -> None:
    data = {
        "about": "per-test scores every sample must get; written by `lab3 selftest --record`",
        "samples": {sid: _summary(r) for sid, r in sorted(results.items())},
    }
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def expected_problems(root: Path = REPO_ROOT) -> list[str]:
    """``lab3 build --check``: expected.json must name every sample and every CPU test of the manifest."""
    from autograder.engine import manifest as manifest_mod
    from autograder.engine.batch import submission_entries

    path = root / "examples" / "expected.json"
    try:
        samples = json.loads(path.read_text())["samples"]
    except (OSError, ValueError, KeyError) as exc:
        return [f"examples/expected.json: unreadable ({exc}); run `lab3 selftest --record`"]
    have = {sid for sid, _ in submission_entries(root / "examples" / "submissions")}
    problems = []
    if set(samples) != have:
        problems.append(f"examples/expected.json: samples {sorted(samples)} differ from examples/submissions "
                        f"{sorted(have)}; run `lab3 selftest --record`")
    ids = {t["id"] for t in manifest_mod.load(root / "autograder" / "manifest.json")["tests"] if not t["gpu"]}
    for sid, exp in samples.items():
        if set(exp.get("tests", {})) != ids:
            problems.append(f"examples/expected.json: {sid} does not list exactly the manifest's tests "
                            "(graders changed?); run `lab3 selftest --record`")
    return problems


def as_submission(folder: Path, dest: Path) -> Path:
    """The graded modules that ``folder`` holds (by the one submission rule), copied into ``dest``."""
    from autograder.engine.submission import read_submission

    return read_submission(folder).copy_modules(dest)


def solution_only(root: Path, jobs: int) -> list[str]:
    """Grade the solution and the blank stubs of an installed copy (``root``/solutions, ``root``/assignments):
    the graded modules each folder holds by the submission rule, as a submission of their own."""
    from autograder.engine.grade import grade_submission

    problems = []
    with tempfile.TemporaryDirectory(prefix="lab3-selftest-") as tmp:
        for sid, folder in ((SOLUTION, root / "solutions"), (STUBS, root / "assignments")):
            r = grade_submission(as_submission(folder, Path(tmp) / sid), Path(tmp) / "out" / sid)
            print(f"{sid}: {r.score:g} / {r.max_score:g} ({r.status}, {r.execution_time:.1f} s)")
            problems += invariants({sid: r})
    return problems


def run_selftest(*, record_expected: bool = False, from_out: Path | None = None, jobs: int = 2,
                 solution_only_root: Path | None = None, expected_path: Path = EXPECTED,
                 samples: Path = SAMPLES) -> int:
    if solution_only_root is not None:
        problems = solution_only(solution_only_root, jobs)
        for line in problems:
            print(f"SELFTEST FAILED: {line}", file=sys.stderr)
        print("selftest: " + ("FAILED" if problems else "solution full marks, blank stubs 0"))
        return 1 if problems else 0
    if from_out is not None:
        results = load_batch(from_out)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="lab3-selftest-")
        results = grade_samples(samples, Path(tmp.name), jobs)
    problems = invariants(results)
    if record_expected:
        if problems:
            for line in problems:
                print(f"not recorded: {line}", file=sys.stderr)
            return 1
        record(results, expected_path)
        print(f"recorded {len(results)} sample(s) in {expected_path}")
        return 0
    try:
        expected = json.loads(expected_path.read_text())
    except (OSError, ValueError) as exc:
        print(f"selftest: cannot read {expected_path}: {exc} (run `lab3 selftest --record`)", file=sys.stderr)
        return 1
    problems += diff(expected, results)
    for sid, r in sorted(results.items()):
        print(f"{sid:<36} {r.score:>6g} / {r.max_score:g}  {r.status}")
    if problems:
        print("\nSELFTEST FAILED: the grades differ from what they must be:", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"selftest passed: {len(results)} sample(s) graded exactly as expected")
    return 0
