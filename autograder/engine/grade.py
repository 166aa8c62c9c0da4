"""Grading one submission: stage it, run the trusted session, score from the manifest, write outputs.

:func:`grade_submission` is the Python API behind ``lab3 grade SUBMISSION --out DIR``. The trusted
pytest session runs in a subprocess (``python -m autograder.engine.session``) with an overall deadline;
whatever happens there, ``results.json`` is written from the manifest and the records that exist.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autograder.engine import isolation
from autograder.engine.errors import GradingFault, SubmissionError
from autograder.engine.options import DEFAULT_TIMEOUT_SCALE, SessionOptions
from autograder.engine.records import RecordKind, of_kind, read_records
from autograder.engine.request import GradeRequest, RequestError
from autograder.engine.staging import default_release, stage
from autograder.engine.submission import Submission, read_submission
from autograder.layout import GRADED_MODULES, PACKAGE_PARENT
from autograder.outdir import SubmissionOut
from autograder.settings import raw

REPO_ROOT = PACKAGE_PARENT


@dataclass
class TestResult:
    __test__ = False  # not a pytest test class

    id: str
    name: str
    score: float
    max_score: float
    status: str  # passed | failed | skipped
    output: str
    visibility: str
    tags: list[str]
    duration: float = 0.0


@dataclass
class GradeResult:
    submission: str
    score: float
    max_score: float
    tests: list[TestResult]
    execution_time: float
    out: str = ""
    notes: list[str] = field(default_factory=list)
    protections_off: list[str] = field(default_factory=list)
    gpu: bool = False
    status: str = "graded"  # graded | timeout (the whole-run limit; still a grade) | error (not graded)
    error: str = ""  # why grading failed (status "error"): instructor wording, shown to nobody as a score
    answers: dict[str, Any] | None = None  # the notebook's written answers and figures (0 points; notebook_answers)

    @property
    def graded(self) -> bool:
        return self.status != "error"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hidden_paths(out: Path, graders: Path, manifest_path: Path) -> list[str]:
    """What the sandbox must not see (mounted over with empty tmpfs / /dev/null in its namespace)."""
    from autograder.engine import manifest as manifest_mod

    paths = {
        str(graders),
        str(manifest_path),
        str(out.resolve()),
        str(manifest_mod.GRADERS_DIR),
        str(manifest_mod.MANIFEST_PATH),
    }
    for rel in ("source", "solutions", "tests", "results", "autograder/dist", "examples", "runs", "data", ".git"):
        paths.add(str(REPO_ROOT / rel))
    for name in ("LAB3_DATA_DIR", "LAB3_SST2_DIR"):  # data with test labels: graders send what probes need
        if raw(name):
            paths.add(raw(name))
    paths.add(str(Path.home()))
    paths.add("/root")
    paths.add(str(out.resolve().parent / "submission_metadata.json"))
    paths.update(["/autograder/submission_metadata.json", "/autograder/results"])  # Gradescope's layout
    return sorted(p for p in paths if os.path.exists(p))


def _protect_by_permissions(paths: list[str]) -> list[str]:
    """Without a mount namespace: take the "other" permission bits off what must stay hidden (never off a
    folder that holds the Python runtime, which the sandbox user needs)."""
    from autograder.engine.sandbox import runtime_paths

    runtime = runtime_paths()
    notes = []
    for p in paths:
        if any(r == p or r.startswith(p.rstrip("/") + "/") for r in runtime):
            notes.append(f"not hidden (holds the Python runtime): {p}")
            continue
        try:
            mode = os.stat(p).st_mode
            if mode & 0o007:
                os.chmod(p, mode & 0o7770)
                notes.append(f"chmod o-rwx {p}")
        except OSError as exc:
            notes.append(f"could not protect {p}: {exc}")
    return notes


def score(
    manifest: dict[str, Any],
    records: list[dict[str, Any]],
    *,
    gpu: bool,
    only_tags: list[str] | None,
    missing_note: str = "no result recorded (the grading session ended early)",
) -> list[TestResult]:
    """Scores straight from the manifest: a test with no record scores 0."""
    by_id: dict[str, dict[str, Any]] = {}
    for rec in records:
        if rec.get("type") == RecordKind.TEST and isinstance(rec.get("id"), str):
            by_id[rec["id"]] = rec
    only = set(only_tags or [])
    tests = []
    for t in manifest["tests"]:
        if only and not (only & set(t["tags"])):
            continue
        rec = by_id.get(t["id"])
        if t["gpu"] and not gpu:
            tests.append(
                TestResult(
                    t["id"],
                    t["name"],
                    0,
                    0,
                    "skipped",
                    "not run here (no GPU): 0 of 0 points, not counted (this test needs a CUDA GPU; "
                    "the grading machine has none)",
                    t["visibility"],
                    t["tags"],
                )
            )
            continue
        points = float(t["points"])
        if rec is None:
            tests.append(
                TestResult(t["id"], t["name"], 0, points, "failed", missing_note, t["visibility"], t["tags"])
            )
            continue
        passed = rec.get("outcome") == "passed"
        msg = str(rec.get("message") or "")
        if rec.get("outcome") == "skipped" and not msg.startswith("skipped"):
            msg = f"skipped: {msg}"
        tests.append(
            TestResult(
                t["id"],
                t["name"],
                points if passed else 0.0,
                points,
                "passed" if passed else "failed",
                msg,
                t["visibility"],
                t["tags"],
                float(rec.get("duration") or 0.0),
            )
        )
    return tests


def grade_submission(
    submission: Path,
    out: Path,
    *,
    only_tags: list[str] | None = None,
    release: Path | None = None,
    graders: Path | None = None,
    manifest: Path | None = None,
    timeout_scale: float = DEFAULT_TIMEOUT_SCALE,
    threads: int | None = None,
    session_timeout: float | None = None,
    limits: dict[str, Any] | None = None,
    quiet: bool = True,
) -> GradeResult:
    """Grade one submission (folder or zip) into ``out`` (results.json, feedback.md, instructor/).

    The Python API's door: the arguments become a :class:`~autograder.engine.request.GradeRequest` (every
    path made absolute there, once, relative ones against the caller's folder; a bad tag or limit raises
    :class:`~autograder.engine.request.RequestError`), graded by :func:`grade_request`.
    """
    return grade_request(GradeRequest(
        out=out, submission=submission, only_tags=tuple(only_tags or ()), release=release, graders=graders,
        manifest=manifest, timeout_scale=timeout_scale, threads=threads, session_timeout=session_timeout,
        limits=limits or {}))


def grade_request(request: GradeRequest) -> GradeResult:
    """Grade ``request.submission`` into ``request.out`` (results.json, feedback.md, instructor/).

    When the trusted side fails (:class:`~autograder.engine.errors.GradingFault` or any other exception) the
    result has ``status == "error"`` and ``results.json`` says that grading failed; it is never a score.
    """
    from autograder.engine import manifest as manifest_mod

    if request.submission is None:
        raise RequestError("grade_request grades one submission: use autograder.engine.batch for --batch")
    t0 = time.monotonic()
    submission, out = request.submission, request.out
    graders = request.graders or manifest_mod.GRADERS_DIR
    manifest_path = request.manifest or manifest_mod.MANIFEST_PATH
    release = request.release or default_release(REPO_ROOT)
    only_tags = list(request.only_tags) or None
    instr = _prepare_out(out)
    log_lines: list[str] = [f"submission: {submission}", f"out: {out}", f"release: {release}"]
    run = _Run(submission=submission, out=out, instr=instr, log=log_lines)
    try:
        run.read = read_submission(submission)  # the one reading of the submission, used from here on
        man = _load_manifest(manifest_path, graders, log_lines)
        run.manifest = man
        _grade(run, graders=graders, manifest_path=manifest_path, release=release, only_tags=only_tags,
               timeout_scale=request.timeout_scale, threads=request.threads,
               session_timeout=request.session_timeout, limits=request.limits)
        tests = score(man, run.records, gpu=run.gpu, only_tags=only_tags, missing_note=run.missing_note)
        _check_complete(run, tests)
    except Exception as exc:  # noqa: BLE001 - a fault of the trusted side is reported, never scored
        run.fault = exc if isinstance(exc, GradingFault) else GradingFault(f"{type(exc).__name__}: {exc}")
        log_lines.append("GRADING FAILED:\n" + "".join(traceback.format_exception(exc)))
        tests = _scored_or_empty(run, only_tags)
    result = GradeResult(
        submission=submission.name,
        score=sum(t.score for t in tests),
        max_score=sum(t.max_score for t in tests),
        tests=tests,
        execution_time=time.monotonic() - t0,
        out=str(out),
        notes=run.notes,
        protections_off=list(run.protections_off),
        gpu=run.gpu,
        status="error" if run.fault else ("timeout" if run.timed_out else "graded"),
        error=str(run.fault) if run.fault else "",
    )
    _add_written_answers(result, run.read or submission, release)
    _write_outputs(result, out, instr, log_lines)
    return result


def _add_written_answers(result: GradeResult, submission: Submission | Path, release: Path) -> None:
    """Read the submission's notebook (never executed): its status goes into the reports, never the score."""
    from autograder.engine import notebook_answers

    try:
        result.answers = notebook_answers.written_answers(submission, release.parent / notebook_answers.NOTEBOOK)
    except Exception as exc:  # noqa: BLE001 - information only: never costs the grade
        result.notes.append(f"the notebook could not be read ({type(exc).__name__})")
        return
    result.notes += result.answers["notes"]
    read = submission if isinstance(submission, Submission) else None
    if result.answers["notebook"] and result.graded and read and not read.modules and not read.error:
        result.notes.insert(0, notebook_answers.MODULES_MISSING)  # a notebook alone: say what to submit instead


