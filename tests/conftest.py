"""Fixtures shared by the test areas."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def warm_sessions():
    """Every grading of this test run forks its trusted session from one warm server instead of starting
    python and importing torch again (:mod:`autograder.engine.session_server`); a grading under a changed
    environment (``monkeypatch.setenv``) starts its session with exec, as ``lab3 grade`` does."""
    from autograder.engine import session_server

    with session_server.serving():
        yield


@pytest.fixture(scope="session")
def ex1_graders(tmp_path_factory) -> tuple[Path, Path]:
    """A private copy of the ex1 attention graders and its manifest (other areas' graders come and go)."""
    from autograder.engine import manifest

    d = tmp_path_factory.mktemp("graders")
    for name in ("conftest.py", "test_ex1_attention.py"):
        (d / name).write_text((REPO / "autograder" / "graders" / name).read_text())
    path = d / "manifest.json"
    path.write_text(manifest.dumps(manifest.collect(d)))
    return d, path
