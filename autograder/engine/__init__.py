"""The grading engine behind ``lab3 grade``: trusted pytest session + sandboxed student code.

Public API::

    from autograder.engine import grade_submission, grade_batch
    result = grade_submission(Path("sub.zip"), Path("out/"), only_tags=["mha"])   # -> GradeResult
"""

from autograder.engine.errors import StudentCrash, StudentError, StudentTimeout, SubmissionError
from autograder.engine.grade import GradeResult, TestResult, grade_submission

__all__ = [
    "GradeResult",
    "TestResult",
    "grade_submission",
    "grade_batch",
    "StudentError",
    "StudentTimeout",
    "StudentCrash",
    "SubmissionError",
]


def grade_batch(*args, **kwargs):
    """See :func:`autograder.engine.batch.grade_batch`."""
    from autograder.engine.batch import grade_batch as _grade_batch

    return _grade_batch(*args, **kwargs)
