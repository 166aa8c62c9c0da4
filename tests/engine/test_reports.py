"""results.json / feedback.md / table / batch reports from synthetic results (no grading)."""

from __future__ import annotations

import json

from autograder.engine.grade import GradeResult, TestResult
from autograder.gradebook.class_outputs import write_batch_reports
from autograder.reports import clean_text, feedback_md, results_json, table, write_results


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
    assert [x["number"] for x in t] == ["1", "3", "2"]  # the visible ones (the GPU one is visible) first
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
    (tmp_path / "skipped.txt").write_text("notes.txt: neither a folder nor a .zip\n"
                                          "README.md: neither a folder nor a .zip\n")
    csv_path, html_path = write_batch_reports(tmp_path)
    rows = csv_path.read_text().splitlines()
    assert rows[1].startswith("alice,graded,2,5,") and rows[2].startswith("bob,error,,,,,")
    assert rows[2].endswith(",0,")  # manual points kept, no final grade
    html = html_path.read_text()
    top = html.index("Not graded")
    assert top < html.index("Score histogram")
    assert "died at start-up" in html[top:] and "notes.txt" in html[top:]  # perhaps a student's: in red
    # a README in the class folder is plainly not a submission: a quiet note, not in the red section
    assert "README.md" not in html[top:] and "<p class=note>Other entries of the class folder" in html[:top]
    assert "<p>1 submissions;" in html  # statistics only over the graded submission


def test_failed_grading_results_json_shows_no_score_as_final():
    res = make_result(score_a=2.0)
    res.status, res.error = "error", "the records file has 1 unreadable line(s)"
    data = results_json(res)
    assert [t["name"] for t in data["tests"]][0].startswith("Grading failed")
    assert len(data["tests"]) == 1 and data["tests"][0]["status"] == "failed"
    assert "NOT your score" in data["output"] and data["extra_data"]["lab3_status"] == "error"
    assert "GRADING FAILED" in table(res)


def _class_result() -> GradeResult:
    """visible 59/62 (a GPU test not run), hidden 31/38, the notebook's status: what a buggy student gets."""
    tests = [TestResult(f"v.py::t{i}", f"visible {i} <b>x</b> | y", 2, 2, "passed", "", "visible", ["ex1", "sdpa"])
             for i in range(29)]
    tests.insert(5, TestResult("v.py::bad", "freeze_backbone: BN stats", 0, 3, "failed",
                               "running_mean moved <by 0.3>", "visible", ["ex2", "freeze"]))
    tests.insert(7, TestResult("v.py::x", "extra one", 1, 1, "passed", "", "visible", ["ex3"]))
    tests.insert(9, TestResult("h.py::h0", "hidden 0", 0, 7, "failed", "secret", "hidden", ["ex2", "freeze"]))
    tests += [TestResult(f"h.py::h{i}", f"hidden {i}", 1, 1, "passed", "", "after_due_date" if i % 2 else "hidden",
                         ["ex1"]) for i in range(1, 32)]
    tests.append(TestResult("g.py::cuda", "AMP on CUDA", 0, 0, "skipped",
                            "not run here (no GPU): 0 of 0 points, not counted", "visible", ["ex3", "amp"]))
    answers = {"notebook": "Lab3.ipynb", "readable": True, "error": "", "notes": [],
               "questions": [{"id": "q1", "points": 2, "answered": True, "prompt": "", "answer": "yes"}],
               "figures": [{"id": "fig-1.2", "present": False, "has_output": False, "images": []}]}
    score = sum(t.score for t in tests)
    return GradeResult("s", score, sum(t.max_score for t in tests), tests, 3.0, answers=answers)


def test_feedback_adds_up():
    res = _class_result()
    assert (res.score, res.max_score) == (90, 100)
    md = feedback_md(res)
    assert "**Score: 90 / 100** (visible tests 59/62; hidden tests 31/38: details after the deadline)" in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and line[2:3].isdigit()]
    assert [int(r.split("|")[1]) for r in rows] == list(range(1, len(rows) + 1))  # no gaps
    points = [r.split("|")[-3].strip() for r in rows]
    counted = [p.split(" / ") for p in points if " / " in p]
    assert (sum(float(a) for a, _ in counted), sum(float(b) for _, b in counted)) == (59, 62)
    assert "| 32 hidden tests | 31 / 38 | details after the deadline |" in md
    assert "| AMP on CUDA | not run here (no GPU): 0 of 0 points, not counted | not run |" in md
    assert "secret" not in md and "hidden 0" not in md
    assert not any(e in md for e in ("&lt;", "&gt;", "&amp;", "&#")), "HTML entities in Markdown"
    assert "visible 0 \\<b>x\\</b> \\| y" in md  # Markdown escapes instead
    assert "### 6. freeze_backbone: BN stats" in md and "running_mean moved <by 0.3>" in md  # its row number


def test_results_json_and_table_number_alike():
    res = _class_result()
    data = results_json(res)
    assert "90 / 100 points (visible tests 59/62; hidden tests 31/38: details after the deadline)" in data["output"]
    tests = sorted(data["tests"], key=lambda t: int(t["number"]))
    assert [t["number"] for t in tests] == [str(i) for i in range(1, len(tests) + 1)]
    kinds = ["hidden" if t["visibility"] != "visible" else "notebook" if t["tags"] == ["notebook"] else "visible"
             for t in tests]
    assert kinds == sorted(kinds, key=["visible", "notebook", "hidden"].index)  # students see 1..k, no gap
    assert [t["name"] for t in data["tests"][:len(res.tests)]] == [t.name for t in res.tests]  # manifest order
    gpu = next(t for t in tests if t["name"] == "AMP on CUDA")
    assert gpu["output"].startswith("not run here (no GPU): 0 of 0 points, not counted") and "status" not in gpu
    number = {t["name"]: t["number"] for t in tests}
    lines = table(res).splitlines()
    for line in lines[:-1]:
        n, name = line.split()[0], next(k for k in number if f" {k[:40]} " in line)
        assert number[name] == n, line
    assert "TOTAL  (visible tests 59/62; hidden tests 31/38" in lines[-1]
    assert "not run here (no GPU)" in next(line for line in lines if "AMP on CUDA" in line)
