"""Sessions forked from the warm server grade exactly as sessions started with exec: same records, same
files, one process per grading, the whole-run deadline still kills, and a changed environment or a
broken server falls back to exec."""

from __future__ import annotations

import json
import subprocess

import pytest
from engine_helpers import make_submission, solution_text

from autograder.engine import grade_submission, session_server

ONLY = ["causal_mask", "sdpa"]
pytestmark = [pytest.mark.slow]


def _records(out) -> list[dict]:
    """The test records of one grading, without what differs between any two runs (durations, traces)."""
    lines = (out / "instructor" / "records.jsonl").read_text().splitlines()
    recs = [json.loads(line) for line in lines]
    return [{k: v for k, v in r.items() if k not in ("duration", "instructor")} for r in recs if r["type"] == "test"]


def _zygote_pid(out) -> int:
    log = (out / "instructor" / "session.log").read_text()
    return int(log.split("zygote pid=")[1].split()[0])  # forked by the session: one zygote per session


@pytest.fixture
def started(monkeypatch) -> list[str]:
    """The modules started with exec from now on (``autograder.engine.session`` or ``..._server``)."""
    calls: list[str] = []
    real = subprocess.Popen

    def spy(args, *a, **k):
        calls.extend(arg for arg in args if str(arg).startswith("autograder.engine.session"))
        return real(args, *a, **k)

    monkeypatch.setattr(subprocess, "Popen", spy)
    return calls


def test_forked_and_exec_sessions_grade_the_same(ex1_graders, tmp_path, monkeypatch, started):
    """Two forked sessions, then exec for a changed environment and for a broken server."""
    g, m = ex1_graders
    bug = solution_text("attention").replace("/ math.sqrt(d_k)", "")
    sub = make_submission(tmp_path / "sub", {"attention": bug})

    def grade(name: str):
        return grade_submission(sub, tmp_path / name, graders=g, manifest=m, only_tags=ONLY)

    with session_server.serving():
        server = session_server._active[0]
        forked = [grade("f1"), grade("f2")]
        assert started == ["autograder.engine.session_server"] and not server.broken
        monkeypatch.setenv("GRADING_TEST_ONLY_VARIABLE", "1")
        execd = grade("e")
        monkeypatch.delenv("GRADING_TEST_ONLY_VARIABLE")
        server.broken = True
        fallback = grade("b")
    assert server.proc is None, "the server outlived serving()"
    assert started[1:] == ["autograder.engine.session"] * 2
    assert [(r.score, r.status) for r in [*forked, fallback]] == [(execd.score, execd.status)] * 3
    assert 0 < execd.score < execd.max_score
    assert _records(tmp_path / "f1") == _records(tmp_path / "f2") == _records(tmp_path / "e")
    for out in ("f1", "e"):
        assert (tmp_path / out / "instructor" / "session.out.txt").read_text().startswith(".")
    assert _zygote_pid(tmp_path / "f1") != _zygote_pid(tmp_path / "f2")


def test_the_deadline_kills_a_forked_session(ex1_graders, tmp_path):
    g, m = ex1_graders
    hang = solution_text("attention") + "\n\nwhile True:\n    pass\n"
    sub = make_submission(tmp_path / "sub", {"attention": hang})
    with session_server.serving():
        r = grade_submission(sub, tmp_path / "o", graders=g, manifest=m, only_tags=["sdpa"], session_timeout=5)
    assert r.status == "timeout" and r.score == 0, (r.status, r.error)


def test_the_server_preloads_only_what_a_session_imports_first():
    from autograder.engine.plugin import PRELOAD

    assert set(session_server.SERVER_PRELOAD) <= set(PRELOAD)


@pytest.fixture(autouse=True)
def _own_server(monkeypatch):
    """These tests start their own server, not the test run's shared one."""
    monkeypatch.setattr(session_server, "_active", [])