@dataclass
class _Run:
    """What one grading run has learnt so far (internal to this module)."""

    submission: Path
    out: Path
    instr: Path
    log: list[str]
    read: Submission | None = None  # what read_submission found in it (None until read)
    manifest: dict[str, Any] | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    protections_off: list[str] = field(default_factory=list)
    gpu: bool = False
    staged: bool = False
    timed_out: bool = False
    only_tags: tuple[str, ...] = ()
    fault: GradingFault | None = None
    missing_note: str = "no result recorded (the grading session ended early)"


def _prepare_out(out: Path) -> Path:
    files = SubmissionOut(out)
    out.mkdir(parents=True, exist_ok=True)
    instr = files.instructor
    if instr.exists():
        shutil.rmtree(instr)
    instr.mkdir()
    if os.geteuid() == 0:
        os.chmod(out, 0o700)
        os.chmod(instr, 0o700)
    for stale in (files.results_json, files.feedback_md):
        stale.unlink(missing_ok=True)
    return instr


def _load_manifest(manifest_path: Path, graders: Path, log_lines: list[str]) -> dict[str, Any]:
    from autograder.engine import manifest as manifest_mod

    if manifest_path.exists():
        return manifest_mod.load(manifest_path)
    log_lines.append(f"manifest {manifest_path} missing: collected the graders instead")
    return manifest_mod.collect(graders)


