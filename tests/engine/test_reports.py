"""results.json / feedback.md / table / batch reports from synthetic results (no grading)."""

from __future__ import annotations

import json

from autograder.engine.grade import GradeResult, TestResult
from autograder.reports import clean_text, feedback_md, results_json, table, write_results
from autograder.reports.batch import write_batch_reports


def make_result(score_a=2.0, out_a="", name="sub") -> GradeResult:
    tests = [
        TestResult(
            "t.py::a",
            "a visible",
            score_a,
            2,
            "passed" if score_a else "failed",
            out_a,
            "visible",
            ["ex1", "sdpa"],
            0.5,
        ),
        TestResult("t.py::b", "b hidden", 0, 3, "failed", "secret detail", "hidden", ["ex1", "mha"], 1.5),
        TestResult(
            "t.py::g", "g gpu", 0, 0, "skipped", "skipped: needs a CUDA GPU", "visible", ["ex3", "amp"]
        ),
    ]
    return GradeResult(name, sum(t.score for t in tests), 5, tests, 3.2, notes=["note"])


def test_clean_text_strips_escapes_and_caps():
    dirty = "\x1b[31mred\x1b[0m \x1b]0;title\x07ok\x00\x08 \u202eevil\r\nline2" + "A" * 10000
    clean = clean_text(dirty, 100)
    assert clean.startswith("red ok evil\nline2")
    assert len(clean) <= 100 and clean.endswith("[truncated]")
    assert "\x1b" not in clean and "\u202e" not in clean


def test_results_json_is_strict_gradescope(tmp_path):
    res = make_result(out_a="x" * 50000)
    path = write_results(res, tmp_path)
    data = json.loads(path.read_text(), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert data["score"] == 2 and {"execution_time", "output", "tests", "visibility"} <= set(data)
    t = data["tests"]
    assert [x["status"] for x in t[:2]] == ["passed", "failed"] and "status" not in t[2]
    assert t[2]["max_score"] == 0
    assert all(len(x["output"]) <= 4000 for x in t)
    assert results_json(make_result(score_a=float("nan")))["score"] == 0  # never NaN


def test_feedback_hides_hidden_tests():
    md = feedback_md(make_result(score_a=0, out_a="fix | this <b>"))
    assert "secret detail" not in md and "1 hidden test" in md
    assert "fix \\| this &lt;b&gt;" in md or "fix | this <b>" in md.split("```text")[1]


def test_table_lists_every_test():
    text = table(make_result())
    assert text.count("\n") == 3 and "TOTAL" in text


def test_batch_reports(tmp_path):
    for i, s in enumerate([2.0, 0.0, 2.0]):
        d = tmp_path / f"s{i}" / "instructor"
        d.mkdir(parents=True)
        (d / "result.json").write_text(json.dumps(make_result(score_a=s, out_a="wrong by 8.0x").to_dict()))
    csv_path, html_path = write_batch_reports(tmp_path, wall_s=1.0, jobs=2)
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("id,status,total,max,a,b,g,manual:") and rows[0].endswith(",manual,final")
    assert rows[1].startswith("s0,graded,2,5,2,0,0,") and rows[1].endswith(",0,2") and len(rows) == 4
    html = html_path.read_text()
    assert html.count("data:image/png;base64,") == 2
    assert "wrong by 8.0x" in html and "secret detail" in html  # instructor report shows all failures
    assert "<script" not in html
    assert html.count("<h2>Pass rate per test</h2>") == 1 and "Not graded" not in html


def test_batch_reports_put_not_graded_first_and_never_score_them(tmp_path):
    ok = make_result(score_a=2.0)
    broken = make_result(score_a=2.0)
    broken.status, broken.error = "error", "the grading session died at start-up (exit code 1)"
    for sid, res in (("alice", ok), ("bob", broken)):
        d = tmp_path / sid / "instructor"
        d.mkdir(parents=True)
        (d / "result.json").write_text(json.dumps(res.to_dict()))
    (tmp_path / "skipped.txt").write_text("notes.txt: neither a folder nor a .zip\n")
    csv_path, html_path = write_batch_reports(tmp_path)
    rows = csv_path.read_text().splitlines()
    assert rows[1].startswith("alice,graded,2,5,") and rows[2].startswith("bob,error,,,,,")
    assert rows[2].endswith(",0,")  # manual points kept, no final grade
    html = html_path.read_text()
    top = html.index("Not graded")
    assert top < html.index("Score histogram")
    assert "died at start-up" in html[top:] and "notes.txt" in html[top:]
    assert "<p>1 submissions;" in html  # statistics only over the graded submission


def test_failed_grading_results_json_shows_no_score_as_final():
    res = make_result(score_a=2.0)
    res.status, res.error = "error", "the records file has 1 unreadable line(s)"
    data = results_json(res)
    assert [t["name"] for t in data["tests"]][0].startswith("Grading failed")
    assert len(data["tests"]) == 1 and data["tests"][0]["status"] == "failed"
    assert "NOT your score" in data["output"] and data["extra_data"]["lab3_status"] == "error"
    assert "GRADING FAILED" in table(res)
