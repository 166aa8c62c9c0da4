"""The TA's whole grade, end to end: a batch of sample submissions with notebooks -> grading pages ->
scores entered in a real browser -> final.csv / grades.csv / canvas.csv with the manual points -> a forced
regrade after a grader change -> a diff, and the manual points kept.

Graded with a private copy of the ex1 attention graders, only the ``causal_mask`` and ``sdpa`` tests
(seconds per submission); the notebooks are the generated samples' (the executed solution notebook, a
partly answered one, the release one) and one whose answer tries to run a script.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from autograder.build.examples import partial_notebook
from autograder.engine import manifest as manifest_mod
from autograder.engine.batch import grade_batch
from autograder.gradebook import history
from autograder.gradebook.server import make_server

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "examples" / "submissions"
TAGS = ["causal_mask", "sdpa"]
XSS = ("<script>window.__xss = 1; alert('xss')</script> The LSTM *forgets*: **fixed-size** state. "
       "<img src=x onerror=\"window.__xss = 2\"> [click](javascript:window.__xss=3)")
ROSTER = ("submission,student_id,name,email,section,canvas_id\n"
          "solution,S001,Ada Lovelace,ada@example.edu,A,101\n"
          "buggy_attention_no_scale.zip,S002,Alan Turing,alan@example.edu,A,102\n"
          "mallory,S003,Mallory M,mallory@example.edu,B,103\n"
          "zoe,S004,Zoe Z,zoe@example.edu,B,104\n")
pytestmark = pytest.mark.slow


def _read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


@pytest.fixture(scope="module")
def graders(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("gb_graders")
    for name in ("conftest.py", "test_ex1_attention.py"):
        shutil.copy(REPO / "autograder" / "graders" / name, d / name)
    (d / "manifest.json").write_text(manifest_mod.dumps(manifest_mod.collect(d)))
    return d, d / "manifest.json"


@pytest.fixture(scope="module")
def graded(tmp_path_factory, graders):
    root = tmp_path_factory.mktemp("ta")
    batch = root / "class"
    for name in ("solution", "buggy_attention_no_scale", "blank_stubs"):
        shutil.copytree(SAMPLES / name, batch / name)
    shutil.copytree(SAMPLES / "solution" / "lab3", batch / "mallory" / "lab3")
    release = (SAMPLES / "blank_stubs" / "Lab3.ipynb").read_bytes()
    (batch / "mallory" / "Lab3.ipynb").write_bytes(partial_notebook(release, None, {"ex1-length-sweep": XSS}, ()))
    (batch / "README.md").write_text("# the class folder\n")
    (root / "roster.csv").write_text(ROSTER)
    out = root / "out"
    from autograder.gradebook import roster

    roster.keep(out, root / "roster.csv")
    g, m = graders
    results = grade_batch(batch, out, graders=g, manifest=m, only_tags=TAGS, jobs=2, progress=False)
    return {"root": root, "batch": batch, "out": out, "results": {r.submission: r for r in results}}


@pytest.fixture(scope="module")
def server(graded):
    srv, url = make_server(graded["out"])
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield url
    srv.shutdown()
    srv.server_close()


def _post(url: str, fields: dict[str, str], accept_json: bool = True):
    req = urllib.request.Request(url + "grade", data=urllib.parse.urlencode(fields).encode(),
                                 headers={"Accept": "application/json"} if accept_json else {})
    return urllib.request.urlopen(req, timeout=30)


@pytest.fixture(scope="module")
def entered(graded, server, browser):
    """Grades entered: the solution's five last questions by form posts, then its first in the browser (on the
    page that also shows mallory's answer with a script in it)."""
    page = urllib.request.urlopen(server + "q/ex2-sources", timeout=30).read().decode()
    token = page.split("name=token value='")[1].split("'")[0]
    points = {"ex1-vit-vs-cnn": 2, "ex2-scratch-vs-transfer": 1.5, "ex2-sources": 2, "ex2-finetune-cost": 2,
              "ex3-optimization": 3.5}
    for qid, p in points.items():
        _post(server, {"token": token, "question": qid, "submission": "solution", "points": str(p),
                       "comment": "model answer"})
    shot = graded["root"] / "question.png"
    seen = browser({"url": server, "question": "ex1-length-sweep", "submission": "solution", "points": 1.5,
                    "comment": "Right idea; cite the numbers <3", "other_submission": "blank_stubs",
                    "inspect_submission": "mallory", "screenshot": str(shot)})
    points["ex1-length-sweep"] = 1.5
    # the plain form (no script) saves too and sends the TA back to the same student
    resp = _post(server, {"token": token, "question": "ex2-sources", "submission": "buggy_attention_no_scale",
                          "points": "1", "comment": "vague", "start": "0"}, accept_json=False)
    assert resp.status == 200 and resp.url.endswith("/q/ex2-sources#s-buggy_attention_no_scale")  # after a 303
    return {"browser": seen, "token": token, "solution_points": points, "screenshot": shot}


