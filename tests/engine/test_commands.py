"""The ``lab3 grade`` argument interface and its usage errors (no grading)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from autograder.engine.batch import parse_shard, submission_entries
from autograder.grade_cli import add_grade_arguments, run_grade


def parser():
    p = argparse.ArgumentParser()
    add_grade_arguments(p)
    return p


def test_arguments():
    a = parser().parse_args(["sub.zip", "--out", "o", "--only", "sdpa", "mha", "--timeout-scale", "2"])
    assert a.submission == Path("sub.zip") and a.only == ["sdpa", "mha"] and a.timeout_scale == 2.0
    b = parser().parse_args(["--batch", "d", "--out", "o", "-j", "2", "--shard", "1/3", "--force"])
    assert b.batch == Path("d") and b.jobs == 2 and b.shard == "1/3" and b.force
    with pytest.raises(SystemExit):
        parser().parse_args(["sub"])  # --out is required


@pytest.mark.parametrize(
    "argv",
    [
        ["--out", "o"],
        ["s", "--batch", "d", "--out", "o"],
        ["s", "--out", "o", "--only", "bogus"],
        ["--batch", "/nonexistent", "--out", "o"],
        ["/nonexistent.zip", "--out", "o"],
    ],
)
def test_usage_errors_exit_2(argv, tmp_path, capsys):
    args = parser().parse_args([x.replace("o", str(tmp_path / "o")) if x == "o" else x for x in argv])
    assert run_grade(args) == 2
    assert "lab3 grade:" in capsys.readouterr().err


def test_parse_shard():
    assert parse_shard("2/4") == (2, 4) and parse_shard(None) is None
    for bad in ("0/4", "5/4", "x", "1/0"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_submission_entries(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.zip").write_text("x")
    (tmp_path / "a").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    assert [(i, p.name) for i, p in submission_entries(tmp_path)] == [
        ("a", "a"),
        ("a-2", "a.zip"),
        ("b", "b"),
    ]
