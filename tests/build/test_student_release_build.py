"""What the build adds for the student: the rubric of the public tests, the written questions' metadata."""

from __future__ import annotations

import json

import jupytext
import pytest

from autograder.build.markers import MarkerError
from autograder.build.notebook import notebook_releases
from autograder.build.release import public_rubric
from autograder.packaging.nbgrader import PLACEHOLDER

MANIFEST = {"total_cpu": 3, "tests": [
    {"id": "a::t1", "points": 2, "tags": ["ex1", "sdpa"], "gpu": False},
    {"id": "a::t2", "points": 1, "tags": ["ex1", "mha", "sdpa"], "gpu": False},
    {"id": "a::t3", "points": 4, "tags": ["ex3", "amp"], "gpu": True},
]}


def _setup(tmp_path, body: str):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_ex1_public.py").write_text("import pytest\n\n\n" + body)
    (tmp_path / "manifest.json").write_text(json.dumps(MANIFEST))
    return tmp_path / "tests", tmp_path / "manifest.json"


def test_rubric_points_per_area_from_the_manifest(tmp_path):
    tests, manifest = _setup(tmp_path, '@pytest.mark.area("sdpa")\ndef test_a():\n    pass\n')
    rubric = json.loads(public_rubric(tests, manifest))
    assert rubric["total"] == 3
    assert rubric["areas"]["sdpa"] == {"exercise": "ex1", "points": 2, "public_tests": ["test_ex1_public.py::test_a"]}
    assert rubric["areas"]["mha"]["points"] == 1 and "amp" not in rubric["areas"]  # first area tag; CPU only


def test_rubric_refuses_a_public_test_without_a_known_area(tmp_path):
    tests, manifest = _setup(tmp_path, "def test_a():\n    pass\n")
    with pytest.raises(MarkerError, match="no @pytest.mark.area"):
        public_rubric(tests, manifest)
    (tests / "test_ex1_public.py").write_text('import pytest\n\n\n@pytest.mark.area("nope")\ndef test_a():\n    pass\n')
    with pytest.raises(MarkerError, match="'nope' is not a tag"):
        public_rubric(tests, manifest)


MASTER = '''# %% [markdown]
# # Lab

# %% [markdown] lab3={"question": "q-one", "points": 3}
# **Question.** Why?
#
# *Your answer here.*

# %% [markdown] lab3={"question": "q-two", "points": 1}
# **Question.** And this?
#
# ### BEGIN SOLUTION
# Because.
# ### END SOLUTION

# %%
import matplotlib.pyplot as plt
plt.plot([1, 2])
plt.show()
'''


def test_questions_become_manual_grading_cells_and_figures_are_marked():
    try:
        student, solution = notebook_releases(MASTER, "Lab3.py")
    except MarkerError:
        pytest.skip("markdown solution regions are not supported by this build")
    nb = jupytext.reads(student, fmt="ipynb")
    q = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert [c.metadata.nbgrader.grade_id for c in q] == ["q-one", "q-two"]
    assert [c.metadata.nbgrader.points for c in q] == [3, 1]
    assert all(c.metadata.nbgrader.solution and c.source.endswith(PLACEHOLDER) for c in q)
    assert "Because" not in student and q[0].metadata.lab3.prompt == "**Question.** Why?"
    assert "Because." in solution and "BEGIN SOLUTION" not in solution
    assert [c.metadata.lab3.figure for c in nb.cells if "figure" in c.metadata.get("lab3", {})] == ["fig-0"]


def test_bad_question_metadata_fails_the_build():
    with pytest.raises(ValueError, match="points"):
        notebook_releases(MASTER.replace('"points": 3', '"points": "three"'), "Lab3.py")
    with pytest.raises(ValueError, match="unique"):
        notebook_releases(MASTER.replace('"q-two"', '"q-one"'), "Lab3.py")
