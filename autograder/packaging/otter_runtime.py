"""Runtime side of the otter-grader bridge: otter test cases look up the Lab 3 engine's results.

Otter (``otter run`` / ``otter grade``) executes the zip's entry ``Lab3.ipynb`` in a Jupyter kernel, then runs
the generated test files ``tests/ex1.py`` ... in that kernel. Each ``test_case`` calls :func:`check` with
a manifest test id. The first call grades the submission ONCE with the real engine, in a subprocess
(``python -m autograder.packaging.gradescope_entry``; student code runs in the engine's sandbox, never in the
kernel); later calls read the cached result. A failed or missing test raises ``AssertionError`` with the
engine's student-safe message, which otter shows as the test case's output.

Layout otter gives us (``otter run`` uses a temporary folder instead of ``/autograder``)::

    AG/source/files/lab3_autograder/   this payload (autograder package, assignments/)
    AG/submission/                     the student's files + what otter copied in (files/*, tests/)
    AG/results/                        the engine writes AG/results/lab3_otter/ here
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from autograder.layout import PACKAGE_PARENT
from autograder.outdir import SubmissionOut
from autograder.settings import raw, value

PAYLOAD = PACKAGE_PARENT
SOURCE = PAYLOAD.parent.parent  # AG/source (PAYLOAD = AG/source/files/lab3_autograder)
AG_ROOT = SOURCE.parent
ENTRY_FILE = "Lab3.ipynb"  # the zip's entry notebook (autograder.packaging.otter_build.entry_notebook)
# what otter copies into the submission folder besides the student's files
INJECTED = {"tests", "__init__.py", "__pycache__", ENTRY_FILE, "lab3_autograder"}

_cache: dict[str, Any] | None = None


def _otter_injected() -> set[str]:
    names = set(INJECTED)
    files = SOURCE / "files"
    if files.is_dir():
        names |= {p.name for p in files.iterdir()}
    return names


def student_copy(submission: Path, dest: Path) -> Path:
    """Copy the graded modules that count in ``submission`` (read past what otter injected) into ``dest``.

    Each keeps its relative path, so the engine reading ``dest`` takes the very same files; links and
    anything else are left behind.
    """
    from autograder.engine.submission import read_submission

    return read_submission(submission, exclude=_otter_injected()).copy_modules(dest)


def sanitize_zips(folder: Path) -> list[str]:
    """Rewrite each top-level ``*.zip`` of ``folder`` as ``lab3/<graded module>.py`` only; return the rest.

    ``otter grade`` extracts the submission zip into the folder where its kernel runs, and that folder is
    first on the kernel's ``sys.path``: a student ``otter/`` package there would run in the grading kernel
    at its first ``import otter``; flat modules would break otter's one-``.py`` rule. ``run_autograder``
    calls this first (``python -m autograder.packaging.otter_runtime sanitize DIR``). The modules kept are
    the ones the engine takes (:func:`autograder.engine.submission.read_submission`).
    """
    import zipfile

    from autograder.engine.submission import read_submission

    dropped: list[str] = []
    for zpath in sorted(folder.glob("*.zip")):
        sub = read_submission(zpath)
        if sub.error:
            dropped.append(f"{zpath.name}: unreadable ({sub.error})")
        dropped += [f"{zpath.name}:{where}" for where, _ in sub.ignored]
        if sub.notebook is not None:
            dropped.append(f"{zpath.name}:{sub.notebook.where}")
        tmp = zpath.with_name(f".{zpath.name}.tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(sub.modules):
                zf.writestr(f"lab3/{name}.py", sub.modules[name].data)
        os.replace(tmp, zpath)
    return dropped


def _hide_payload_copy(submission: Path) -> None:
    """Otter copied files/lab3_autograder (graders included) into the submission folder: remove it."""
    copy = submission / PAYLOAD.name
    if copy.is_dir() and not copy.is_symlink() and copy.resolve() != PAYLOAD:
        shutil.rmtree(copy, ignore_errors=True)


def _run_engine() -> dict[str, Any]:
    """Grade the student's files once with the Gradescope entry (which builds and validates the request,
    :func:`autograder.packaging.gradescope_entry.request_from_settings`), in a subprocess."""
    submission = AG_ROOT / "submission"
    files = SubmissionOut(AG_ROOT / "results" / "lab3_otter")
    out, result_file = files.root, files.result_json
    if result_file.exists():  # graded earlier in this container / otter run
        return json.loads(result_file.read_text(encoding="utf-8"))
    _hide_payload_copy(submission)
    python = raw("LAB3_PYTHON") or sys.executable
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "JPY_", "PYDEVD"))}
    env["PYTHONPATH"] = f"{PAYLOAD}{os.pathsep}{PAYLOAD / 'assignments'}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("MPLBACKEND", "Agg")
    timeout = value("LAB3_OTTER_TIMEOUT")
    tmp = Path(tempfile.mkdtemp(prefix="lab3-otter-"))
    try:
        copy = student_copy(submission, tmp / "submission")
        out.mkdir(parents=True, exist_ok=True)
        with open(files.entry_log, "wb") as log:
            proc = subprocess.Popen(
                [python, "-m", "autograder.packaging.gradescope_entry", "--root", str(AG_ROOT),
                 "--submission", str(copy), "--out", str(out), "--results", str(files.results_json)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(PAYLOAD),
                start_new_session=True,
            )
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if result_file.exists():
        return json.loads(result_file.read_text(encoding="utf-8"))
    # the entry fell back (engine failure): its results.json has no test ids
    return {"tests": [], "error": "the Lab 3 grading engine produced no result (see results/lab3_otter/)"}


def results() -> dict[str, Any]:
    """The engine's result for this submission (graded on the first call)."""
    global _cache
    if _cache is None:
        _cache = _run_engine()
    return _cache


class GradingFailed(RuntimeError):
    """The engine failed on the trusted side: every test case errors with this (never a quiet 0)."""


def check(test_id: str) -> None:
    """Pass when the engine passed ``test_id``; else raise ``AssertionError`` with its message, or
    :class:`GradingFailed` when grading itself failed (``run_autograder`` then also exits non-zero, so
    ``otter grade`` reports the submission as not graded in ``grading_status``)."""
    res = results()
    if res.get("status") == "error" or (res.get("error") and not res.get("tests")):
        raise GradingFailed("AUTOGRADER FAILURE, this is not your score: " + str(res.get("error") or "internal error"))
    by_id = {t.get("id"): t for t in res.get("tests", []) if isinstance(t, dict)}
    t = by_id.get(test_id)
    if t is None:
        reason = res.get("error") or "not graded in this run (tag subset, or the grading session ended early)"
        raise AssertionError(reason)
    if t.get("status") in ("passed", "skipped"):  # skipped: a CUDA test without a GPU, 0 points, not a failure
        return
    raise AssertionError(str(t.get("output") or t.get("status") or "failed"))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "sanitize":
        gone = sanitize_zips(Path(sys.argv[2]))
        print(f"otter bridge: kept only the graded modules of the submission zip(s); dropped {len(gone)}")
        sys.exit(0)
    print("usage: python -m autograder.packaging.otter_runtime sanitize SUBMISSION_DIR", file=sys.stderr)
    sys.exit(2)
