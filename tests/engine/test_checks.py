"""Grader-side checks: messages name what is wrong, where, and the likely mistake."""

from __future__ import annotations

import pytest
import torch

from autograder.graders.checks import (
    GradeFailure,
    check_close,
    check_shape,
    get_tensor,
    max_rel_error,
    rel_error,
)


def test_check_close_passes_and_reports_largest_difference():
    e = torch.zeros(2, 3, dtype=torch.float64)
    check_close(e.clone(), e, rtol=0, atol=0, what="out")
    a = e.clone()
    a[1, 2] = 0.5
    with pytest.raises(GradeFailure, match=r"largest difference 0.5 at index \(1, 2\).*1 of 6"):
        check_close(a, e, rtol=1e-6, atol=1e-6, what="out")


def test_check_close_type_shape_dtype_nan_order():
    e = torch.ones(2, 2, dtype=torch.float64)
    with pytest.raises(GradeFailure, match="expected a torch.Tensor, got list"):
        check_close([1], e, rtol=0, atol=0, what="x")
    with pytest.raises(GradeFailure, match=r"expected shape \(2, 2\), got \(4,\)"):
        check_close(torch.ones(4, dtype=torch.float64), e, rtol=0, atol=0, what="x")
    with pytest.raises(GradeFailure, match="expected dtype float64, got float32"):
        check_close(torch.ones(2, 2), e, rtol=0, atol=0, what="x")
    with pytest.raises(GradeFailure, match="nan"):
        check_close(torch.full((2, 2), float("nan"), dtype=torch.float64), e, rtol=0, atol=0, what="x")


def test_check_close_hints_and_ratio():
    e = torch.randn(3, 4, dtype=torch.float64)
    with pytest.raises(GradeFailure, match="times 8 — a missing or wrong scale"):
        check_close(8 * e, e, rtol=1e-6, atol=1e-9, what="out")
    wrong = e.flip(0)
    with pytest.raises(GradeFailure, match="Likely mistake: rows flipped"):
        check_close(wrong, e, rtol=1e-6, atol=1e-9, what="out", hints=[("rows flipped", wrong)])


def test_get_tensor_and_shape_messages():
    with pytest.raises(GradeFailure, match="got None"):
        get_tensor({"out": None}, "out")
    with pytest.raises(GradeFailure, match="got list"):
        get_tensor({"out": {"not_a_tensor": "list"}}, "out")
    with pytest.raises(GradeFailure, match="no value"):
        get_tensor({}, "out")
    with pytest.raises(GradeFailure, match=r"expected shape \(1,\)"):
        check_shape(torch.zeros(2), (1,), "m")


def test_rel_errors():
    x = torch.tensor([1.0, 2.0])
    assert rel_error(x, x) == 0 and max_rel_error(x, x) == 0
    assert rel_error(x, 2 * x) == pytest.approx(1 / 3)
    assert max_rel_error(x + 0.2, x) == pytest.approx(0.1)
