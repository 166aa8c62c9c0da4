"""Probes: small functions that run INSIDE the sandboxed child and return plain data.

A probe lives in ``autograder/probes/<module>.py`` (named after the student module it exercises, so the
engine can report a missing module and pre-import it with its own deadline), imports the student's
``lab3.<module>`` inside the function, builds the student's objects from the given inputs, runs them
and returns a dict of ``str -> torch.Tensor | int | float | bool | str | None | list | dict``.
Graders call them as ``student.call("<module>.<func>", timeout=..., **kwargs)``.

Rules: probes never compare anything (the trusted side does), never read grader files, and copy
any weights they need straight into the documented attributes (not through student helpers).
Helpers shared by probes live here; keep this file free of grader knowledge.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any


def seed(value: int = 0) -> None:
    """Seed torch and random in the child (for code paths that draw random numbers)."""
    import random

    import torch

    random.seed(value)
    torch.manual_seed(value)


@contextlib.contextmanager
def one_thread():
    """Run with one intra-op thread, then restore. Same kernels and summation order as a one-thread
    reference (bfloat16 rounding magnifies any other order), and no OpenMP threads spinning against each
    other on a shared, overloaded machine (that made the transfer probes 5-50x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def single_threaded(fn):
    """Decorator: run ``fn`` under :func:`one_thread`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with one_thread():
            return fn(*args, **kwargs)

    return wrapper


def tensor_or_none(x: Any) -> Any:
    """Pass tensors through (detached, on the CPU); anything else becomes a short type description."""
    import torch

    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        return torch.Tensor.detach(x).cpu()
    return {"not_a_tensor": type(x).__name__}


def pair(result: Any) -> tuple[Any, Any]:
    """Split a student's ``(a, b)`` return value; anything else raises a clear TypeError."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        n = f" of {len(result)} items" if isinstance(result, (tuple, list)) else ""
        raise TypeError(f"expected a tuple (out, weights), but got a {type(result).__name__}{n}")
    return result[0], result[1]
