"""``lab3 check`` / ``lab3 submit``: the instructor's CLI runs the same code the student release ships."""

from __future__ import annotations

from pathlib import Path


def run_check(path: Path) -> int:
    from lab3.__main__ import run_check as check

    return check(path)


def make_submission(path: Path, output: Path) -> int:
    from lab3.__main__ import make_submission as submit

    return submit(path, output)
