"""Fixtures of the packaging tests: the autograder zip and the sample submissions."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging_helpers import REPO, copy_modules, require_releases


@pytest.fixture(scope="session")
def autograder_zip(tmp_path_factory) -> Path:
    """The zip as `lab3 build` makes it, written to a temporary folder (autograder/dist is left alone)."""
    require_releases()
    from autograder.packaging.gradescope import autograder_files, write_zip

    return write_zip(autograder_files(REPO), tmp_path_factory.mktemp("dist") / "autograder.zip")


@pytest.fixture(scope="session")
def submissions(tmp_path_factory) -> dict[str, Path]:
    """solution, blank stubs, and a buggy solution (attention without the 1/sqrt(d_k) scale): folders."""
    require_releases()
    base = tmp_path_factory.mktemp("submissions")
    subs = {
        "solution": copy_modules(REPO / "solutions" / "lab3", base / "solution"),
        "stubs": copy_modules(REPO / "assignments" / "lab3", base / "stubs"),
        "buggy": copy_modules(REPO / "solutions" / "lab3", base / "buggy"),
    }
    att = subs["buggy"] / "lab3" / "attention.py"
    text = att.read_text()
    scaled = "scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)"
    assert scaled in text, "the solution's attention scores line changed: update the buggy submission"
    att.write_text(text.replace(scaled, "scores = q @ k.transpose(-2, -1)"))
    return subs
