"""Builds the sandbox's file tree: the official release with only the graded modules from the submission.

Layout of a staging directory (created by the trusted side, readable by the sandbox user)::

    staging/harness/autograder/{__init__.py,child/}   # what runs in the child (incl. the probes), nothing else
    staging/release/lab3/*.py      # official release, graded modules replaced by the student's
    staging/work/                  # scratch cwd of the child (owned by the sandbox user)

Which files of the submission count is decided once, by :func:`autograder.engine.submission.read_submission`;
staging writes what that reader took.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from autograder.engine.errors import SubmissionError
from autograder.engine.submission import Submission, read_submission
from autograder.layout import GRADED_MODULES

CHILD_DIR = Path(__file__).resolve().parent.parent / "child"


@dataclass(frozen=True)
class Staged:
    root: Path
    submission: Submission  # what was read (the graded modules, where each came from, the notes)

    @property
    def found(self) -> dict[str, str]:
        return self.submission.found

    @property
    def missing(self) -> tuple[str, ...]:
        return self.submission.missing

    @property
    def notes(self) -> tuple[str, ...]:
        return self.submission.notes


def stage(
    submission: Submission | Path,
    release: Path,
    root: Path,
    *,
    graded: tuple[str, ...] = GRADED_MODULES,
    sandbox_uid: int | None = None,
    sandbox_gid: int | None = None,
) -> Staged:
    """Create ``root`` (must not exist) as described in the module docstring; a path is read here first.

    Raises :class:`SubmissionError` when the submission could not be read (its ``error``).
    """
    if not isinstance(submission, Submission):
        submission = read_submission(submission, graded=graded)
    if submission.error:
        raise SubmissionError(submission.error)
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    # the child-side harness: the child package (with the probes), nothing of the trusted side
    harness = root / "harness" / "autograder"
    harness.mkdir(parents=True)
    (harness / "__init__.py").write_text('"""Sandbox-side copy: the child package and the probes only."""\n')
    shutil.copytree(CHILD_DIR, harness / "child", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # the release, then the student's graded modules on top
    lab3 = root / "release" / "lab3"
    shutil.copytree(release, lab3, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), symlinks=False)
    for mod in submission.graded:
        target = lab3 / f"{mod}.py"
        if mod in submission.modules:
            target.write_bytes(submission.modules[mod].data)
        else:
            # never let a missing module fall back to a solution (the source/ release before a build)
            if not target.exists() or "### BEGIN SOLUTION" in target.read_text(errors="replace"):
                target.write_text(f'"""{mod}.py was not in the submission."""\n')
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
    work = root / "work"
    work.mkdir(mode=0o700)
    if sandbox_uid is not None:
        os.chown(work, sandbox_uid, sandbox_gid if sandbox_gid is not None else -1)
    return Staged(root=root, submission=submission)


def default_release(repo_root: Path) -> Path:
    """The official student release: ``assignments/lab3`` once built, else ``source/lab3``."""
    built = repo_root / "assignments" / "lab3"
    if (built / "__init__.py").exists():
        return built
    return repo_root / "source" / "lab3"
