"""``lab3 selftest``: passes on what the samples must get, fails with a readable diff otherwise."""

from __future__ import annotations

import json

import pytest
from engine_helpers import REPO, make_submission, solution_text

from autograder.engine.grade import GradeResult, TestResult
from autograder.selftest import EXPECTED, diff, expected_problems, invariants, run_selftest


def result(sid: str, scores: dict[str, float], status: str = "graded") -> GradeResult:
    tests = [TestResult(t, t, s, 2, "passed" if s == 2 else "failed", "" if s == 2 else f"{t} is wrong", "visible",
                        ["ex1"]) for t, s in scores.items()]
    return GradeResult(sid, sum(scores.values()), 2 * len(scores), tests, 1.0, status=status,
                       error="boom" if status == "error" else "")


def test_invariants_name_each_broken_promise():
    ok = {"solution": result("solution", {"a": 2, "b": 2}), "blank_stubs": result("blank_stubs", {"a": 0, "b": 0}),
          "buggy": result("buggy", {"a": 2, "b": 0})}
    assert invariants(ok) == []
    bad = {"solution": result("solution", {"a": 2, "b": 0}), "blank_stubs": result("blank_stubs", {"a": 2, "b": 0}),
           "buggy": result("buggy", {"a": 2, "b": 2}), "other": result("other", {"a": 0}, status="error")}
    lines = invariants(bad)
    assert any(x.startswith("solution: 2 / 4, must be full marks") for x in lines)
    assert any(x.startswith("blank_stubs: 2, must be 0") for x in lines)
    assert any("buggy: 4 / 4, a buggy sample must be strictly between" in x for x in lines)
    assert any(x.startswith("other: not graded (error): boom") for x in lines)


def test_diff_names_sample_test_and_message():
    expected = {"samples": {"buggy": {"status": "graded", "total": 2, "tests": {"a": 2, "b": 0}},
                            "gone": {"status": "graded", "total": 0, "tests": {}}}}
    lines = diff(expected, {"buggy": result("buggy", {"a": 0, "b": 0})})
    assert "buggy: a: expected 2, got 0 — a is wrong" in lines
    assert "buggy: total expected 2, got 0" in lines
    assert any(x.startswith("gone: expected, but not graded") for x in lines)


def test_diff_names_a_change_of_the_notebook_status():
    answers = {"notebook": "Lab3.ipynb", "readable": True, "questions": [{"id": "q1", "answered": True}],
               "figures": [{"id": "f1", "present": False}]}
    got = result("solution", {"a": 2})
    got.answers = answers
    want = {"status": "graded", "total": 2, "tests": {"a": 2},
            "notebook": {"submitted": True, "answered": ["q1"], "figures": "0/1"}}
    assert diff({"samples": {"solution": want}}, {"solution": got}) == []
    want["notebook"] = {"submitted": True, "answered": ["q1"], "figures": "1/1"}
    line = diff({"samples": {"solution": want}}, {"solution": got})[0]
    assert line.startswith("solution: notebook (answers, figures)")
    samples = json.loads(EXPECTED.read_text())["samples"]
    assert len(samples["solution"]["notebook"]["answered"]) >= 6
    assert samples["blank_stubs"]["notebook"]["answered"] == []


def test_expected_file_is_in_step_with_samples_and_manifest():
    assert expected_problems(REPO) == []
    samples = json.loads(EXPECTED.read_text())["samples"]
    assert samples["solution"]["total"] == samples["solution"]["max"] == 100
    assert samples["blank_stubs"]["total"] == 0
    assert all(0 < s["total"] < 100 for k, s in samples.items() if k.startswith("buggy"))


@pytest.mark.slow
def test_selftest_fails_with_a_readable_diff_when_a_sample_changes(tmp_path, capsys):
    """A real grading run of a broken 'solution' (causal mask off by one), compared with the recorded
    expectations of the causal-mask tests: exit 1 and a diff line per test that changed."""
    from autograder.engine import grade_submission

    broken = solution_text("attention").replace("diagonal=1", "diagonal=0")
    assert broken != solution_text("attention")
    sub = make_submission(tmp_path / "sub", {"attention": broken})
    out = tmp_path / "out"
    grade_submission(sub, out / "solution", only_tags=["causal_mask"])
    recorded = json.loads(EXPECTED.read_text())["samples"]["solution"]
    causal = {t: s for t, s in recorded["tests"].items() if "causal" in t}
    assert causal
    expected = tmp_path / "expected.json"
    expected.write_text(json.dumps({"samples": {"solution": {"status": "graded", "total": sum(causal.values()),
                                                             "tests": causal}}}))
    code = run_selftest(from_out=out, expected_path=expected)
    err = capsys.readouterr().err
    assert code == 1 and "SELFTEST FAILED" in err
    assert any(f"solution: {t}: expected {s}, got 0" in err for t, s in causal.items())
