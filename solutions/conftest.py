"""pytest setup of the lab: the public tests in tests/ always test the lab3/ of this folder (your files).

pyproject.toml puts this folder first on ``sys.path``; this file makes sure no other copy of ``lab3`` (an
installed one, say) was picked up instead, and says in the test header which files are tested.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_report_header(config: pytest.Config) -> str:
    import lab3

    return f"lab3: testing {Path(lab3.__file__).resolve().parent}"


def pytest_sessionstart(session: pytest.Session) -> None:
    import lab3

    where = Path(lab3.__file__).resolve().parent
    if where != HERE / "lab3":
        raise pytest.UsageError(f"`import lab3` found {where}, not your {HERE / 'lab3'}: run pytest from {HERE}, "
                                "or uninstall the other copy")
