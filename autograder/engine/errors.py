"""Exceptions that graders see when a call into student code does not return a value.

Each carries a short, student-safe ``message`` (no grader internals); the grading plugin turns any of
them into the failure text of the test. Full details go to the instructor log only.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class of everything the engine raises."""


class SubmissionError(EngineError):
    """The submission itself cannot be used (not a folder/zip, unreadable zip, ...)."""


class GradingFault(EngineError):
    """The trusted side failed (session died, records missing, too little memory, a grader bug).

    Never a grade: ``lab3 grade`` exits 3, ``results.json`` says grading failed, a batch marks the
    submission ``error`` and regrades it next time.
    """


class StudentProblem(EngineError):
    """A call into student code failed; ``message`` is safe to show to the student."""

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # instructor-only


class StudentError(StudentProblem):
    """Student code raised an exception (``exc_type`` its class name, ``message`` a safe summary)."""

    def __init__(
        self,
        message: str,
        *,
        exc_type: str = "Exception",
        exc_message: str = "",
        not_implemented: bool = False,
        where: str = "",
        traceback: str = "",
        detail: str = "",
    ) -> None:
        super().__init__(message, detail=detail)
        self.exc_type = exc_type
        self.exc_message = exc_message
        self.not_implemented = not_implemented
        self.where = where  # e.g. "attention.py, line 40, in scaled_dot_product_attention"
        self.traceback = traceback  # student frames only


class StudentTimeout(StudentProblem):
    """Student code did not finish before the deadline; its process group was killed."""

    def __init__(self, message: str, *, seconds: float, detail: str = "") -> None:
        super().__init__(message, detail=detail)
        self.seconds = seconds


class StudentCrash(StudentProblem):
    """The student process died (exit, signal, out of memory) or broke the protocol."""

    def __init__(self, message: str, *, returncode: int | None = None, detail: str = "") -> None:
        super().__init__(message, detail=detail)
        self.returncode = returncode


class MissingModule(StudentProblem):
    """A graded module is absent from the submission."""


class BadResult(StudentProblem):
    """The values that came back are not what a probe may return (wrong type, shape, dtype, non-finite)."""
