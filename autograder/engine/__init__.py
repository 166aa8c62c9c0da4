"""The grading engine behind ``lab3 grade``: trusted pytest session + sandboxed student code.

Public API::

    from autograder.engine import grade_submission, grade_batch
    result = grade_submission(Path("sub.zip"), Path("out/"), only_tags=["mha"])   # -> GradeResult
    results = grade_batch(Path("class/"), Path("out/"), jobs=2)                    # -> [GradeResult]

Both build a :class:`GradeRequest` (validated once, every path absolute) and grade it; ``grade_request`` and
``grade_batch_request`` take one built elsewhere (``lab3 grade``, the Gradescope entry).
"""

from autograder.engine.batch import grade_batch, grade_batch_request
from autograder.engine.errors import StudentCrash, StudentError, StudentTimeout, SubmissionError
from autograder.engine.grade import GradeResult, TestResult, grade_request, grade_submission
from autograder.engine.request import GradeRequest, RequestError

__all__ = [
    "GradeResult",
    "TestResult",
    "grade_submission",
    "grade_request",
    "GradeRequest",
    "RequestError",
    "grade_batch",
    "grade_batch_request",
    "StudentError",
    "StudentTimeout",
    "StudentCrash",
    "SubmissionError",
]
