"""One rule for what a submission holds: the same odd inputs through every door give one answer.

A class folder of odd inputs (nested folders, duplicates, a zip bomb, symbolic links, a notebook alone,
stray files, broken zips, ...) goes through each place that decides which files count: ``lab3 grade``'s
check and its staging, the batch's listing, the notebook reader, the otter bridge (its copy of a folder and
its rewrite of a zip), the self-test's copy of a folder, and ``lab3 submit``. Each answer must be the one
:func:`autograder.engine.submission.read_submission` gives.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import REPO

from autograder.engine.submission import (
    HIDDEN,
    MAX_ZIP_ENTRIES,
    NOTEBOOK_ALONE,
    Submission,
    entry_problem,
    read_submission,
)
from autograder.layout import GRADED_MODULES

NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'


def _write(root: Path, files: dict[str, bytes | str]) -> Path:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    root.mkdir(parents=True, exist_ok=True)
    return root


def _zip(path: Path, entries: dict[str, bytes | str], stored: bool = False) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


DUPLICATES = {
    "attention.py": "# flat attention\n",
    "lab3/attention.py": "# lab3 attention\n",
    "old/lab3/attention.py": "# old attention\n",
    "b/optim.py": "# b optim\n",
    "a/optim.py": "# a optim (ties with b/optim.py: the first by path)\n",
    "Lab3.ipynb": NB,
    "notes.ipynb": NB,
    "sub/Lab3.ipynb": NB,
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """name -> path of each odd input, all in one class folder (the batch reads that folder)."""
    cls = tmp_path_factory.mktemp("class")
    outside = tmp_path_factory.mktemp("outside")
    got: dict[str, Path] = {}
    got["nested"] = _write(cls / "nested", {
        "outer/inner/lab3/attention.py": "# nested attention\n",
        "outer/inner/optim.py": "# nested optim\n",
        "a/b/c/d/e/f/positional.py": "# six folders deep: counts\n",
        "a/b/c/d/e/f/g/vit.py": "# seven folders deep: too deep\n",
        "outer/Lab3.ipynb": NB,
    })
    got["duplicates"] = _write(cls / "duplicates", DUPLICATES)
    got["duplicates.zip"] = _zip(cls / "duplicates.zip", DUPLICATES)
    got["bomb.zip"] = _zip(cls / "bomb.zip", {
        "lab3/attention.py": b"#" * (8 << 20),  # 8 MB that compress to a few KB
        "lab3/optim.py": "# optim\n",
        "Lab3.ipynb": NB,
    })
    many = {f"junk/{i}.txt": "" for i in range(MAX_ZIP_ENTRIES)}
    got["many.zip"] = _zip(cls / "many.zip", {**many, "lab3/attention.py": "# attention\n"}, stored=True)
    (outside / "vit.py").write_text("# outside the submission\n")
    (outside / "Lab3.ipynb").write_bytes(NB)
    links = _write(cls / "links", {"lab3/optim.py": "# optim\n"})
    (links / "lab3" / "attention.py").symlink_to(REPO / "source" / "lab3" / "attention.py")
    (links / "Lab3.ipynb").symlink_to(outside / "Lab3.ipynb")
    (links / "linked_dir").symlink_to(outside, target_is_directory=True)
    got["links"] = links
    (cls / "linked_submission").symlink_to(got["duplicates"], target_is_directory=True)
    got["linked_submission"] = cls / "linked_submission"
    got["alone.ipynb"] = cls / "alone.ipynb"
    got["alone.ipynb"].write_bytes(NB)
    got["only_notebook"] = _write(cls / "only_notebook", {"Lab3.ipynb": NB})
    got["stray"] = _write(cls / "stray", {
        "README.md": "hello\n",
        "utils.py": "# not graded\n",
        "sitecustomize.py": "import os\n",
        "lab3/utils.py": "# not graded\n",
        "lab3/training.py": "# training\n",
        "__pycache__/attention.cpython-311.pyc": b"\x00pyc",
        ".git/attention.py": "# hidden folder\n",
        ".ipynb_checkpoints/Lab3-checkpoint.ipynb": NB,
    })
    got["notes.txt"] = cls / "notes.txt"
    got["notes.txt"].write_text("not a submission\n")
    got["README.md"] = cls / "README.md"
    got["README.md"].write_text("# the class folder\n")
    got[".hidden_sub"] = _write(cls / ".hidden_sub", {"lab3/attention.py": "# hidden entry\n"})
    got["broken.zip"] = cls / "broken.zip"
    got["broken.zip"].write_bytes(b"PK\x03\x04 this is not a zip archive")
    corrupt = _zip(cls / "corrupt.zip", {"lab3/attention.py": "# attention " * 40, "lab3/optim.py": "# optim\n"},
                   stored=True)
    data = bytearray(corrupt.read_bytes())
    at = data.index(b"# attention ") + 100
    data[at:at + 4] = b"XXXX"  # the stored bytes no longer match their CRC
    corrupt.write_bytes(bytes(data))
    got["corrupt.zip"] = corrupt
    got["traversal.zip"] = _zip(cls / "traversal.zip", {
        "../evil/positional.py": "# escapes\n",
        "/abs/vit.py": "# absolute\n",
        "C:/win/transfer.py": "# a drive\n",
        "lab3\\transformer.py": "# windows separators\n",
        "__MACOSX/lab3/._attention.py": "junk",
        "submission/lab3/attention.py": "# attention\n",
    })
    return got


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def answer(sub: Submission) -> dict[str, Any]:
    """What a door decides: why it is no submission, each module's place and content, the notebook, notes."""
    return {"error": sub.error, "modules": {m: (x.where, _sha(x.data)) for m, x in sorted(sub.modules.items())},
            "notebook": sub.notebook.where if sub.notebook else None, "notes": list(sub.notes)}


