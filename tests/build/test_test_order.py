"""The test run's order: the longest test files first (``tests/durations.json``), so that ``make test``'s
parallel workers finish together."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DURATIONS = REPO / "tests" / "durations.json"


def test_durations_name_existing_test_files_slowest_first():
    seconds = json.loads(DURATIONS.read_text())
    missing = [name for name in seconds if not (REPO / name).is_file()]
    assert not missing, f"tests/durations.json names files that are gone (rewrite it): {missing}"
    assert all(name.startswith("tests/") and name.endswith(".py") for name in seconds)
    assert list(seconds.values()) == sorted(seconds.values(), reverse=True)


def test_collection_puts_the_longer_file_first_and_keeps_each_files_order():
    seconds = json.loads(DURATIONS.read_text())
    long_file = next(iter(seconds))  # the slowest file on record
    short_file = "tests/engine/test_wire.py"
    assert seconds.get(short_file, 0.0) < seconds[long_file]
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          short_file, long_file], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    files = [i.split("::")[0] for i in ids]
    assert files[0] == long_file and files[-1] == short_file
    assert files == sorted(files, key=lambda f: f != long_file)  # each file's tests together
    wire = [i for i in ids if i.startswith(short_file)]
    alone = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                            short_file], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert wire == [line for line in alone.stdout.splitlines() if "::" in line]


def test_a_plain_run_collects_every_test_file():
    """``pytest`` with no argument (what ``make test`` runs) collects each ``tests/**/test_*.py``: no folder
    is skipped by a name rule (pytest skips folders named ``build`` unless told otherwise)."""
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    collected = {line.split("::")[0] for line in out.stdout.splitlines() if "::" in line}
    files = {p.relative_to(REPO).as_posix() for p in (REPO / "tests").rglob("test_*.py")
             if "node_modules" not in p.parts}
    assert files - collected == set(), f"never collected: {sorted(files - collected)}"


def test_a_variable_set_for_the_rest_of_the_process():
    """Like ``lab3.transfer`` setting ``HF_HUB_OFFLINE``: no monkeypatch, nothing undone by the test itself."""
    import os

    os.environ["TESTS_ENV_PROBE"] = "set by the test before"


def test_is_gone_in_the_next_test():
    """``tests/conftest.py`` restores the environment after each test, so the next test's gradings still
    fork from the warm session server (a different environment would start each with exec)."""
    import os

    assert "TESTS_ENV_PROBE" not in os.environ