def test_batch_writes_pages_figure_files_and_a_history(graded):
    out, res = graded["out"], graded["results"]
    assert set(res) == {"solution", "buggy_attention_no_scale", "blank_stubs", "mallory"}
    assert res["solution"].score == res["solution"].max_score > res["buggy_attention_no_scale"].score > 0
    figs = sorted((out / "answers" / "figures" / "solution").glob("*.png"))
    assert len(figs) >= 8 and all(f.stat().st_size > 1000 for f in figs)
    page = (out / "answers.html").read_text()
    assert "data:image" not in page and page.count("loading=lazy") >= len(figs)
    assert "<strong>Model answer" not in page or "Model answer" in page
    assert (out / "answers.html").stat().st_size < 400_000  # the executed notebook is ~1.2 MB; its figures are files
    runs = (out / "history" / "runs.jsonl").read_text().splitlines()
    run = json.loads(runs[-1])
    assert len(run["manifest_sha256"]) == 64 and sorted(run["regraded"]) == sorted(res) and not run["previously_graded"]
    # the stray README is not a submission: a quiet note in the report, never in red
    report = (out / "report.html").read_text()
    assert "README.md" in report and "color:#b00'>Not graded" not in report


def test_scores_entered_in_a_real_browser_are_kept_and_no_student_script_runs(graded, entered):
    seen = entered["browser"]
    assert seen["saved_text"].startswith("saved 2")
    assert seen["rubric_sum"] == "2"  # both rubric items of ex1-length-sweep (1 + 1), from the master
    assert seen["after"]["points"] == "1.5"
    assert seen["after"] == {"points": "1.5", "comment": "Right idea; cite the numbers <3", "state": "graded 1.5 / 2"}
    assert seen["xss_flag"] is None and seen["xss_flag_after"] is None and seen["dialogs"] == []
    assert seen["scripts_in_answers"] == 0 and "&lt;script&gt;" in seen["answer_html"]
    assert "<strong>fixed-size</strong>" in seen["answer_html"] and 'href="javascript' not in seen["answer_html"]
    assert "between 0 and 2" in seen["refused_text"]
    assert seen["figure"]["status"] == 200 and seen["figure"]["type"] == "image/png"
    assert seen["figure"]["bytes"] > 1000 and seen["figure"]["thumb_width"] > 0 and seen["lazy_images"] >= 1
    stored = json.loads((graded["out"] / "manual_grades.json").read_text())["grades"]
    assert stored["ex1-length-sweep"]["solution"] == {"points": 1.5, "comment": "Right idea; cite the numbers <3",
                                                      "updated": stored["ex1-length-sweep"]["solution"]["updated"]}
    assert "blank_stubs" not in stored["ex1-length-sweep"]  # the out-of-range grade was refused


def test_final_grades_and_the_canvas_export_carry_the_manual_points(graded, entered, capsys):
    from autograder.cli import main

    out, res = graded["out"], graded["results"]
    assert main(["answers", "export", str(out), "--assignment", "Lab 3 (555)"]) == 0
    final = {r["id"]: r for r in _read_csv(out / "final.csv")}
    manual_solution = sum(entered["solution_points"].values())
    sol = final["solution"]
    assert (sol["name"], sol["email"], sol["student_id"]) == ("Ada Lovelace", "ada@example.edu", "S001")
    assert float(sol["autograded"]) == res["solution"].score and float(sol["manual"]) == manual_solution
    assert float(sol["final"]) == res["solution"].score + manual_solution and sol["complete"] == "yes"
    assert float(sol["final_max"]) == res["solution"].max_score + 14 and sol["manual:ex3-optimization"] == "3.5"
    assert sol["manual:ex1-length-sweep"] == "1.5"  # entered in the browser
    assert float(sol["ex1"]) == res["solution"].score and float(sol["area:sdpa"]) + float(sol["area:causal_mask"]) \
        == res["solution"].score
    bug = final["buggy_attention_no_scale"]
    assert bug["manual:ex2-sources"] == "1" and bug["manual_graded"] == "1/6" and bug["complete"] == "no"
    assert float(bug["final"]) == res["buggy_attention_no_scale"].score + 1
    assert final["buggy_attention_no_scale"]["name"] == "Alan Turing"  # the roster's "x.zip" names folder x
    assert final["zoe"]["status"] == "missing" and final["zoe"]["final"] == ""
    grades = {r["id"]: r for r in _read_csv(out / "grades.csv")}
    assert grades["solution"]["manual:ex1-length-sweep"] == "1.5" and float(grades["solution"]["final"]) == \
        float(sol["final"])
    canvas = _read_csv(out / "canvas.csv")
    assert list(canvas[0]) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 3 (555)"]
    assert canvas[0]["Student"] == "Points Possible"
    rows = {r["Student"]: r for r in canvas[1:]}
    assert rows["Ada Lovelace"]["Lab 3 (555)"] == sol["final"] and rows["Ada Lovelace"]["ID"] == "101"
    assert rows["Alan Turing"]["Lab 3 (555)"] == ""  # written answers not all graded: no grade sent yet
    assert "without a final grade in canvas.csv" in capsys.readouterr().out
    note = (out / "solution" / "written_feedback.md").read_text()
    assert "12.5 / 14 points (6/6 graded)" in note and "| ex1-length-sweep | 1.5 / 2 | Right idea; cite" in note