def _grade(
    run: _Run,
    *,
    graders: Path,
    manifest_path: Path,
    release: Path,
    only_tags: list[str] | None,
    timeout_scale: float,
    threads: int | None,
    session_timeout: float | None,
    limits: dict[str, Any] | None,
) -> None:
    """Stage the submission and run the trusted session; fills ``run`` (raises GradingFault on a fault)."""
    from autograder.engine import memory

    iso = isolation.detect()
    run.protections_off = list(iso.off)
    run.log.append(iso.summary())
    run.log.append(memory.check_memory())
    notes = run.notes
    base = Path(tempfile.mkdtemp(prefix="lab3-grade-"))
    os.chmod(base, 0o711)
    try:
        try:
            staged = stage(run.read or run.submission, release, base / "s", sandbox_uid=iso.uid,
                           sandbox_gid=iso.gid)
        except SubmissionError as exc:  # the student's input: a grade of 0 with the reason
            notes.append(str(exc))
            run.missing_note = "not graded: the submission could not be read"
            return
        run.staged = True
        notes += staged.notes
        if staged.missing and len(staged.missing) < len(GRADED_MODULES):
            notes.append("not found in the submission: " + ", ".join(f"{m}.py" for m in staged.missing))
        elif len(staged.missing) == len(GRADED_MODULES):
            notes.append(
                "none of the graded modules ("
                + ", ".join(f"{m}.py" for m in GRADED_MODULES)
                + ") was found in the submission"
            )
        run.log.append(f"found: {staged.found}")
        cpus = os.cpu_count() or 1
        options = SessionOptions(
            graders=graders,
            staging=staged.root,
            records=SubmissionOut(run.out).records,
            log_dir=run.instr,
            graded=GRADED_MODULES,
            missing=tuple(staged.missing),
            sources=staged.submission.sources(),
            only_tags=tuple(only_tags or ()),
            hide=tuple(_hidden_paths(run.out, graders, manifest_path)),
            timeout_scale=timeout_scale,
            limits={"threads": threads or cpus, **(limits or {})},
            trusted_threads=threads or cpus,
        )
        if iso.root and not iso.namespaces and iso.uid is not None:
            run.log.extend(_protect_by_permissions(list(options.hide)))
        budget = session_timeout or (600.0 * timeout_scale)
        files = SubmissionOut(run.out)
        session = run_session(options.write(files.session_config), files, budget)
        run.log.append(f"session: {session.describe()}")
        run.records = read_records(options.records)
        header = next(iter(of_kind(run.records, RecordKind.HEADER)), None)
        run.gpu = bool((header or {}).get("gpu", False))
        if session.timed_out:
            run.timed_out = True
            notes.append(f"grading stopped after {budget:g} s (the whole-run time limit); "
                         "tests without a result score 0")
            run.missing_note = f"never ran: grading stopped after {budget:g} s (the whole-run time limit)"
            return
        check_session(session, run.records)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def check_session(session: SessionRun, records: list[dict[str, Any]]) -> None:
    """Raise :class:`GradingFault` unless the session ran to its end and left well-formed records."""
    corrupt = of_kind(records, RecordKind.CORRUPT)
    faults = of_kind(records, RecordKind.FAULT)
    if session.returncode != 0 or not of_kind(records, RecordKind.FOOTER):
        how = session.describe()
        if not of_kind(records, RecordKind.HEADER):
            raise GradingFault(f"the grading session died at start-up ({how})")
        raise GradingFault(f"the grading session ended without its closing record ({how})")
    if corrupt:
        raise GradingFault(f"the records file has {len(corrupt)} unreadable line(s)")
    if faults:
        raise GradingFault("; ".join(str(f.get("reason", "a fault of the grader")) for f in faults[:3]))


