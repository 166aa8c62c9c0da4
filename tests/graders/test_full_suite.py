"""The whole hidden suite (every tag) on the solution, the blank stubs and a submission missing one module."""

from __future__ import annotations

import json

import pytest
from corpus import solution_modules

from autograder import REPO_ROOT
from autograder.build.mutants import write_submission
from autograder.build.release import build_releases
from autograder.engine import grade_submission

pytestmark = [pytest.mark.slow]
MANIFEST = json.loads((REPO_ROOT / "autograder" / "manifest.json").read_text())
EX2_POINTS = sum(t["points"] for t in MANIFEST["tests"] if "ex2" in t["tags"] and not t["gpu"])


def _check_results_file(out, result):
    data = json.loads((out / "results.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    graded, info = data["tests"][: len(result.tests)], data["tests"][len(result.tests):]
    assert data["score"] == result.score and [t["name"] for t in graded] == [t.name for t in result.tests]
    assert all(t["name"] and t["visibility"] and t["tags"] for t in graded)
    assert all(t["max_score"] == 0 for t in info)  # the notebook's status: information, never points


def test_solution_scores_100(tmp_path):
    sub = write_submission(solution_modules(), tmp_path / "solution")
    result = grade_submission(sub, tmp_path / "out")
    lost = {t.id: t.output for t in result.tests if t.score < t.max_score}
    assert result.max_score == MANIFEST["total_cpu"] == 100
    assert result.score == 100, lost
    _check_results_file(tmp_path / "out", result)


def test_blank_stubs_score_0(tmp_path):
    graded = solution_modules().keys()
    stubs = {rel[5:-3]: data.decode() for rel, data in build_releases(REPO_ROOT).assignments.items()
             if rel.startswith("lab3/") and rel[5:-3] in graded}
    result = grade_submission(write_submission(stubs, tmp_path / "stubs"), tmp_path / "out")
    assert result.score == 0 and result.max_score == 100
    unexplained = [t.output for t in result.tests if not (
        "not implemented yet" in t.output or "NotImplementedError" in t.output
        or t.output.startswith(("skipped", "not run here (no GPU)")))]
    assert not unexplained, unexplained[:3]


def test_missing_module_loses_exactly_its_points(tmp_path):
    modules = solution_modules()
    del modules["transfer"]
    result = grade_submission(write_submission(modules, tmp_path / "partial"), tmp_path / "out",
                              only_tags=["ex2", "ex3"])
    lost = [t for t in result.tests if t.score < t.max_score]
    assert {t.id.split("::")[0] for t in lost} == {"test_ex2_transfer.py"}
    assert result.max_score - result.score == EX2_POINTS == 25
    assert all("transfer.py" in t.output for t in lost)
