"""Fixtures of the robustness corpus."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
REPO = Path(__file__).resolve().parents[2]


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


@pytest.fixture(scope="session")
def is_root() -> bool:
    return os.geteuid() == 0
