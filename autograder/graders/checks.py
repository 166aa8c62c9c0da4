"""Checks for hidden graders: type -> shape -> dtype -> finiteness -> values, with diagnoses.

Every check raises :class:`GradeFailure` with a student-facing message (never a grader traceback).
Values returned by ``student.call`` are plain data (tensors rebuilt from bytes on the trusted side);
use :func:`get_tensor` to pull a tensor out of a probe result before comparing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np
import torch

from autograder.engine.errors import GradingFault
from autograder.engine.plugin import GradeFailure
from autograder.settings import value

__all__ = [
    "GradeFailure",
    "fail",
    "get_tensor",
    "check_shape",
    "check_dtype",
    "check_finite",
    "check_close",
    "rel_error",
    "max_rel_error",
    "describe_index",
]


def fail(msg: str) -> NoReturn:
    """Fail the current test with ``msg`` (shown to the student)."""
    raise GradeFailure(msg)


def get_tensor(result: Any, key: str, what: str | None = None) -> torch.Tensor:
    """``result[key]`` as a tensor, or a failure that says what came back instead."""
    what = what or key
    if not isinstance(result, dict) or key not in result:
        fail(f"{what}: no value came back from your code")
    value = result[key]
    if value is None:
        fail(f"{what}: expected a tensor, got None")
    if isinstance(value, dict) and "not_a_tensor" in value:
        fail(f"{what}: expected a torch.Tensor, got {str(value['not_a_tensor'])[:60]}")
    if type(value) is not torch.Tensor:
        fail(f"{what}: expected a torch.Tensor, got {type(value).__name__}")
    return value


def check_shape(t: torch.Tensor, shape: Sequence[int], what: str) -> None:
    if type(t) is not torch.Tensor:
        fail(f"{what}: expected a torch.Tensor, got {type(t).__name__}")
    if tuple(t.shape) != tuple(shape):
        fail(f"{what}: expected shape {tuple(shape)}, got {tuple(t.shape)}")


def check_dtype(t: torch.Tensor, dtype: torch.dtype, what: str) -> None:
    if t.dtype != dtype:
        fail(
            f"{what}: expected dtype {str(dtype).replace('torch.', '')}, "
            f"got {str(t.dtype).replace('torch.', '')}"
        )


def describe_index(flat_index: int, shape: Sequence[int]) -> tuple[int, ...]:
    idx = []
    for size in reversed(list(shape)):
        idx.append(flat_index % max(size, 1))
        flat_index //= max(size, 1)
    return tuple(reversed(idx))


def check_finite(t: torch.Tensor, what: str, expected: torch.Tensor | None = None) -> None:
    """NaN/inf where the reference is finite (or anywhere, without a reference) fails."""
    if not (t.is_floating_point() or t.is_complex()):
        return
    bad = ~torch.isfinite(t)
    if expected is not None:
        bad &= torch.isfinite(expected)
    if bool(bad.any()):
        i = int(bad.reshape(-1).nonzero()[0])
        val = t.reshape(-1)[i].item()
        fail(
            f"{what}: contains {val} at index {describe_index(i, t.shape)} "
            f"({int(bad.sum())} non-finite values)"
            " — a mask filled with -inf on a whole row, or a division by zero?"
        )


def rel_error(x: torch.Tensor, y: torch.Tensor) -> float:
    """CS231n's relative error: max |x - y| / max(1e-8, |x| + |y|)."""
    x, y = x.double(), y.double()
    return (
        float((torch.abs(x - y) / torch.clamp(torch.abs(x) + torch.abs(y), min=1e-8)).max())
        if x.numel()
        else 0.0
    )