def test_forced_regrade_after_a_grader_fix_writes_a_diff_and_keeps_manual_points(graded, graders, entered):
    out = graded["out"]
    g, m = graders
    before_manual = (out / "manual_grades.json").read_bytes()
    old = graded["results"]["buggy_attention_no_scale"]
    lost = next(t for t in old.tests if t.id.endswith("::test_sdpa_no_mask"))
    assert lost.score == 0 and lost.output
    # the grader is "fixed": test_sdpa_no_mask now passes every submission
    path = g / "test_ex1_attention.py"
    text = path.read_text()
    path.write_text(text.replace("def test_sdpa_no_mask(student):\n",
                                 "def test_sdpa_no_mask(student):\n    return  # fixed\n", 1))
    try:
        results = grade_batch(graded["batch"], out, graders=g, manifest=m, only_tags=TAGS, jobs=2, force=True,
                              progress=False, reason="test_sdpa_no_mask was too strict")
    finally:
        path.write_text(text)
    new = {r.submission: r for r in results}
    assert new["buggy_attention_no_scale"].score == old.score + lost.max_score
    run = history.last_run(out)
    assert run["reason"] == "test_sdpa_no_mask was too strict" and run["force"]
    assert sorted(run["previously_graded"]) == sorted(new) and "buggy_attention_no_scale" in run["moved"]
    assert "solution" not in run["moved"]
    moved = json.loads((Path(run["diff"]).parent / "diff.json").read_text())
    entry = next(x for x in moved if x["id"] == "buggy_attention_no_scale")
    assert entry["change"] == lost.max_score
    test = next(t for t in entry["tests"] if t["id"].endswith("::test_sdpa_no_mask"))
    assert (test["old_score"], test["new_score"]) == (0, lost.max_score)
    assert test["old_message"] and test["new_message"] == ""
    md = Path(run["diff"]).read_text()
    assert "test_sdpa_no_mask was too strict" in md and f"+{lost.max_score:g}" in md
    before = json.loads((Path(run["diff"]).parent / "before.json").read_text())
    assert before["buggy_attention_no_scale"]["score"] == old.score  # the previous grades are kept
    # manual points untouched, and in the final grade with the new autograded points
    assert (out / "manual_grades.json").read_bytes() == before_manual
    final = {r["id"]: r for r in _read_csv(out / "final.csv")}
    assert float(final["solution"]["final"]) == new["solution"].score + sum(entered["solution_points"].values())
    assert float(final["buggy_attention_no_scale"]["final"]) == new["buggy_attention_no_scale"].score + 1
    assert len((out / "history" / "runs.jsonl").read_text().splitlines()) == 2


def test_regrade_of_one_student_keeps_the_others(graded, graders):
    out = graded["out"]
    g, m = graders
    before = {sid: (out / sid / "instructor" / "result.json").stat().st_mtime_ns for sid in graded["results"]}
    results = grade_batch(graded["batch"], out, graders=g, manifest=m, only_tags=TAGS, progress=False,
                          regrade=["mallory"], reason="asked by the student")
    assert len(results) == 4
    after = {sid: (out / sid / "instructor" / "result.json").stat().st_mtime_ns for sid in graded["results"]}
    assert [sid for sid in before if before[sid] != after[sid]] == ["mallory"]
    run = history.last_run(out)
    assert run["regraded"] == ["mallory"] and run["previously_graded"] == ["mallory"] and run["moved"] == []
    assert "Regraded 1 submission(s), 0 moved" in Path(run["diff"]).read_text()
