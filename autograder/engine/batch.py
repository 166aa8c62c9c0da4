"""Grading a whole class: ``lab3 grade --batch DIR --out OUT [-j N] [--shard i/n] [--force]``.

Each entry of ``DIR`` (a folder or a ``.zip``; hidden entries ignored) is one submission, graded into
``OUT/<id>/`` by :func:`~autograder.engine.grade.grade_submission` in its own trusted session and sandbox.
``-j`` runs that many at once (threads that each wait on their own subprocesses; CPU threads are split
between them). ``--shard i/n`` grades every n-th entry starting at the i-th (1-based) so a class can be
spread over machines; ``OUT/grades.csv`` and ``OUT/report.html`` are rebuilt from every
``OUT/*/instructor/result.json`` present, so shards writing into one folder merge.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from autograder.engine.grade import GradeResult, TestResult, grade_request
from autograder.engine.options import DEFAULT_TIMEOUT_SCALE
from autograder.engine.request import GradeRequest, RequestError, parse_shard  # noqa: F401 (parse_shard: re-exported)
from autograder.engine.submission import entry_problem
from autograder.outdir import OutDir, SubmissionOut


def _listing(batch_dir: Path, out: Path | None) -> list[tuple[Path, str]]:
    """Each entry of ``batch_dir`` (but ``out``) with why it is not a submission (empty when it is one), by
    name; the rule is :func:`autograder.engine.submission.entry_problem`'s, nothing of its own."""
    skip = Path(out).absolute() if out is not None else None
    return [(p, entry_problem(p, listing=True)) for p in sorted(Path(batch_dir).iterdir(), key=lambda p: p.name)
            if p.absolute() != skip]


def skipped_entries(batch_dir: Path, out: Path | None = None) -> list[str]:
    """``"name: why"`` for each entry of ``batch_dir`` that is not graded (never dropped in silence)."""
    return [f"{p.name}: {why}" for p, why in _listing(batch_dir, out) if why]


def submission_entries(batch_dir: Path, out: Path | None = None) -> list[tuple[str, Path]]:
    """(id, path) for each submission in ``batch_dir``, sorted by name; ids are unique and filesystem-safe, and
    never the name of a folder the batch itself writes (``answers``, ``history``: such a student is ``-2``)."""
    entries = []
    used: set[str] = set(OutDir.RESERVED)
    for p, why in _listing(batch_dir, out):
        if why:
            continue
        base = re.sub(r"[^A-Za-z0-9._@+-]", "_", p.stem if p.is_file() else p.name)[:100] or "submission"
        sid, k = base, 2
        while sid in used:
            sid, k = f"{base}-{k}", k + 1
        used.add(sid)
        entries.append((sid, p))
    return entries


def load_result(path: Path) -> GradeResult | None:
    try:
        data = json.loads(path.read_text())
        tests = [TestResult(**t) for t in data.pop("tests")]
        return GradeResult(tests=tests, **data)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _failed_result(sid: str, out: Path, exc: BaseException, manifest: dict[str, Any] | None) -> GradeResult:
    """An ``error`` result when grading itself blew up (never a score; never affects other submissions)."""
    from autograder.engine import manifest as manifest_mod
    from autograder.engine.grade import score
    from autograder.reports import write_feedback, write_results

    man = manifest or manifest_mod.load()
    tests = score(
        man, [], gpu=False, only_tags=None, missing_note="not graded: the grader failed on this submission"
    )
    res = GradeResult(
        submission=sid,
        score=0,
        max_score=sum(t.max_score for t in tests),
        tests=tests,
        execution_time=0.0,
        out=str(out),
        notes=["grading failed; the course staff has been notified"],
        status="error",
        error=f"{type(exc).__name__}: {exc}",
    )
    out.mkdir(parents=True, exist_ok=True)
    write_results(res, out)
    write_feedback(res, out)
    files = SubmissionOut(out)
    files.instructor.mkdir(exist_ok=True)
    files.batch_error.write_text("".join(traceback.format_exception(exc)))
    return res


