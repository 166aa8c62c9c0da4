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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autograder.engine import isolation
from autograder.engine.errors import SubmissionError
from autograder.engine.staging import GRADED_MODULES, default_release, stage

PACKAGE_PARENT = Path(__file__).resolve().parent.parent.parent  # folder holding the autograder package
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
    for rel in ("source", "solutions", "tests", "autograder/dist", "examples", "runs", "data", ".git"):
        paths.add(str(REPO_ROOT / rel))
    for env in ("LAB3_DATA_DIR", "LAB3_SST2_DIR"):  # data with test labels: graders send what probes need
        if os.environ.get(env):
            paths.add(os.environ[env])
    paths.add(str(REPO_ROOT.parent / "shared" / "data"))  # the default SST-2 location (../shared/data/sst2)
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
        if rec.get("type") == "test" and isinstance(rec.get("id"), str):
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
                    "skipped: needs a CUDA GPU; none on the grading machine (not counted)",
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


def _read_records(path: Path) -> list[dict[str, Any]]:
    out = []
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(rec, dict):
                    out.append(rec)
    except OSError:
        pass
    return out


def grade_submission(
    submission: Path,
    out: Path,
    *,
    only_tags: list[str] | None = None,
    release: Path | None = None,
    graders: Path | None = None,
    manifest: Path | None = None,
    timeout_scale: float = 1.0,
    threads: int | None = None,
    session_timeout: float | None = None,
    limits: dict[str, Any] | None = None,
    quiet: bool = True,
) -> GradeResult:
    """Grade one submission (folder or zip) into ``out`` (results.json, feedback.md, instructor/)."""
    from autograder.engine import manifest as manifest_mod

    t0 = time.monotonic()
    submission, out = Path(submission), Path(out)
    graders = Path(graders) if graders else manifest_mod.GRADERS_DIR
    manifest_path = Path(manifest) if manifest else manifest_mod.MANIFEST_PATH
    release = Path(release) if release else default_release(REPO_ROOT)
    out.mkdir(parents=True, exist_ok=True)
    iso = isolation.detect()
    instr = out / "instructor"
    if instr.exists():
        shutil.rmtree(instr)
    instr.mkdir()
    if iso.root:
        os.chmod(out, 0o700)
        os.chmod(instr, 0o700)
    for stale in ("results.json", "feedback.md"):
        (out / stale).unlink(missing_ok=True)
    log_lines: list[str] = [f"submission: {submission}", f"release: {release}", iso.summary()]

    if manifest_path.exists():
        man = manifest_mod.load(manifest_path)
    else:
        log_lines.append(f"manifest {manifest_path} missing: collected the graders instead")
        man = manifest_mod.collect(graders)

    notes: list[str] = []
    records: list[dict[str, Any]] = []
    staged = None
    base = Path(tempfile.mkdtemp(prefix="lab3-grade-"))
    os.chmod(base, 0o711)
    try:
        try:
            staged = stage(submission, release, base / "s", sandbox_uid=iso.uid, sandbox_gid=iso.gid)
        except SubmissionError as exc:
            staged = None
            notes.append(str(exc))
        if staged is not None:
            notes += staged.notes
            if staged.missing and len(staged.missing) < len(GRADED_MODULES):
                notes.append("not found in the submission: " + ", ".join(f"{m}.py" for m in staged.missing))
            elif len(staged.missing) == len(GRADED_MODULES):
                notes.append(
                    "none of the graded modules ("
                    + ", ".join(f"{m}.py" for m in GRADED_MODULES)
                    + ") was found in the submission"
                )
            log_lines.append(f"found: {staged.found}")
            cpus = os.cpu_count() or 1
            cfg = {
                "graders": str(graders),
                "staging": str(staged.root),
                "graded": list(GRADED_MODULES),
                "missing": staged.missing,
                "records": str(instr / "records.jsonl"),
                "log_dir": str(instr),
                "only_tags": only_tags or [],
                "hide": _hidden_paths(out, graders, manifest_path),
                "timeout_scale": timeout_scale,
                "limits": {"threads": threads or cpus, **(limits or {})},
                "trusted_threads": threads or cpus,
            }
            if iso.root and not iso.namespaces and iso.uid is not None:
                log_lines += _protect_by_permissions(cfg["hide"])
            cfg_path = instr / "config.json"
            cfg_path.write_text(json.dumps(cfg, indent=1))
            budget = session_timeout or (600.0 * timeout_scale)
            rc = _run_session(cfg_path, instr, budget)
            log_lines.append(f"session exit code {rc}")
            records = _read_records(instr / "records.jsonl")
            if rc == "timeout":
                notes.append(f"grading stopped after {budget:g} s; tests without a result score 0")
    finally:
        shutil.rmtree(base, ignore_errors=True)

    header = next((r for r in records if r.get("type") == "header"), {})
    gpu = bool(header.get("gpu", False))
    tests = score(
        man,
        records,
        gpu=gpu,
        only_tags=only_tags,
        **({"missing_note": "not graded: the submission could not be read"} if staged is None else {}),
    )
    result = GradeResult(
        submission=submission.name,
        score=sum(t.score for t in tests),
        max_score=sum(t.max_score for t in tests),
        tests=tests,
        execution_time=time.monotonic() - t0,
        out=str(out),
        notes=notes,
        protections_off=list(iso.off),
        gpu=gpu,
    )
    from autograder.reports import write_feedback, write_results

    write_results(result, out)
    write_feedback(result, out)
    from autograder.reports.results import atomic_write

    atomic_write(instr / "result.json", json.dumps(result.to_dict(), indent=1, default=str) + "\n")
    (instr / "log.txt").write_text("\n".join(log_lines) + "\n")
    return result


def _run_session(cfg_path: Path, instr: Path, budget: float) -> int | str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LAB3_ENGINE"))}
    env["PYTHONPATH"] = str(PACKAGE_PARENT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    with open(instr / "session.out.txt", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "autograder.engine.session", str(cfg_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(instr),
            env=env,
            start_new_session=True,
        )
        try:
            return proc.wait(timeout=budget)
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
            return "timeout"
        finally:
            _remove_stale_cgroups(proc.pid)


def _remove_stale_cgroups(session_pid: int) -> None:
    """Kill and remove cgroups a killed session left behind (named lab3-<session pid>-*)."""
    from autograder.engine.isolation import CGroup

    base = Path("/sys/fs/cgroup")
    for parent in (base, base / "memory", base / "pids"):
        for d in parent.glob(f"lab3-{session_pid}-*"):
            cg = CGroup.__new__(CGroup)
            cg.version, cg.dirs = ("v2" if parent == base else "v1"), [d]
            cg.remove()
