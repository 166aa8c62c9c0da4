"""A submission missing one module loses exactly that module's points, with a message naming the file.

The whole suite on the solution (100) and on the blank stubs (0) is graded once, with the demo's batch:
``tests/engine/test_trustworthy_grades.py``.
"""

from __future__ import annotations

import json

import pytest
from corpus import solution_modules

from autograder import REPO_ROOT
from autograder.build.mutants import write_submission
from autograder.engine import grade_submission

pytestmark = [pytest.mark.slow]
MANIFEST = json.loads((REPO_ROOT / "autograder" / "manifest.json").read_text())
EX2_POINTS = sum(t["points"] for t in MANIFEST["tests"] if "ex2" in t["tags"] and not t["gpu"])


def test_missing_module_loses_exactly_its_points(tmp_path):
    modules = solution_modules()
    del modules["transfer"]
    result = grade_submission(write_submission(modules, tmp_path / "partial"), tmp_path / "out",
                              only_tags=["ex2", "ex3"])
    lost = [t for t in result.tests if t.score < t.max_score]
    assert {t.id.split("::")[0] for t in lost} == {"test_ex2_transfer.py"}
    assert result.max_score - result.score == EX2_POINTS == 25
    assert all("transfer.py" in t.output for t in lost)