def grade_batch(
    batch_dir: Path,
    out: Path,
    *,
    jobs: int = 1,
    only_tags: list[str] | None = None,
    shard: tuple[int, int] | None = None,
    force: bool = False,
    timeout_scale: float = DEFAULT_TIMEOUT_SCALE,
    release: Path | None = None,
    progress: bool = True,
    reason: str | None = None,
    regrade: list[str] | None = None,
    graders: Path | None = None,
    manifest: Path | None = None,
    session_timeout: float | None = None,
    limits: dict[str, Any] | None = None,
) -> list[GradeResult]:
    """Grade every submission of ``batch_dir`` into ``out``; returns the results of this shard.

    The Python API's door: the arguments become a :class:`~autograder.engine.request.GradeRequest` (every
    path made absolute there, once), graded by :func:`grade_batch_request`.
    """
    return grade_batch_request(GradeRequest(
        out=out, batch=batch_dir, jobs=jobs, only_tags=tuple(only_tags or ()), shard=shard, force=force,
        timeout_scale=timeout_scale, release=release, reason=reason, regrade=tuple(regrade or ()),
        graders=graders, manifest=manifest, session_timeout=session_timeout, limits=limits or {}),
        progress=progress)


def grade_batch_request(request: GradeRequest, *, progress: bool = True) -> list[GradeResult]:
    """Grade every submission of ``request.batch`` into ``request.out``; returns the results of this shard.

    A submission already graded in ``out`` is kept unless ``force`` (or its id is in ``regrade``); one whose
    grading failed
    (``status == "error"``) is always graded again. Every run is recorded in ``OUT/history/`` (grader
    version, what was regraded, ``reason``); a regrade keeps the previous grades there with a diff
    (:mod:`autograder.gradebook.history`). The manual grades (``manual_grades.json``) are never touched.
    """
    from autograder.gradebook import history

    if request.batch is None:
        raise RequestError("grade_batch_request grades a batch: give batch=DIR")
    batch_dir, out, jobs = request.batch, request.out, request.jobs
    files = OutDir(out)
    out.mkdir(parents=True, exist_ok=True)
    entries = submission_entries(batch_dir, out)
    files.write_skipped(skipped_entries(batch_dir, out))
    if request.shard:
        i, n = request.shard
        entries = [e for k, e in enumerate(entries) if k % n == i - 1]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    results: dict[str, GradeResult] = {}
    todo = []
    for sid, path in entries:
        again = request.force or sid in request.regrade
        if not again and files.submission(sid).has_result():
            prev = load_result(files.submission(sid).result_json)
            if prev is not None and prev.status != "error":
                prev.submission = sid
                results[sid] = prev
                continue
        todo.append((sid, path))

    before = history.snapshot(out, [sid for sid, _ in todo])  # kept with a diff once regraded

    def one(sid: str, path: Path) -> GradeResult:
        try:
            return grade_request(request.for_entry(path, out / sid, threads=threads))
        except Exception as exc:  # noqa: BLE001 - one submission's failure never touches another
            return _failed_result(sid, out / sid, exc, None)

    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="grading", unit="sub", dynamic_ncols=True)
    t0 = time.monotonic()
    from autograder.engine import session_server

    # two or more to grade: each session forked from one warm server (torch imported once, its pages shared)
    warm = session_server.serving() if len(todo) > 1 else contextlib.nullcontext()
    with warm, ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(one, sid, path): sid for sid, path in todo}
        for fut in as_completed(futures):
            sid = futures[fut]
            res = fut.result()
            res.submission = sid
            results[sid] = res
            if bar is not None:
                bar.set_postfix_str(f"{sid}: {res.score:g}/{res.max_score:g}", refresh=False)
                bar.update(1)
    if bar is not None:
        bar.close()
    from autograder.gradebook.class_outputs import write_batch_reports

    write_batch_reports(out, wall_s=time.monotonic() - t0, jobs=jobs)
    history.record_run(out, regraded=[sid for sid, _ in todo], before=before, force=request.force,
                       reason=request.reason, only_tags=list(request.only_tags) or None, shard=request.shard,
                       manifest=request.manifest)
    return [results[sid] for sid, _ in entries if sid in results]