def contents(sub: Submission) -> dict[str, str]:
    return {m: _sha(x.data) for m, x in sorted(sub.modules.items())}


@pytest.fixture(scope="module")
def read(inputs) -> dict[str, Submission]:
    return {name: read_submission(path) for name, path in inputs.items()}


# ------------------------------------------------------------------------------------------ the rule itself
def test_the_rule(read):
    r = read
    assert r["nested"].found == {"attention": "outer/inner/lab3/attention.py", "optim": "outer/inner/optim.py",
                                 "positional": "a/b/c/d/e/f/positional.py"}
    assert r["nested"].notebook.where == "outer/Lab3.ipynb"
    assert ("a/b/c/d/e/f/g/", "deeper than 6 folders") in r["nested"].ignored
    assert r["duplicates"].found == {"attention": "lab3/attention.py", "optim": "a/optim.py"}
    assert r["duplicates"].notebook.where == "Lab3.ipynb"
    assert {w for w, _ in r["duplicates"].shadowed} == {"attention.py", "old/lab3/attention.py", "b/optim.py",
                                                        "notes.ipynb", "sub/Lab3.ipynb"}
    assert answer(r["duplicates"]) == answer(r["duplicates.zip"])  # a folder and its zip: one answer
    assert r["bomb.zip"].found == {"optim": "lab3/optim.py"}
    assert r["bomb.zip"].notes == ("zip entry lab3/attention.py: larger than 1024 KB, ignored",)
    assert r["many.zip"].modules == {} and "too many entries in the zip" in r["many.zip"].error
    assert r["links"].found == {"optim": "lab3/optim.py"} and r["links"].notebook is None
    assert r["links"].notes == ("lab3/attention.py: not a regular file (symlink or special file), ignored",)
    assert ("linked_dir/", "a symbolic link") in r["links"].ignored
    assert r["linked_submission"].error == "linked_submission: a symbolic link"
    assert r["alone.ipynb"].error == f"alone.ipynb: {NOTEBOOK_ALONE}" and r["alone.ipynb"].notebook.where
    assert r["only_notebook"].modules == {} and not r["only_notebook"].error
    assert r["stray"].found == {"training": "lab3/training.py"} and r["stray"].notebook is None
    assert r["notes.txt"].error == "notes.txt: neither a folder nor a .zip"
    assert r["broken.zip"].error.startswith("broken.zip: not a readable zip archive")
    assert r["corrupt.zip"].found == {"optim": "lab3/optim.py"}
    assert r["corrupt.zip"].notes[0].startswith("zip entry lab3/attention.py: unreadable")
    assert r["traversal.zip"].found == {"attention": "submission/lab3/attention.py",
                                        "transformer": "lab3/transformer.py"}
    assert sum("absolute path or '..', refused" in n for n in r["traversal.zip"].notes) == 3


