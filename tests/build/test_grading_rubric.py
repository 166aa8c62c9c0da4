"""Where students and TAs read the rubric, the points add up: the release's rubric.json (what `lab3 check`
prints), its README and the notebook's wrap-up all give the autograded 100 (and the part in hidden tests)
and the written questions' points, graded by the staff, from the same sources (manifest, notebook metadata)."""

from __future__ import annotations

import json
import re

import pytest

from autograder import REPO_ROOT
from autograder.build.release import build_releases

MANIFEST = json.loads((REPO_ROOT / "autograder" / "manifest.json").read_text())
MASTER = (REPO_ROOT / "source" / "Lab3.py").read_text()
QUESTION_POINTS = [json.loads(line.split(" lab3=", 1)[1])["points"] for line in MASTER.splitlines()
                   if line.startswith("# %% [markdown] lab3=") and '"question"' in line]
HIDDEN = [t for t in MANIFEST["tests"] if t["visibility"] != "visible" and not t["gpu"]]


@pytest.fixture(scope="module")
def built():
    return build_releases(REPO_ROOT)


def test_rubric_has_hidden_points_and_written_questions(built):
    rubric = json.loads(built.assignments["tests/rubric.json"])
    assert rubric["total"] == MANIFEST["total_cpu"] == 100
    assert rubric["hidden"]["points"] == sum(t["points"] for t in HIDDEN) > 0
    assert rubric["hidden"]["tests"] == len(HIDDEN)
    assert sum(a["points"] for a in rubric["hidden"]["areas"].values()) == rubric["hidden"]["points"]
    assert all(a["checks"] for a in rubric["hidden"]["areas"].values())
    written = rubric["written"]
    assert len(QUESTION_POINTS) == len(written["questions"]) == 6
    assert written["points"] == sum(QUESTION_POINTS) == 14 and written["graded_by"] == "the course staff"
    assert rubric["gpu"]["points"] == MANIFEST["total_gpu"]


def test_release_readme_and_wrap_up_give_the_points(built):
    readme = built.assignments["README.md"].decode()
    grading = readme.split("## Grading")[1].split("\n## ")[0]
    hidden = sum(t["points"] for t in HIDDEN)
    assert "<!--" not in readme  # the build filled the section in
    assert "| 100 | the autograder" in grading and f"{100 - hidden} points in tests whose results you see" in grading
    assert f"{hidden} in {len(HIDDEN)} hidden tests" in grading
    assert f"| {sum(QUESTION_POINTS)} | the course staff, by hand" in grading
    wrap_up = MASTER.split("## Wrap-up")[1]
    assert f"| {sum(QUESTION_POINTS)} | the course staff" in wrap_up and "| 100 | the autograder" in wrap_up
    assert f"the {len(QUESTION_POINTS)} written **Question** cells" in wrap_up
    for points in set(QUESTION_POINTS):
        assert f"{points} points" in wrap_up


def test_lab3_check_says_what_the_hidden_tests_hold_once_everything_passes(built):
    from lab3.__main__ import grading_summary

    rubric = json.loads(built.assignments["tests/rubric.json"])
    done = "\n".join(grading_summary(rubric, all_pass=True))
    flat = " ".join(done.split())
    hidden = rubric["hidden"]
    assert f"{hidden['points']} of the 100 autograded points are in {hidden['tests']} hidden tests" in flat
    for area, part in hidden["areas"].items():
        assert re.search(rf"^  {area}\s+{part['points']} pts$", done, re.M), area
    assert "Written questions of Lab3.ipynb: 14 points (6 questions:" in flat and "graded by the course staff" in flat
    assert "ex3-optimization 4" in flat
    todo = " ".join("\n".join(grading_summary(rubric, all_pass=False)).split())
    assert "hidden tests" not in todo and "Written questions of Lab3.ipynb: 14 points" in todo