def _check_complete(run: _Run, tests: list[TestResult]) -> None:
    """A session that finished normally must have recorded every test it was asked to grade."""
    if not run.staged or run.timed_out:
        return
    recorded = {r.get("id") for r in of_kind(run.records, RecordKind.TEST)}
    lost = [t.id for t in tests if t.status != "skipped" and t.id not in recorded]
    if lost:
        raise GradingFault(f"{len(lost)} test(s) of the manifest were never run (first: {lost[0]}); "
                           "are the graders and autograder/manifest.json in step?")


def _scored_or_empty(run: _Run, only_tags: list[str] | None) -> list[TestResult]:
    """Per-test results of a failed run, kept for the instructor (the student is shown none of them)."""
    if run.manifest is None:
        return []
    try:
        return score(run.manifest, run.records, gpu=run.gpu, only_tags=only_tags,
                     missing_note="not graded: the grader failed")
    except Exception:  # noqa: BLE001 - a broken manifest: nothing to keep
        return []


def _write_outputs(result: GradeResult, out: Path, instr: Path, log_lines: list[str]) -> None:
    from autograder.reports import write_feedback, write_results
    from autograder.reports.per_submission import atomic_write

    files = SubmissionOut(out)
    files.log_txt.write_text("\n".join(log_lines) + "\n")
    write_results(result, out)
    write_feedback(result, out)
    atomic_write(files.result_json, json.dumps(result.to_dict(), indent=1, default=str) + "\n")


@dataclass(frozen=True)
class SessionRun:
    """How the trusted session process ended."""

    returncode: int | None  # None when it was stopped at the time limit
    timed_out: bool = False

    def describe(self) -> str:
        if self.timed_out:
            return "stopped at the time limit"
        rc = self.returncode
        if rc is not None and rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            extra = " - out of memory?" if name == "SIGKILL" else ""
            return f"killed by {name}{extra}"
        return f"exit code {rc}"


def run_session(options_path: Path, files: SubmissionOut, budget: float) -> SessionRun:
    """Run ``python -m autograder.engine.session OPTIONS`` with a wall-clock ``budget`` (kills its group); its
    output goes to ``files.session_log``."""
    instr = files.instructor
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(PACKAGE_PARENT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    from autograder.engine import session_server

    # inside ``session_server.serving()`` (a batch, the tests): forked from a warm server, else exec
    proc = session_server.start(options_path, instr, env, files.session_log)
    if proc is None:
        with open(files.session_log, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "autograder.engine.session", str(options_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(instr),
                env=env,
                start_new_session=True,
            )
    try:
        return SessionRun(proc.wait(timeout=budget))
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
        return SessionRun(None, timed_out=True)
    finally:
        isolation.remove_stale_cgroups(proc.pid)
