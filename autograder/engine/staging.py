"""Builds the sandbox's file tree: the official release with only the graded modules from the submission.

Layout of a staging directory (created by the trusted side, readable by the sandbox user)::

    staging/harness/autograder/{__init__.py,child/}   # what runs in the child (incl. the probes), nothing else
    staging/release/lab3/*.py      # official release, graded modules replaced by the student's
    staging/work/                  # scratch cwd of the child (owned by the sandbox user)

A submission is a folder or a zip; the graded modules may be flat or inside ``lab3/`` (at any depth,
the shallowest wins). Only regular files, at most :data:`MAX_MODULE_BYTES` each; symlinks, special
files, and zip entries with absolute paths or ``..`` are refused (and noted).
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.engine.errors import SubmissionError
from autograder.layout import GRADED_MODULES

MAX_MODULE_BYTES = 1 << 20
MAX_ZIP_ENTRIES = 20_000
CHILD_DIR = Path(__file__).resolve().parent.parent / "child"


@dataclass
class Staged:
    root: Path
    found: dict[str, str] = field(default_factory=dict)  # module -> where in the submission
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # module -> submitted text (trusted read)


def _rank(parts: tuple[str, ...]) -> tuple[int, int]:
    """Prefer files inside a folder named lab3, then the shallowest."""
    return (0 if len(parts) >= 2 and parts[-2] == "lab3" else 1, len(parts))


def collect_submission(
    submission: Path, graded: tuple[str, ...] = GRADED_MODULES
) -> tuple[dict[str, bytes], dict[str, str], list[str]]:
    """Read the graded modules of a submission: ``(module -> bytes, module -> location, notes)``."""
    wanted = {f"{m}.py": m for m in graded}
    notes: list[str] = []
    best: dict[str, tuple[tuple[int, int], str]] = {}
    data: dict[str, bytes] = {}
    if submission.is_symlink():
        raise SubmissionError(f"{submission.name}: the submission is a symbolic link")
    if submission.is_dir():
        for dirpath, dirnames, filenames in os.walk(submission, followlinks=False):
            rel = Path(dirpath).relative_to(submission)
            dirnames[:] = [
                d for d in dirnames if not d.startswith(".") and d != "__pycache__" and len(rel.parts) < 6
            ]
            for name in filenames:
                if name not in wanted:
                    continue
                path = Path(dirpath) / name
                parts = (*rel.parts, name)
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode):
                    notes.append(f"{'/'.join(parts)}: not a regular file (symlink or special file), ignored")
                    continue
                if st.st_size > MAX_MODULE_BYTES:
                    notes.append(f"{'/'.join(parts)}: larger than {MAX_MODULE_BYTES >> 10} KB, ignored")
                    continue
                mod = wanted[name]
                if mod not in best or _rank(parts) < best[mod][0]:
                    best[mod] = (_rank(parts), "/".join(parts))
        for mod, (_, rel) in best.items():
            fd = os.open(submission / rel, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as fh:
                data[mod] = fh.read(MAX_MODULE_BYTES + 1)[:MAX_MODULE_BYTES]
    elif submission.is_file() and (submission.suffix.lower() == ".zip" or zipfile.is_zipfile(submission)):
        try:
            zf = zipfile.ZipFile(submission)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SubmissionError(f"{submission.name}: not a readable zip archive: {exc}") from None
        with zf:
            infos = zf.infolist()
            if len(infos) > MAX_ZIP_ENTRIES:
                raise SubmissionError(f"{submission.name}: too many entries in the zip ({len(infos)})")
            chosen: dict[str, tuple[tuple[int, int], zipfile.ZipInfo]] = {}
            for info in infos:
                name = info.filename.replace("\\", "/")
                pure = PurePosixPath(name)
                if name.startswith("/") or ".." in pure.parts or (len(name) > 1 and name[1] == ":"):
                    notes.append(f"zip entry {name[:200]!r}: absolute path or '..', refused")
                    continue
                if pure.name not in wanted or info.is_dir() or pure.parts[0] == "__MACOSX":
                    continue
                mode = (info.external_attr >> 16) & 0o170000
                if mode and mode != stat.S_IFREG:
                    notes.append(f"zip entry {name[:200]}: not a regular file (symlink?), refused")
                    continue
                if info.file_size > MAX_MODULE_BYTES:
                    notes.append(f"zip entry {name[:200]}: larger than {MAX_MODULE_BYTES >> 10} KB, ignored")
                    continue
                mod = wanted[pure.name]
                if mod not in chosen or _rank(pure.parts) < chosen[mod][0]:
                    chosen[mod] = (_rank(pure.parts), info)
            for mod, (_, info) in chosen.items():
                try:
                    with zf.open(info) as fh:
                        blob = fh.read(MAX_MODULE_BYTES + 1)
                except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
                    notes.append(f"zip entry {info.filename[:200]}: unreadable ({exc})")
                    continue
                if len(blob) > MAX_MODULE_BYTES:
                    notes.append(f"zip entry {info.filename[:200]}: larger than allowed, ignored")
                    continue
                data[mod] = blob
                best[mod] = ((0, 0), info.filename)
    else:
        raise SubmissionError(f"{submission.name}: a submission must be a folder or a .zip file")
    where = {mod: best[mod][1] for mod in data}
    return data, where, notes


def stage(
    submission: Path,
    release: Path,
    root: Path,
    *,
    graded: tuple[str, ...] = GRADED_MODULES,
    sandbox_uid: int | None = None,
    sandbox_gid: int | None = None,
) -> Staged:
    """Create ``root`` (must not exist) as described in the module docstring."""
    data, where, notes = collect_submission(submission, graded)
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
    staged = Staged(root=root, found=where, notes=notes)
    for mod in graded:
        target = lab3 / f"{mod}.py"
        if mod in data:
            target.write_bytes(data[mod])
            staged.sources[mod] = data[mod].decode("utf-8", errors="replace")
        else:
            staged.missing.append(mod)
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
    return staged


def default_release(repo_root: Path) -> Path:
    """The official student release: ``assignments/lab3`` once built, else ``source/lab3``."""
    built = repo_root / "assignments" / "lab3"
    if (built / "__init__.py").exists():
        return built
    return repo_root / "source" / "lab3"