# ------------------------------------------------------------------------------------------ every door
def test_lab3_grade_staging_takes_what_the_reader_takes(inputs, read, tmp_path):
    from autograder.engine.errors import SubmissionError
    from autograder.engine.staging import default_release, stage

    for name, path in inputs.items():
        try:
            staged = stage(path, default_release(REPO), tmp_path / name)
        except SubmissionError as exc:
            got = {"error": str(exc), "modules": {}, "notes": []}
        else:
            lab3 = staged.root / "release" / "lab3"
            got = {"error": "", "modules": {m: (w, _sha((lab3 / f"{m}.py").read_bytes()))
                                            for m, w in sorted(staged.found.items())},
                   "notes": list(staged.notes)}
        want = answer(read[name])
        del want["notebook"]
        assert got == want, name


def test_lab3_grade_refuses_what_the_batch_skips(inputs, read, tmp_path, capsys):
    from autograder.cli import main

    for name, path in inputs.items():
        problem = entry_problem(path)
        assert (problem == "") == (read[name].kind in ("folder", "zip")), name
        if not problem:
            continue  # accepted: graded through the staging above
        assert main(["grade", str(path), "--out", str(tmp_path / "o")]) == 2, name
        assert f"{path}: not a submission: {problem}" in capsys.readouterr().err, name
        assert read[name].error == f"{path.name}: {problem}", name


def test_the_batch_lists_what_the_reader_accepts(inputs, read):
    from autograder.engine.batch import skipped_entries, submission_entries

    batch = next(iter(inputs.values())).parent
    accepted = {p.name for _, p in submission_entries(batch)}
    skipped = dict(line.split(": ", 1) for line in skipped_entries(batch))
    assert accepted.isdisjoint(skipped) and accepted | set(skipped) == set(inputs)
    for name, sub in read.items():
        if name in accepted:
            assert sub.kind in ("folder", "zip"), name
        elif skipped[name] != HIDDEN:
            assert sub.error == f"{name}: {skipped[name]}", name
    assert skipped[".hidden_sub"] == HIDDEN and read[".hidden_sub"].found == {"attention": "lab3/attention.py"}


def test_the_notebook_reader_reads_the_readers_notebook(inputs, read):
    from autograder.engine.notebook_answers import written_answers

    for name, path in inputs.items():
        report = written_answers(path)
        book = read[name].notebook
        assert report["notebook"] == (book.where if book else None), name
        assert report["readable"] == bool(book and book.data is not None), name


def test_the_otter_bridge_grades_what_the_reader_takes(inputs, read, tmp_path):
    """Its copy of a folder and its rewrite of a zip (the notes stay with the first reading: what is left
    behind is never copied)."""
    from autograder.packaging.otter_runtime import sanitize_zips, student_copy

    for name, path in inputs.items():
        sub = read[name]
        if sub.kind == "folder":
            copy = read_submission(student_copy(path, tmp_path / "copy" / name))
            assert (copy.found, contents(copy)) == (sub.found, contents(sub)), name
        elif path.suffix == ".zip" and not path.is_symlink():
            folder = tmp_path / "otter" / name
            folder.mkdir(parents=True)
            (folder / path.name).write_bytes(path.read_bytes())
            dropped = sanitize_zips(folder)
            rewritten = read_submission(folder / path.name)
            assert contents(rewritten) == contents(sub), name
            assert set(rewritten.found.values()) == {f"lab3/{m}.py" for m in sub.modules}, name
            assert len(dropped) == len(sub.ignored) + (sub.notebook is not None) + bool(sub.error), name


