"""Fixtures of the robustness corpus (``ex1_graders`` is in ``tests/conftest.py``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def is_root() -> bool:
    return os.geteuid() == 0