def max_rel_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |a - e| / max |e| (scale-aware, robust to near-zero entries)."""
    a, e = actual.double(), expected.double()
    if not e.numel():
        return 0.0
    fin = torch.isfinite(e)
    if not bool(fin.any()):
        return 0.0
    scale = float(e[fin].abs().max()) or 1.0
    return float((a[fin] - e[fin]).abs().max()) / scale


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def check_close(
    actual: Any,
    expected: torch.Tensor,
    *,
    rtol: float,
    atol: float,
    what: str,
    hints: Sequence[tuple[str, torch.Tensor]] | None = None,
    dtype: bool = True,
) -> None:
    """Fail unless ``actual`` matches ``expected``: type, shape, dtype, finiteness, then values.

    ``hints``: ``(likely mistake, what that mistake would produce)`` pairs; when ``actual`` matches one
    of them, the message names the mistake. A constant ratio between the two is reported as well.
    """
    if type(actual) is not torch.Tensor:
        fail(f"{what}: expected a torch.Tensor, got {type(actual).__name__}")
    check_shape(actual, expected.shape, what)
    if dtype:
        check_dtype(actual, expected.dtype, what)
    if actual.is_floating_point() and not bool(torch.isfinite(actual).all()):
        # A NaN/inf pattern that one known mistake reproduces is diagnosed as that mistake.
        for mistake, candidate in hints or []:
            try:
                if (candidate is not None and tuple(candidate.shape) == tuple(expected.shape)
                        and torch.allclose(actual.double(), candidate.double(), rtol=max(rtol, 1e-6),
                                           atol=max(atol, 1e-6), equal_nan=True)):
                    fail(f"{what}: contains NaN/inf where the reference is finite. Likely mistake: {mistake}")
            except RuntimeError:
                continue
    check_finite(actual, what, expected)
    a, e = actual.to(torch.float64) if actual.is_floating_point() else actual, expected
    if not a.is_floating_point():
        a = a.double()
    e = e.double() if not e.is_complex() else e
    if torch.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
        return
    both_inf = torch.isinf(e) & (a == e)
    diff = (a - e).abs()
    diff[both_inf | (torch.isnan(e) & torch.isnan(a))] = 0
    i = int(diff.reshape(-1).argmax())
    idx = describe_index(i, e.shape)
    bad = int((diff > atol + rtol * e.abs()).sum())
    msg = (
        f"{what} differs from the reference: largest difference {_fmt(float(diff.reshape(-1)[i]))} "
        f"at index {idx}"
        f" (got {_fmt(float(a.reshape(-1)[i]))}, expected {_fmt(float(e.reshape(-1)[i]))}); "
        f"{bad} of {e.numel()} values off"
    )
    for mistake, candidate in hints or []:
        try:
            if (
                candidate is not None
                and tuple(candidate.shape) == tuple(e.shape)
                and torch.allclose(a, candidate.double(), rtol=max(rtol, 1e-6), atol=max(atol, 1e-6))
            ):
                msg += f". Likely mistake: {mistake}"
                break
        except RuntimeError:
            continue
    else:
        fin = torch.isfinite(e) & torch.isfinite(a)
        if bool(fin.any()):
            ee, aa = e[fin], a[fin]
            denom = float((ee * ee).sum())
            if denom > 0:
                c = float((aa * ee).sum()) / denom
                if abs(c - 1) > 1e-3 and abs(c) > 1e-6 and torch.allclose(aa, c * ee, rtol=1e-4, atol=1e-7):
                    msg += f". Your values are the reference times {c:.4g} — a missing or wrong scale factor?"
    fail(msg)


def cifar10_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The verified CIFAR-10 cache written by ``lab3 data``, read on the trusted side only:
    ``(train images (50000, 32, 32, 3) uint8 memory-mapped, train labels, test images (mmap), test labels)``."""
    root = value("LAB3_DATA_DIR") / "cifar10"
    try:
        return (np.load(root / "train_images.npy", mmap_mode="r"), np.load(root / "train_labels.npy"),
                np.load(root / "test_images.npy", mmap_mode="r"), np.load(root / "test_labels.npy"))
    except OSError as exc:  # the grader's own data: a fault of the grading machine, never a grade
        raise GradingFault(f"grader setup: CIFAR-10 not found under {root} (run `lab3 data`)") from exc
