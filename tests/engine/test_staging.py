"""Submission intake: folder or zip, flat or lab3/, only graded modules, refusals."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from autograder.engine.errors import SubmissionError
from autograder.engine.staging import stage
from autograder.engine.submission import read_submission

REPO = Path(__file__).resolve().parents[2]


def test_folder_prefers_lab3_and_shallowest(tmp_path):
    (tmp_path / "deep" / "lab3").mkdir(parents=True)
    (tmp_path / "lab3").mkdir()
    (tmp_path / "attention.py").write_text("flat")
    (tmp_path / "lab3" / "attention.py").write_text("in lab3")
    (tmp_path / "deep" / "lab3" / "attention.py").write_text("deep")
    (tmp_path / "optim.py").write_text("optim flat")
    (tmp_path / "utils.py").write_text("not graded")
    sub = read_submission(tmp_path)
    assert sub.modules["attention"].data == b"in lab3" and sub.found["attention"] == "lab3/attention.py"
    assert sub.modules["optim"].data == b"optim flat"
    assert "utils" not in sub.modules and sub.notes == ()


def test_folder_refuses_symlink_and_oversized(tmp_path):
    (tmp_path / "attention.py").symlink_to(REPO / "source" / "lab3" / "attention.py")
    (tmp_path / "optim.py").write_text("#" * (2 << 20))
    sub = read_submission(tmp_path)
    assert sub.modules == {}
    assert any("symlink" in n for n in sub.notes) and any("larger" in n for n in sub.notes)


def test_zip_flat_nested_and_traversal(tmp_path):
    z = tmp_path / "s.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("submission/lab3/attention.py", "nested")
        zf.writestr("../evil/positional.py", "evil")
        zf.writestr("/abs/vit.py", "evil")
        zf.writestr("optim.py", "flat")
        zf.writestr("__MACOSX/lab3/._attention.py", "junk")
    sub = read_submission(z)
    assert {m: x.data for m, x in sub.modules.items()} == {"attention": b"nested", "optim": b"flat"}
    assert sum("refused" in n for n in sub.notes) == 2


def test_not_a_submission(tmp_path):
    bad = tmp_path / "x.zip"
    bad.write_text("not a zip")
    assert "not a readable zip archive" in read_submission(bad).error
    with pytest.raises(SubmissionError):
        stage(bad, REPO / "source" / "lab3", tmp_path / "stage")


def test_stage_layout_and_missing_module_never_gets_the_solution(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "optim.py").write_text("X = 1\n")
    staged = stage(sub, REPO / "source" / "lab3", tmp_path / "stage")
    lab3 = staged.root / "release" / "lab3"
    assert (lab3 / "optim.py").read_text() == "X = 1\n"
    assert "attention" in staged.missing
    assert "BEGIN SOLUTION" not in (lab3 / "attention.py").read_text()
    assert (staged.root / "harness" / "autograder" / "child" / "probes" / "attention.py").exists()
    assert not (staged.root / "harness" / "autograder" / "engine").exists()  # nothing of the trusted side
    assert (staged.root / "harness" / "autograder" / "child" / "wire.py").exists()
    assert not (staged.root / "harness" / "autograder" / "graders").exists()
    assert oct(os.stat(staged.root / "work").st_mode & 0o777) == "0o700"
