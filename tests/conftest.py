"""Fixtures shared by the test areas."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# seconds per test file of a recent run (`python benchmarks/test_times.py --durations RUN.xml` writes it)
DURATIONS = REPO / "tests" / "durations.json"


def pytest_collection_modifyitems(config, items):
    """The longest test files first, each file's tests in their own order: with several workers
    (``pytest -n 3 --dist loadfile``, as ``make test`` runs) no long file starts last while the other
    workers have nothing left to do. A file missing from ``durations.json`` counts as short."""
    seconds = json.loads(DURATIONS.read_text()) if DURATIONS.is_file() else {}
    first: dict[Path, int] = {}
    for index, item in enumerate(items):
        first.setdefault(item.path, index)

    def longest_first(item) -> tuple[float, int]:
        rel = item.path.relative_to(REPO).as_posix() if item.path.is_relative_to(REPO) else str(item.path)
        return -seconds.get(rel, 0.0), first[item.path]

    items.sort(key=longest_first)


@pytest.fixture(scope="session", autouse=True)
def warm_sessions():
    """Every grading of this test run forks its trusted session from one warm server instead of starting
    python and importing torch again (:mod:`autograder.engine.session_server`); a grading under a changed
    environment (``monkeypatch.setenv``) starts its session with exec, as ``lab3 grade`` does."""
    from autograder.engine import session_server

    with session_server.serving():
        yield


@pytest.fixture(autouse=True)
def environment_restored():
    """Each test leaves the environment as it found it, even when code it calls sets a variable for the rest
    of the process (``lab3.transfer`` sets ``HF_HUB_OFFLINE``): the warm session server serves only gradings
    whose environment is the one it started with, and every later grading of the run would start with exec."""
    saved = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    yield
    now = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    if now != saved:
        for key in now.keys() - saved.keys():
            del os.environ[key]
        os.environ.update(saved)


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
