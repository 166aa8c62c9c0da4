"""Helpers shared by the engine and security tests: build submissions from the solution sources."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "source" / "lab3"
FILES = Path(__file__).resolve().parent / "files"
_REGION = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n", re.M | re.S)


def solution_text(module: str) -> str:
    """The instructor solution of ``module`` with the markers removed."""
    text = (SOURCE / f"{module}.py").read_text()
    return re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION\n", "", text, flags=re.M)


def stub_text(module: str) -> str:
    """The blank stub of ``module``: each solution region replaced by ``raise NotImplementedError``."""
    text = (SOURCE / f"{module}.py").read_text()

    def repl(m: re.Match) -> str:
        before = text[: m.start()]
        func = re.findall(r"def (\w+)\(", before)[-1]
        ind = m.group("indent")
        return (
            f'{ind}# TODO: implement {func}\n{ind}raise NotImplementedError("{func}: not implemented yet")\n'
        )

    return _REGION.sub(repl, text)


def make_submission(root: Path, modules: dict[str, str], *, layout: str = "lab3") -> Path:
    """Write ``modules`` (name -> source text) as a submission folder (``layout``: "lab3" or "flat")."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / "lab3" if layout == "lab3" else root
    target.mkdir(exist_ok=True)
    for name, text in modules.items():
        (target / f"{name}.py").write_text(text)
    return root


def zip_dir(folder: Path, zip_path: Path) -> Path:
    shutil.make_archive(str(zip_path.with_suffix("")), "zip", folder)
    return zip_path


@contextlib.contextmanager
def staged_for_sandbox(sub_dir: Path, modules: dict[str, str]) -> Iterator[tuple]:
    """``(isolation, staged)``: ``modules`` as a submission, staged as a grading run stages it (in a folder
    the sandbox user can reach, removed afterwards)."""
    from autograder.engine import isolation
    from autograder.engine.staging import default_release, stage

    iso = isolation.detect()
    sub = make_submission(sub_dir, modules)
    base = Path(tempfile.mkdtemp(prefix="lab3-sandbox-test-"))
    os.chmod(base, 0o711)
    try:
        yield iso, stage(sub, default_release(REPO), base / "s", sandbox_uid=iso.uid, sandbox_gid=iso.gid)
    finally:
        shutil.rmtree(base, ignore_errors=True)
