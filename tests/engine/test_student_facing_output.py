"""Student-facing output is clean: only the TODO stub reads "not implemented yet", each message says its point
once, a skipped CUDA test is never a problem to fix, one heading per report section."""

from __future__ import annotations

import re

import pytest
from engine_helpers import make_submission, solution_text

from autograder.child.main import is_todo_stub
from autograder.engine.grade import GradeResult, TestResult
from autograder.engine.sandbox import _student_error
from autograder.reports import feedback_md

STUB = "MultiHeadAttention.forward (lab3/attention.py) is not implemented yet: see its docstring"
TORCH = "\"bitwise_or_cpu\" not implemented for 'Double'"


def test_only_the_stub_reads_not_implemented_yet():
    assert is_todo_stub(NotImplementedError(STUB), STUB)
    assert is_todo_stub(NotImplementedError(), "")  # a bare `raise NotImplementedError` left by the student
    assert not is_todo_stub(NotImplementedError(TORCH), TORCH)  # torch's, inside a finished function
    assert not is_todo_stub(ValueError(STUB), STUB)


def test_messages_say_it_once():
    err = _student_error({"exc_type": "NotImplementedError", "message": STUB, "not_implemented": True,
                          "file": "attention.py", "function": "MultiHeadAttention.forward",
                          "frames": ["attention.py, line 90, in forward"]})
    assert str(err) == STUB and str(err).count("not implemented yet") == 1
    err = _student_error({"exc_type": "NotImplementedError", "message": TORCH, "not_implemented": False,
                          "file": "attention.py", "function": "causal_mask",
                          "frames": ["attention.py, line 44, in causal_mask"]})
    assert str(err) == f"attention.py, line 44, in causal_mask: NotImplementedError: {TORCH}"
    assert "not implemented yet" not in str(err) and not err.not_implemented


def _result(tests: list[TestResult]) -> GradeResult:
    return GradeResult(submission="s", score=0, max_score=3, tests=tests, execution_time=1.0)


def test_feedback_lists_no_skipped_cuda_test_under_what_to_fix():
    tests = [
        TestResult("a::t1", "sdpa: output", 0, 2, "failed", "sdpa: weights differ by 8.0x", "visible", ["ex1"]),
        TestResult("a::t2", "AMP on CUDA", 0, 0, "skipped",
                   "skipped: needs a CUDA GPU; none on the grading machine (not counted)", "visible", ["ex3"]),
    ]
    text = feedback_md(_result(tests))
    fix = text.split("## What to fix")[1]
    assert "sdpa: output" in fix and "AMP on CUDA" not in fix
    assert text.count("weights differ by 8.0x") == 1


def test_report_html_one_heading_per_section(tmp_path):
    from autograder.reports.per_class import write_report_html

    rows = [{"id": f"s{i}", "status": "graded", "score": s, "max_score": 3, "execution_time": 1.0, "notes": [],
             "tests": [{"id": "a::t1", "name": "t1", "score": s, "max_score": 3,
                        "status": "passed" if s else "failed", "output": "" if s else "wrong by 2.0x",
                        "duration": 0.1}]} for i, s in enumerate((0, 3, 3))]
    page = write_report_html(tmp_path, rows).read_text()
    headings = re.findall(r"<h2[^>]*>(.*?)</h2>", page)
    assert len(headings) == len(set(headings)), headings
    assert headings.count("Pass rate per test") == 1


@pytest.mark.slow
def test_torch_not_implemented_error_is_reported_as_itself(ex1_graders, tmp_path):
    """A finished causal_mask that hits torch's NotImplementedError: the student sees torch's error."""
    from autograder.engine import grade_submission

    text = solution_text("attention").replace(
        "def causal_mask(size", "def _solution_causal_mask(size", 1) + '''

def causal_mask(size, device=None):
    import torch

    rows = torch.arange(size, device=device, dtype=torch.float64)
    return (rows[None, :] > rows[:, None]) | (rows[None, :] > rows[:, None] + 1)  # bool | bool is fine ...
'''
    text = text.replace("(rows[None, :] > rows[:, None]) | (rows[None, :] > rows[:, None] + 1)",
                        "(rows[None, :] | rows[:, None]) > 0")  # ... float64 | float64 is torch's NotImplementedError
    sub = make_submission(tmp_path / "sub", {"attention": text})
    g, m = ex1_graders
    r = grade_submission(sub, tmp_path / "out", graders=g, manifest=m, only_tags=["causal_mask"])
    failed = [t for t in r.tests if t.status == "failed"]
    assert failed
    for t in failed:
        assert "not implemented yet" not in t.output, t.output
        assert "bitwise_or" in t.output and "NotImplementedError" in t.output, t.output
