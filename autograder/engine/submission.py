"""A submission, read once by one rule: where each graded module came from, the notebook, what was left out.

Every door of the grader reads a submission with :func:`read_submission` (``lab3 grade`` and its staging,
the batch, the notebook reader, the otter bridge, the self-test) and asks :func:`entry_problem` whether a
path is a submission at all; none of them has a rule of its own. ``lab3 submit`` (student side: it never
imports the grader) packs ``lab3/<module>.py`` and ``Lab3.ipynb``; ``tests/engine/test_submission_reader.py``
reads what it packs with this reader.

The rule:

- A submission is a folder or a ``.zip``; a symbolic link is not one, nor is a notebook alone (read for its
  written answers all the same).
- Files count at most :data:`MAX_DEPTH` folders deep; hidden names (``.*``), ``__MACOSX`` and
  ``__pycache__`` are passed over, and so are the top-level names in ``exclude`` (what a grading platform
  put next to the student's files). A zip entry with an absolute path or ``..`` is refused (noted), a zip
  of more than :data:`MAX_ZIP_ENTRIES` entries is not read.
- A graded module ``<name>.py`` must be a regular file of at most :data:`MAX_MODULE_BYTES` (a symbolic link,
  a special file or a larger one is refused, with a note for the student). Of several copies the one
  inside a folder named ``lab3`` wins, then the shallowest, then the first by path.
- The notebook: ``Lab3.ipynb`` before any other ``.ipynb``, then the shallowest, then the first by path;
  at most :data:`MAX_NOTEBOOK_BYTES` (a larger one is named but not read).
"""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.layout import GRADED_MODULES

NOTEBOOK = "Lab3.ipynb"
MAX_MODULE_BYTES = 1 << 20
MAX_NOTEBOOK_BYTES = 64 << 20
MAX_ZIP_ENTRIES = 20_000
MAX_DEPTH = 6  # folders above a file that still counts
UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError)
PASSED_OVER = ("__MACOSX", "__pycache__")  # system folders (and every hidden name) are never read
MODULES_MISSING = ("the graded modules are missing: submit the zip that `lab3 submit` makes "
                   "(lab3/*.py and Lab3.ipynb); the notebook alone is not graded")
# why an entry of a class folder, or a path given to `lab3 grade`, is not a submission
SYMLINK, NEITHER, HIDDEN = "a symbolic link", "neither a folder nor a .zip", "a hidden entry"
NOTEBOOK_ALONE = f"a notebook alone: {MODULES_MISSING}"


@dataclass(frozen=True)
class Module:
    """One graded module as submitted: ``where`` is its path inside the submission."""

    name: str
    where: str
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Notebook:
    """The submission's notebook: ``data`` is None when it was too large or unreadable (``note`` says why)."""

    where: str
    data: bytes | None
    note: str = ""


