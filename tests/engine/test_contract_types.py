"""The grading contract as types: the request (GradeRequest), the records' kinds, the wire's kinds and the
output folder's file names (OutDir) are each defined once and used on both sides (no grading here)."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
from pathlib import Path

import pytest
from engine_helpers import REPO

from autograder.child.wire import Kind
from autograder.engine.records import RecordKind, append_record, of_kind, read_records
from autograder.engine.request import GradeRequest, RequestError
from autograder.grade_cli import add_grade_arguments
from autograder.outdir import OutDir, SubmissionOut

AUTOGRADER = REPO / "autograder"


def _strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string constant of a module that is not a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def _modules(*skip: str) -> list[Path]:
    return [p for p in sorted(AUTOGRADER.rglob("*.py"))
            if "templates" not in p.parts and p.relative_to(AUTOGRADER).as_posix() not in skip]


# ------------------------------------------------------------------------------------------------ the request
def test_a_request_makes_every_path_absolute_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = GradeRequest(out=Path("out"), submission=Path("sub.zip"), release=Path("rel"), only_tags=["mha"])
    assert r.out == tmp_path / "out" and r.submission == tmp_path / "sub.zip" and r.release == tmp_path / "rel"
    assert r.only_tags == ("mha",) and r.batch is None and not r.is_batch
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.out = Path("elsewhere")  # type: ignore[misc]
    entry = GradeRequest(out="class_out", batch="class", jobs=2, force=True).for_entry(Path("a"), Path("o/a"))
    assert entry.submission == tmp_path / "a" and entry.out == tmp_path / "o" / "a"
    assert entry.batch is None and entry.jobs == 1 and not entry.force


@pytest.mark.parametrize("kwargs, message", [
    ({"out": "o"}, "give either SUBMISSION or --batch DIR"),
    ({"out": "o", "submission": "s", "batch": "b"}, "give either SUBMISSION or --batch DIR"),
    ({"out": "o", "submission": "s", "only_tags": ["bogus"]}, "unknown tag(s) ['bogus']"),
    ({"out": "o", "submission": "s", "timeout_scale": 0}, "--timeout-scale must be positive"),
    ({"out": "o", "submission": "s", "session_timeout": -1}, "session timeout must be positive"),
    ({"out": "o", "batch": "b", "shard": (3, 2)}, "--shard must be i/n"),
])
def test_a_request_that_breaks_a_rule_is_refused_with_the_usage_message(kwargs, message):
    with pytest.raises(RequestError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        GradeRequest(**kwargs)


def test_the_cli_builds_its_request_from_the_arguments(tmp_path):
    parser = argparse.ArgumentParser()
    add_grade_arguments(parser)
    args = parser.parse_args(["--batch", str(tmp_path), "--out", "o", "-j", "2", "--shard", "2/3", "--only", "sdpa",
                              "--regrade", "a", "b", "--reason", "why"])
    r = GradeRequest.from_args(args)
    assert r.batch == tmp_path and r.out == Path("o").absolute() and r.jobs == 2 and r.shard == (2, 3)
    assert r.only_tags == ("sdpa",) and r.regrade == ("a", "b") and r.reason == "why"
    single = GradeRequest.from_args(parser.parse_args(["sub", "--out", "o", "-j", "3"]))
    assert single.batch_only_options() == ["-j"]


def test_no_door_makes_out_absolute_itself():
    """``out`` is made absolute in the request only (it used to be done by the CLI, the batch and the API)."""
    doors = [AUTOGRADER / "grade_cli.py", AUTOGRADER / "engine" / "grade.py", AUTOGRADER / "engine" / "batch.py",
             *sorted((AUTOGRADER / "packaging").glob("*.py"))]
    offenders = []
    for path in doors:
        text = path.read_text(encoding="utf-8")
        for needle in ("absolute(out)", "out.expanduser().absolute()", "args.out.absolute()"):
            if needle in text:
                offenders.append(f"{path.relative_to(REPO)}: {needle}")
    assert not offenders, offenders


# ------------------------------------------------------------------------------------------------ the records
def test_records_round_trip_with_the_same_bytes(tmp_path):
    path = tmp_path / "records.jsonl"
    append_record(path, RecordKind.HEADER, gpu=False)
    append_record(path, RecordKind.TEST, id="t", outcome="passed")
    with open(path, "a") as fh:
        fh.write("{broken\n")
    append_record(path, RecordKind.FOOTER, exitstatus=0)
    assert path.read_text().splitlines()[0] == json.dumps({"type": "header", "gpu": False})
    records = read_records(path)
    assert [r["type"] for r in records] == ["header", "test", "corrupt", "footer"]
    assert of_kind(records, RecordKind.TEST) == [{"type": "test", "id": "t", "outcome": "passed"}]


def test_record_kinds_are_spelled_only_in_their_module():
    kinds = {k.value for k in RecordKind}
    offenders = []
    for rel in ("engine/plugin.py", "engine/grade.py"):
        tree = ast.parse((AUTOGRADER / rel).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "type" and isinstance(value, ast.Constant):
                        offenders.append(f"{rel}:{node.lineno}: {value.value!r}")
            if isinstance(node, ast.Compare) and any(
                    isinstance(c, ast.Constant) and c.value in kinds for c in [node.left, *node.comparators]):
                offenders.append(f"{rel}:{node.lineno}: a comparison with a bare kind")
    assert not offenders, offenders


# ------------------------------------------------------------------------------------------------ the wire
def test_wire_kinds_are_spelled_only_in_the_wire_module():
    """The child and the engine send and compare ``wire.Kind`` members, never bare strings."""
    kinds = {k.value for k in Kind}
    offenders = []
    for rel in ("child/main.py", "engine/sandbox.py", "engine/plugin.py"):
        tree = ast.parse((AUTOGRADER / rel).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("encode", "request") and node.args:
                if isinstance(node.args[0], ast.Constant):
                    offenders.append(f"{rel}:{node.lineno}: sends {node.args[0].value!r}")
            if isinstance(node, ast.Compare) and any(isinstance(n, ast.Name) and n.id in ("kind", "rkind")
                                                     for n in [node.left, *node.comparators]):
                if any(isinstance(c, ast.Constant) and c.value in kinds for c in [node.left, *node.comparators]):
                    offenders.append(f"{rel}:{node.lineno}: compares a kind with a bare string")
    assert not offenders, offenders
    assert Kind.OK == "ok" and json.dumps({"kind": Kind.CALL}) == '{"kind": "call"}'


# ------------------------------------------------------------------------------------------------ the output folder
FILE_NAMES = ("results.json", "feedback.md", "written_feedback.md", "result.json", "skipped.txt", "grades.csv",
              "report.html", "answers.html", "final.csv", "canvas.csv", "manual_grades.json", "roster.csv",
              "log.txt", "records.jsonl", "batch_error.txt", "entry_error.txt", "session.out.txt", "config.json",
              "entry.log", "session.log")


def test_output_file_names_are_spelled_only_in_outdir():
    """No module but autograder/outdir.py names a file of an output folder in code (docstrings, help texts and
    messages that mention one are prose)."""
    offenders = []
    for path in _modules("outdir.py"):
        for line, text in _strings(path):
            if " " in text:  # prose: a help text or a message that mentions a file
                continue
            if any(text == name or text.endswith("/" + name) for name in FILE_NAMES) or text == "instructor":
                offenders.append(f"{path.relative_to(REPO)}:{line}: {text!r}")
    assert not offenders, offenders


def test_outdir_names_and_loads_a_batch_folder(tmp_path):
    files = OutDir(tmp_path)
    for sid, data in (("b", {"score": 2}), ("a", {"score": 1})):
        sub = files.submission(sid)
        sub.instructor.mkdir(parents=True)
        sub.result_json.write_text(json.dumps(data))
    broken = files.submission("c")
    broken.instructor.mkdir(parents=True)
    broken.result_json.write_text("{not json")
    assert files.graded_ids() == ["a", "b", "c"]
    assert files.load_rows() == [{"score": 1, "id": "a"}, {"score": 2, "id": "b"}]
    assert files.load_skipped() == []
    files.write_skipped(["x.txt: neither a folder nor a .zip"])
    assert files.load_skipped() == ["x.txt: neither a folder nor a .zip"]
    assert files.submission("a").result_json == tmp_path / "a" / "instructor" / "result.json"
    assert not files.submission("a").has_result()  # no results.json yet
    assert SubmissionOut(tmp_path / "a").results_json.name == "results.json"
    assert set(OutDir.RESERVED) == {"answers", "history"}


# ------------------------------------------------------------------------------------------------ the Gradescope door
def test_the_gradescope_entry_builds_its_request_from_the_settings(tmp_path, monkeypatch):
    from autograder.packaging import gradescope_entry as entry

    monkeypatch.setenv("LAB3_TIMEOUT_SCALE", "2")
    monkeypatch.setenv("LAB3_SESSION_TIMEOUT", "30")
    r = entry.request_from_settings(tmp_path / "sub", tmp_path / "out", ["sdpa"])
    assert (r.timeout_scale, r.session_timeout, r.only_tags, r.out) == (2.0, 30.0, ("sdpa",), tmp_path / "out")
    monkeypatch.setenv("LAB3_TIMEOUT_SCALE", "0")
    with pytest.raises(RequestError, match="must be positive"):
        entry.request_from_settings(tmp_path / "sub", tmp_path / "out")


@pytest.mark.parametrize("env, only, message", [
    ({"LAB3_TIMEOUT_SCALE": "fast"}, None, "ValueError"),
    ({"LAB3_SESSION_TIMEOUT": "-5"}, None, "session timeout must be positive"),
    ({}, ["bogus"], "unknown tag"),
])
def test_a_bad_setting_is_a_failed_autograder_not_a_grade(tmp_path, monkeypatch, env, only, message):
    from autograder.packaging import gradescope_entry as entry

    for name, text in env.items():
        monkeypatch.setenv(name, text)
    (tmp_path / "sub").mkdir()
    results = tmp_path / "results.json"
    results.write_text("{}")  # a stale file is never left behind
    with pytest.raises(entry.AutograderFailure, match=message):
        entry.grade(tmp_path / "sub", results, tmp_path / "out", only)
    assert not results.exists()
    assert SubmissionOut(tmp_path / "out").entry_error.exists()
