"""The record of every batch run, and the diff of a regrade.

Each ``lab3 grade --batch`` run appends one line to ``OUT/history/runs.jsonl``: when, which grader
(the manifest's SHA-256, the git commit and whether the autograder's files differ from it), which
submissions were graded again and why (``--reason``). When a run regrades submissions that had grades
(``--force``, or a failed one graded again), their previous grades are kept in
``OUT/history/<run>/before.json`` and the differences are written to ``OUT/history/<run>/diff.md`` and
``diff.json``: who moved, by how many points, on which tests, with the old and the new message.
``manual_grades.json`` is not touched by any of this.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from autograder.layout import MANIFEST_PATH, PACKAGE_PARENT
from autograder.outdir import OutDir
from autograder.reports.per_submission import atomic_write, clean_text

FOLDER = OutDir.HISTORY


def _first_line(text: str) -> str:
    return clean_text(text or "", 300).split("\n")[0]


def slim(result: dict[str, Any]) -> dict[str, Any]:
    """What a diff needs of one ``result.json``: status, total, each test's score, status and message."""
    return {"status": result.get("status") or "graded", "score": result.get("score"),
            "max_score": result.get("max_score"),
            "tests": {t["id"]: {"name": t.get("name", t["id"]), "score": t.get("score"), "status": t.get("status"),
                                "message": _first_line(t.get("output", ""))} for t in result.get("tests", [])}}


def snapshot(out: Path, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The current grades of ``ids`` in ``out`` (those that have one), before they are graded again."""
    before = {}
    for sid in ids:
        try:
            before[sid] = slim(json.loads(OutDir(out).submission(sid).result_json.read_text()))
        except (OSError, ValueError, KeyError):
            continue
    return before


def diff(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per submission whose status, total or any test changed."""
    moved = []
    for sid in sorted(before):
        old, new = before[sid], after.get(sid)
        if new is None:
            continue
        tests = []
        for tid in list(dict.fromkeys([*old["tests"], *new["tests"]])):
            o, n = old["tests"].get(tid, {}), new["tests"].get(tid, {})
            if (o.get("score"), o.get("status"), o.get("message")) != (n.get("score"), n.get("status"),
                                                                        n.get("message")):
                tests.append({"id": tid, "name": n.get("name") or o.get("name") or tid,
                              "old_score": o.get("score"), "new_score": n.get("score"),
                              "old_message": o.get("message", ""), "new_message": n.get("message", "")})
        if tests or old["status"] != new["status"] or old["score"] != new["score"]:
            graded = "error" not in (old["status"], new["status"])
            change = (new["score"] or 0) - (old["score"] or 0) if graded else None
            moved.append({"id": sid, "old_status": old["status"], "new_status": new["status"],
                          "old_score": old["score"], "new_score": new["score"], "change": change, "tests": tests})
    return moved


def _fmt(x: Any) -> str:
    return "—" if x is None else f"{x:g}" if isinstance(x, int | float) else str(x)


def diff_markdown(run: dict[str, Any], moved: list[dict[str, Any]]) -> str:
    """The diff as a page a TA reads (also what ``lab3 grade --batch`` names at the end)."""
    lines = [f"# Regrade of {run['time']}", "",
             f"Grader: manifest sha256 `{run['manifest_sha256'][:12]}`, commit `{run['git_commit'] or 'unknown'}`"
             + (" (autograder files changed since)" if run.get("git_dirty") else "") + ".",
             f"Reason: {run.get('reason') or 'not given (`--reason`)'}.",
             f"Regraded {len(run['regraded'])} submission(s), {len(moved)} moved. Manual grades "
             "(`manual_grades.json`) are unchanged.", ""]
    if not moved:
        return "\n".join(lines + ["No grade changed.", ""])
    lines += ["| submission | before | after | change | tests |", "|---|---|---|---|---|"]
    for m in moved:
        before = _fmt(m["old_score"]) if m["old_status"] != "error" else "error"
        after = _fmt(m["new_score"]) if m["new_status"] != "error" else "error"
        change = "" if m["change"] is None else f"{m['change']:+g}"
        lines.append(f"| {m['id']} | {before} | {after} | {change} | {len(m['tests'])} |")
    for m in moved:
        lines += ["", f"## {m['id']}", ""]
        for t in m["tests"]:
            lines += [f"- **{t['name']}** (`{t['id']}`): {_fmt(t['old_score'])} → {_fmt(t['new_score'])}",
                      f"  - before: {t['old_message'] or '(passed)'}", f"  - after: {t['new_message'] or '(passed)'}"]
    return "\n".join(lines) + "\n"


def grader_version(manifest: Path | None = None) -> dict[str, Any]:
    """The manifest's SHA-256, the git commit of this autograder and whether its files differ from it."""
    path = Path(manifest) if manifest else MANIFEST_PATH
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        digest = ""
    commit, dirty = "", False
    try:
        git = ["git", "-C", str(PACKAGE_PARENT)]
        commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                                check=True).stdout.strip()
        dirty = bool(subprocess.run([*git, "status", "--porcelain", "--", "autograder"], capture_output=True,
                                    text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return {"manifest_sha256": digest, "git_commit": commit, "git_dirty": dirty}


def record_run(out: Path, *, regraded: list[str], before: dict[str, dict[str, Any]], force: bool,
               reason: str | None, only_tags: list[str] | None, shard: tuple[int, int] | None,
               manifest: Path | None = None) -> Path | None:
    """Append this run to ``OUT/history/runs.jsonl``; write the regrade's diff. Returns ``diff.md`` or None."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    run = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "run": stamp, **grader_version(manifest),
           "force": force, "reason": reason or "", "only_tags": only_tags or [],
           "shard": list(shard) if shard else None,
           "regraded": regraded, "previously_graded": sorted(before), "user": os.environ.get("USER", "")}
    folder = OutDir(out).history
    folder.mkdir(parents=True, exist_ok=True)
    n = 2
    while (folder / run["run"]).exists():  # two runs in the same second
        run["run"], n = f"{stamp}-{n}", n + 1
    stamp = run["run"]
    diff_path = None
    if before:
        after = snapshot(out, sorted(before))
        moved = diff(before, after)
        run["moved"] = [m["id"] for m in moved]
        here = folder / stamp
        atomic_write(here / "before.json", json.dumps(before, indent=1) + "\n")
        atomic_write(here / "diff.json", json.dumps(moved, indent=1) + "\n")
        diff_path = here / "diff.md"
        atomic_write(diff_path, diff_markdown(run, moved))
    with open(folder / "runs.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(run) + "\n")
    return diff_path


def last_run(out: Path) -> dict[str, Any] | None:
    """The latest record of ``OUT/history/runs.jsonl`` (with ``diff``: the path of its diff.md, if any)."""
    try:
        lines = (OutDir(out).history / "runs.jsonl").read_text(encoding="utf-8").splitlines()
        run = json.loads(lines[-1])
    except (OSError, ValueError, IndexError):
        return None
    diff_md = OutDir(out).history / run["run"] / "diff.md"
    run["diff"] = str(diff_md) if diff_md.exists() else ""
    return run