@dataclass(frozen=True)
class Submission:
    """What a submission holds by the rule of this module. ``error`` is set (and nothing graded) when the
    path is no readable submission; ``notes`` are shown to the student; ``ignored`` lists every other file
    left out, as ``(where, why)``, and ``shadowed`` the copies of a module or notebook that lost to another."""

    path: Path
    kind: str  # "folder" | "zip" (maybe unreadable: see error) | "notebook" (a notebook alone) | "" (neither)
    modules: dict[str, Module] = field(default_factory=dict)
    notebook: Notebook | None = None
    notes: tuple[str, ...] = ()
    ignored: tuple[tuple[str, str], ...] = ()
    shadowed: tuple[tuple[str, str], ...] = ()  # (where, the copy taken instead): other copies of a graded file
    error: str = ""
    graded: tuple[str, ...] = GRADED_MODULES

    @property
    def found(self) -> dict[str, str]:
        """Graded module -> where it was found."""
        return {name: m.where for name, m in self.modules.items()}

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(m for m in self.graded if m not in self.modules)

    def sources(self) -> dict[str, str]:
        """Graded module -> its submitted text (read on the trusted side, never executed there)."""
        return {name: m.text for name, m in self.modules.items()}

    def copy_modules(self, dest: Path) -> Path:
        """Write each graded module at its own place under ``dest``: read again, it is the same submission."""
        dest.mkdir(parents=True, exist_ok=True)
        for module in self.modules.values():
            target = dest.joinpath(*PurePosixPath(module.where).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(module.data)
        return dest


def entry_problem(path: Path, *, listing: bool = False) -> str:
    """Why ``path`` is not a submission (empty when it is one), from its kind alone; ``listing``: an entry of a
    class folder, where a hidden name is passed over too."""
    path = Path(path)
    if path.is_symlink():
        return SYMLINK
    if path.is_file() and path.suffix.lower() == ".ipynb":
        return NOTEBOOK_ALONE
    if not (path.is_dir() or (path.is_file() and path.suffix.lower() == ".zip")):
        return NEITHER
    if listing and path.name.startswith("."):
        return HIDDEN
    return ""


@dataclass
class _Entry:
    """A file of the submission, before the rule picks: its path parts, size, whether regular, a reader."""

    parts: tuple[str, ...]
    size: int
    regular: bool
    read: Callable[[int], bytes]  # read(n): at most n bytes

    @property
    def where(self) -> str:
        return "/".join(self.parts)


def read_submission(
    path: Path, *, graded: tuple[str, ...] = GRADED_MODULES, exclude: Iterable[str] = ()
) -> Submission:
    """Read the submission at ``path`` (a folder, a ``.zip``, or a notebook alone) by the rule above."""
    path = Path(path)
    problem = entry_problem(path)
    kind = "notebook" if problem == NOTEBOOK_ALONE else "" if problem else "zip" if path.is_file() else "folder"
    error = f"{path.name}: {problem}" if problem else ""
    notes: list[str] = []
    ignored: list[tuple[str, str]] = []
    if kind == "notebook":
        entry = _Entry((path.name,), path.lstat().st_size, True, lambda n: _read_nofollow(path, n))
        return _pick(path, kind, [entry], graded, notes, ignored, error=error, label="{}")
    if kind == "folder":
        entries = list(_folder_entries(path, set(exclude), ignored))
        return _pick(path, kind, entries, graded, notes, ignored, label="{}")
    if kind == "zip":
        try:
            zf = zipfile.ZipFile(path)
        except UNREADABLE as exc:
            return Submission(path, kind, error=f"{path.name}: not a readable zip archive: {exc}", graded=graded)
        with zf:
            infos = zf.infolist()
            if len(infos) > MAX_ZIP_ENTRIES:
                return Submission(path, kind, error=f"{path.name}: too many entries in the zip ({len(infos)})",
                                  graded=graded)
            entries = list(_zip_entries(zf, infos, set(exclude), notes, ignored))
            return _pick(path, kind, entries, graded, notes, ignored, label="zip entry {}")
    return Submission(path, "", error=error, graded=graded)


def _read_nofollow(path: Path, limit: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        return fh.read(limit)


def _passed_over(name: str) -> bool:
    return name.startswith(".") or name in PASSED_OVER


def _folder_entries(root: Path, exclude: set[str], ignored: list[tuple[str, str]]) -> Iterator[_Entry]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel = Path(dirpath).relative_to(root).parts
        keep = []
        for d in sorted(dirnames):
            where = "/".join((*rel, d))
            if _passed_over(d) or (not rel and d in exclude):
                ignored.append((f"{where}/", "a hidden, system or platform folder"))
            elif os.path.islink(os.path.join(dirpath, d)):
                ignored.append((f"{where}/", "a symbolic link"))
            elif len(rel) >= MAX_DEPTH:
                ignored.append((f"{where}/", f"deeper than {MAX_DEPTH} folders"))
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            parts = (*rel, name)
            if _passed_over(name) or (not rel and name in exclude):
                ignored.append(("/".join(parts), "a hidden, system or platform file"))
                continue
            full = Path(dirpath) / name
            st = os.lstat(full)
            yield _Entry(parts, st.st_size, stat.S_ISREG(st.st_mode),
                         lambda n, full=full: _read_nofollow(full, n))


def _zip_entries(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], exclude: set[str], notes: list[str],
                 ignored: list[tuple[str, str]]) -> Iterator[_Entry]:
    for info in infos:
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or ".." in parts or (len(name) > 1 and name[1] == ":"):
            notes.append(f"zip entry {name[:200]!r}: absolute path or '..', refused")
            ignored.append((name[:200], "absolute path or '..'"))
            continue
        if info.is_dir() or not parts:
            continue
        if any(_passed_over(p) for p in parts) or parts[0] in exclude:
            ignored.append((name[:200], "in a hidden, system or platform folder"))
            continue
        if len(parts) - 1 > MAX_DEPTH:
            ignored.append((name[:200], f"deeper than {MAX_DEPTH} folders"))
            continue
        mode = (info.external_attr >> 16) & 0o170000
        yield _Entry(parts, info.file_size, not mode or mode == stat.S_IFREG,
                     lambda n, info=info: _read_zip(zf, info, n))


def _read_zip(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    with zf.open(info) as fh:
        return fh.read(limit)


def _module_rank(parts: tuple[str, ...]) -> tuple[int, int]:
    """Inside a folder named lab3 first, then the shallowest."""
    return (0 if len(parts) >= 2 and parts[-2] == "lab3" else 1, len(parts))


def _notebook_rank(parts: tuple[str, ...]) -> tuple[int, int]:
    """Lab3.ipynb first, then the shallowest."""
    return (0 if parts[-1] == NOTEBOOK else 1, len(parts))


def _pick(path: Path, kind: str, entries: list[_Entry], graded: tuple[str, ...], notes: list[str],
          ignored: list[tuple[str, str]], *, label: str, error: str = "") -> Submission:
    """Apply the rule to the files of one submission; read what it takes."""
    wanted = {f"{m}.py": m for m in graded}
    candidates: dict[str, list[tuple[tuple, _Entry]]] = {}
    books: list[tuple[tuple, _Entry]] = []
    for index, e in enumerate(entries):
        shown = label.format(e.where[:200])
        if e.parts[-1] in wanted:
            if not e.regular:
                notes.append(f"{shown}: not a regular file (symlink or special file), ignored")
                ignored.append((e.where, "not a regular file"))
            elif e.size > MAX_MODULE_BYTES:
                notes.append(f"{shown}: larger than {MAX_MODULE_BYTES >> 10} KB, ignored")
                ignored.append((e.where, "too large"))
            else:
                rank = (*_module_rank(e.parts), e.where, index)
                candidates.setdefault(wanted[e.parts[-1]], []).append((rank, e))
        elif e.parts[-1].lower().endswith(".ipynb") and e.regular:
            books.append(((*_notebook_rank(e.parts), e.where, index), e))
        elif e.parts[-1].lower().endswith(".ipynb"):
            ignored.append((e.where, "not a regular file"))
        else:
            ignored.append((e.where, "not a graded module"))
    modules: dict[str, Module] = {}
    shadowed: list[tuple[str, str]] = []
    for mod in graded:
        ranked = sorted(candidates.get(mod, []), key=lambda c: c[0])
        for _, e in ranked:
            if mod in modules:
                shadowed.append((e.where, modules[mod].where))
                continue
            shown = label.format(e.where[:200])
            try:
                blob = e.read(MAX_MODULE_BYTES + 1)
            except UNREADABLE as exc:
                notes.append(f"{shown}: unreadable ({exc})")
                ignored.append((e.where, "unreadable"))
                continue
            if len(blob) > MAX_MODULE_BYTES:
                notes.append(f"{shown}: larger than {MAX_MODULE_BYTES >> 10} KB, ignored")
                ignored.append((e.where, "too large"))
                continue
            modules[mod] = Module(mod, e.where, blob)
    notebook = None
    for _, e in sorted(books, key=lambda b: b[0]):
        if notebook is not None:
            shadowed.append((e.where, notebook.where))
        elif e.size > MAX_NOTEBOOK_BYTES:
            notebook = Notebook(e.where, None, f"{e.where}: larger than {MAX_NOTEBOOK_BYTES >> 20} MB, not read")
        else:
            try:
                notebook = Notebook(e.where, e.read(MAX_NOTEBOOK_BYTES))
            except UNREADABLE as exc:
                notebook = Notebook(e.where, None, f"the notebook could not be read ({exc})")
    return Submission(path, kind, modules, notebook, tuple(notes), tuple(ignored), tuple(shadowed), error, graded)
