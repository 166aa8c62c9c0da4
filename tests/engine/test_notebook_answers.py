"""The submitted notebook is read, never executed: written answers and figures are reported (0 points).

A student notebook is made from the release notebook (``lab3 build``'s, with its nbgrader metadata), with
some answers written and a figure output saved, as Jupyter would save it.
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from engine_helpers import make_submission, solution_text

from autograder import REPO_ROOT
from autograder.build.release import build_releases
from autograder.engine import notebook_answers as na
from autograder.gradebook.answers_html import write_answers_html
from autograder.reports import written

# a 1x1 PNG
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082")).decode()


@pytest.fixture(scope="module")
def release_nb() -> nbformat.NotebookNode:
    return nbformat.reads(build_releases(REPO_ROOT).assignments["Lab3.ipynb"].decode(), as_version=4)


def student_notebook(release_nb, answers: dict[str, str], figures: int = 1) -> str:
    """The release notebook with ``answers`` (grade_id -> text) written and the first ``figures`` figure
    cells given a saved PNG output."""
    nb = copy.deepcopy(release_nb)
    drawn = 0
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "markdown" and gid in answers:
            cell.source = cell.source.replace(na.PLACEHOLDERS[0], answers[gid])
        if "figure" in cell.metadata.get("lab3", {}) and drawn < figures:
            cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]
            drawn += 1
    return nbformat.writes(nb)


def test_release_questions_carry_nbgrader_manual_grading_metadata(release_nb):
    questions = [c for c in release_nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(questions) >= 6
    ids = [c.metadata.nbgrader.grade_id for c in questions]
    assert len(set(ids)) == len(ids) and "ex1-length-sweep" in ids
    for c in questions:
        meta = c.metadata.nbgrader
        assert c.cell_type == "markdown" and meta.solution and meta.points > 0 and meta.schema_version == 3
        assert "**Question" in c.source and na.PLACEHOLDERS[0] in c.source  # the prompt is kept
        assert c.metadata.lab3.prompt and c.metadata.lab3.prompt in c.source
    assert sum(1 for c in release_nb.cells if "figure" in c.metadata.get("lab3", {})) >= 5


def test_placeholder_is_not_an_answer_and_text_is(release_nb, tmp_path):
    text = student_notebook(release_nb, {"ex1-length-sweep": "The LSTM falls at L = 16; attention <looks up>."})
    sub = make_submission(tmp_path / "s", {"attention": "x = 1\n"})
    (sub / "Lab3.ipynb").write_text(text)
    rep = na.written_answers(sub)
    q = {x["id"]: x for x in rep["questions"]}
    assert q["ex1-length-sweep"]["answered"] and "LSTM falls" in q["ex1-length-sweep"]["answer"]
    assert "**Question" not in q["ex1-length-sweep"]["answer"]
    assert not q["ex1-vit-vs-cnn"]["answered"]
    assert [f["present"] for f in rep["figures"]].count(True) == 1
    assert written.summary(rep) == (f"Written answers: 1 of {len(q)} filled",
                               f"Figures: 1 of {len(rep['figures'])} present")
    assert rep["notes"] == []
    # the same from a zip (lab3 submit's layout), with an answer below the placeholder it kept
    nb = json.loads(text)
    z = tmp_path / "s.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("lab3/attention.py", "x = 1\n")
        zf.writestr("Lab3.ipynb", json.dumps(nb))
    assert na.written_answers(z)["questions"] == rep["questions"]


def test_no_notebook_and_unreadable_notebook(tmp_path):
    sub = make_submission(tmp_path / "s", {"attention": "x = 1\n"})
    rep = na.written_answers(sub)
    assert rep["notebook"] is None and rep["notes"] == [na.NOT_SUBMITTED]
    assert written.results_tests(rep)[0]["name"] == "Written answers and figures: not submitted"
    (sub / "Lab3.ipynb").write_text("{not json")
    rep = na.written_answers(sub)
    assert not rep["readable"] and "could not be read" in rep["notes"][0]


def test_deleted_question_cells_count_as_unanswered(release_nb, tmp_path):
    nb = nbformat.reads(student_notebook(release_nb, {}), as_version=4)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "ex2-sources"]
    sub = make_submission(tmp_path / "s", {})
    (sub / "Lab3.ipynb").write_text(nbformat.writes(nb))
    ref = tmp_path / "release.ipynb"
    ref.write_text(nbformat.writes(release_nb))
    rep = na.written_answers(sub, ref)
    assert {q["id"]: q["answered"] for q in rep["questions"]}["ex2-sources"] is False


def test_answers_html_is_offline_light_and_escaped(release_nb, tmp_path):
    rows = []
    for sid, answers in (("alice", {"ex1-length-sweep": "<script>alert(1)</script> fixed state"}), ("bob", {})):
        sub = make_submission(tmp_path / sid, {})
        (sub / "Lab3.ipynb").write_text(student_notebook(release_nb, answers, figures=1 if sid == "alice" else 0))
        rows.append({"id": sid, "answers": na.written_answers(sub)})
    rows.append({"id": "carol", "answers": na.written_answers(make_submission(tmp_path / "carol", {}))})
    page = write_answers_html(tmp_path, rows).read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; fixed state" in page
    # figures are files opened full size from lazy thumbnails, never inlined (a class of 200 stays light)
    assert "data:image" not in page and "loading=lazy" in page
    fig = next((tmp_path / "answers" / "figures" / "alice").glob("*.png"))
    assert fig.read_bytes() == base64.b64decode(PNG) and f"src='answers/figures/alice/{fig.name}'" in page
    assert "http://" not in page and "https://" not in page
    assert "<strong>Question" in page or "<strong>Questions" in page  # the master's prompt, as Markdown
    assert page.count("not answered") >= 6 and "no notebook submitted" in page
    assert "ex3-optimization" in page


def test_student_submit_and_grader_agree(release_nb, tmp_path):
    """``lab3 submit``'s own reading of the notebook (student side, no autograder) matches the grader's."""
    from lab3.__main__ import notebook_status

    path = tmp_path / "Lab3.ipynb"
    path.write_text(student_notebook(release_nb, {"ex1-vit-vs-cnn": "cats and dogs", "ex3-optimization": "(1) SGD"}))
    mine = notebook_status(path)
    theirs = na.written_answers(tmp_path)
    assert [(q["id"], q["answered"]) for q in mine["questions"]] == [(q["id"], q["answered"]) for q in
                                                                     theirs["questions"]]
    assert [f["present"] for f in mine["figures"]] == [f["present"] for f in theirs["figures"]]


# ------------------------------------------------------------------------- through the grading engine
@pytest.fixture(scope="module")
def graded(release_nb, ex1_graders, tmp_path_factory):
    """The same solution graded with and without the notebook, and the notebook alone (ex1 graders only)."""
    from autograder.engine import grade_submission

    g, m = ex1_graders
    root = tmp_path_factory.mktemp("nbsubs")
    with_nb = make_submission(root / "with_nb", {"attention": solution_text("attention")})
    (with_nb / "Lab3.ipynb").write_text(student_notebook(release_nb, {"ex1-length-sweep": "attention wins"}))
    plain = make_submission(root / "plain", {"attention": solution_text("attention")})
    alone = root / "alone"
    alone.mkdir()
    (alone / "Lab3.ipynb").write_text(student_notebook(release_nb, {}))
    kw = dict(graders=g, manifest=m, only_tags=["causal_mask", "sdpa"])
    return {name: grade_submission(path, root / "out" / name, **kw)
            for name, path in (("with_nb", with_nb), ("plain", plain), ("alone", alone))}


@pytest.mark.slow
def test_notebook_never_changes_the_score(graded):
    a, b = graded["with_nb"], graded["plain"]
    assert a.score == b.score > 0 and a.max_score == b.max_score
    assert [(t.id, t.score, t.status) for t in a.tests] == [(t.id, t.score, t.status) for t in b.tests]
    res = json.loads((Path(a.out) / "results.json").read_text())
    extra = [t for t in res["tests"] if t["tags"] == ["notebook"]]
    assert [t["name"].split(":")[0] for t in extra] == ["Written answers", "Figures"]
    assert extra[0]["name"].startswith("Written answers: 1 of ") and all(t["max_score"] == 0 for t in extra)
    assert all(t["visibility"] == "visible" and "status" not in t for t in extra)
    assert res["score"] == a.score
    detail = res["extra_data"]["written_answers"]["questions"]
    assert {q["id"]: q["answered"] for q in detail}["ex1-length-sweep"] is True
    assert "## Written answers and figures" in (Path(a.out) / "feedback.md").read_text()
    plain = json.loads((Path(b.out) / "results.json").read_text())
    assert na.NOT_SUBMITTED in plain["output"]
    assert plain["tests"][-1]["name"] == "Written answers and figures: not submitted"


@pytest.mark.slow
def test_notebook_alone_scores_zero_and_says_what_to_submit(graded):
    r = graded["alone"]
    assert r.status == "graded" and r.score == 0
    assert r.notes[0] == na.MODULES_MISSING
    res = json.loads((Path(r.out) / "results.json").read_text())
    assert res["score"] == 0 and na.MODULES_MISSING in res["output"]


def test_lab3_grade_on_a_notebook_exits_2(tmp_path):
    nb = tmp_path / "Lab3.ipynb"
    nb.write_text("{}")
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(nb), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "the graded modules are missing: submit the zip that `lab3 submit` makes" in proc.stderr


@pytest.mark.slow
def test_batch_answers_html_csv_columns_and_notebook_entries(release_nb, ex1_graders, tmp_path):
    from autograder.engine.batch import grade_batch

    g, m = ex1_graders
    batch = tmp_path / "batch"
    sub = make_submission(batch / "alice", {"attention": solution_text("attention")})
    (sub / "Lab3.ipynb").write_text(student_notebook(release_nb, {"ex2-sources": "small related wins"}))
    make_submission(batch / "bob", {"attention": solution_text("attention")})
    (batch / "carol.ipynb").write_text(student_notebook(release_nb, {}))
    out = tmp_path / "out"
    grade_batch(batch, out, graders=g, manifest=m, only_tags=["causal_mask"], progress=False)
    lines = (out / "grades.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert "q:ex2-sources" in header and "figures" in header and "notebook" in header
    rows = {line.split(",")[0]: dict(zip(header, line.split(","), strict=True)) for line in lines[1:]}
    assert rows["alice"]["q:ex2-sources"] == "yes" and rows["alice"]["q:ex1-length-sweep"] == "no"
    assert rows["bob"]["notebook"] == "no"
    assert "carol.ipynb: a notebook alone" in (out / "skipped.txt").read_text()
    page = (out / "answers.html").read_text()
    assert "small related wins" in page and "no notebook submitted" in page