def test_the_selftest_copy_is_the_same_submission(inputs, read, tmp_path):
    from autograder.selftest import as_submission

    for name, path in inputs.items():
        copy = read_submission(as_submission(path, tmp_path / name))
        assert (copy.found, contents(copy)) == (read[name].found, contents(read[name])), name


# ------------------------------------------------------------------------------------------ lab3 submit
def test_what_lab3_submit_packs_the_reader_takes_whole(tmp_path, capsys):
    """``lab3 submit`` (student side, no grader import) packs lab3/<module>.py and Lab3.ipynb of a lab folder; the
    reader takes all of it, nothing refused, and the same files it takes from the lab folder itself (duplicates,
    stray files, hidden checkpoints and caches around them change nothing). A module the student linked to
    their own file is packed as that file; read as a folder, a link is refused."""
    from lab3.__main__ import make_submission

    lab = _write(tmp_path / "lab", {
        **{f"lab3/{m}.py": f"# {m}\n" for m in GRADED_MODULES if m != "vit"},
        "lab3/utils.py": "# release module\n",
        "attention.py": "# a stray flat copy\n",
        "old/lab3/optim.py": "# an old copy\n",
        "Lab3.ipynb": NB,
        ".ipynb_checkpoints/Lab3-checkpoint.ipynb": NB,
        "lab3/__pycache__/attention.cpython-311.pyc": b"\x00",
    })
    own = _write(tmp_path / "elsewhere", {"vit.py": "# the student's own file\n"}) / "vit.py"
    (lab / "lab3" / "vit.py").symlink_to(own)
    out = tmp_path / "submission.zip"
    assert make_submission(lab, out) == 0
    capsys.readouterr()
    packed = read_submission(out)
    assert packed.found == {m: f"lab3/{m}.py" for m in GRADED_MODULES}
    assert packed.notes == () and packed.ignored == () and packed.shadowed == () and not packed.error
    assert packed.notebook.where == "Lab3.ipynb" and packed.notebook.data == NB
    folder = read_submission(lab)
    assert folder.found == {m: f"lab3/{m}.py" for m in GRADED_MODULES if m != "vit"}
    assert contents(folder) == {m: h for m, h in contents(packed).items() if m != "vit"}
    assert packed.modules["vit"].data == own.read_bytes()
    assert folder.notes == ("lab3/vit.py: not a regular file (symlink or special file), ignored",)
    os.unlink(lab / "lab3" / "vit.py")
    assert make_submission(lab, tmp_path / "again.zip") == 1  # what it would leave out, it refuses to pack
    assert "missing: lab3/vit.py" in capsys.readouterr().err
    assert read_submission(lab).missing == ("vit",)


def test_the_session_gets_the_texts_read_once(read, tmp_path):
    """The trusted session's ``student.source(module)`` is what the reader read, passed along in its options
    (never read again from the staging copy)."""
    from autograder.engine.options import OptionsError, SessionOptions

    sub = read["duplicates"]
    options = SessionOptions(graders=tmp_path, staging=tmp_path, records=tmp_path / "r", log_dir=tmp_path,
                             graded=GRADED_MODULES, missing=sub.missing, sources=sub.sources())
    back = SessionOptions.read(options.write(tmp_path / "config.json"))
    assert back.sources == {"attention": "# lab3 attention\n", "optim": DUPLICATES["a/optim.py"]}
    with pytest.raises(OptionsError):
        SessionOptions(graders=tmp_path, staging=tmp_path, records=tmp_path / "r", log_dir=tmp_path,
                       graded=GRADED_MODULES, sources={"attention": b"bytes"})
