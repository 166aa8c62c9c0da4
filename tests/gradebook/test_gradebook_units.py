"""The gradebook's parts on synthetic batches (no grading): grade file, roster, final grade, Canvas export,
regrade diff, the server's guards, Markdown rendering."""

from __future__ import annotations

import csv
import io
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from autograder.gradebook import final, history, roster, store
from autograder.gradebook.markdown import render
from autograder.gradebook.questions import Question, RubricItem, master_questions
from autograder.gradebook.server import make_server

Q = "ex1-length-sweep"  # a question of the master (2 points)
QUESTIONS = [Question("q1", 2, "**Why?**", "Because."), Question("q2", 4, "How?", rubric=[RubricItem(1, "x")])]


def _test(tid: str, score: float, max_score: float, tags: list[str], status: str = "", output: str = "") -> dict:
    return {"id": tid, "name": tid, "score": score, "max_score": max_score, "tags": tags, "output": output,
            "status": status or ("passed" if score == max_score else "failed"), "visibility": "visible"}


def _row(sid: str, status: str = "graded", s1: float = 2, answer: str = "my answer") -> dict:
    tests = [_test("a.py::t1", s1, 2, ["ex1", "sdpa"]), _test("a.py::t2", 3, 3, ["ex1", "mha"]),
             _test("b.py::t3", 0, 5, ["ex3", "amp"], output="not implemented yet")]
    return {"id": sid, "status": status, "score": s1 + 3, "max_score": 10, "tests": tests,
            "answers": {"notebook": "Lab3.ipynb", "readable": True, "figures": [],
                        "questions": [{"id": Q, "points": 2, "answered": True, "answer": answer}]}}


def _batch(out: Path, rows: list[dict]) -> None:
    for r in rows:
        d = out / r["id"] / "instructor"
        d.mkdir(parents=True, exist_ok=True)
        (d / "result.json").write_text(json.dumps({k: v for k, v in r.items() if k != "id"}))


def test_master_questions_have_model_answers_and_their_figures():
    qs = master_questions()
    assert len(qs) >= 6 and sum(q.points for q in qs) > 0
    for q in qs:
        assert q.prompt and q.model_answer and "### BEGIN SOLUTION" not in q.model_answer + q.prompt
    assert {"fig-1.2"} <= set(next(q for q in qs if q.id == "ex1-length-sweep").figures)


def test_without_a_master_only_questions_most_notebooks_hold_are_graded(tmp_path):
    from autograder.gradebook.questions import class_questions

    rows = [_row("alice"), _row("bob"), _row("mallory")]
    rows[2]["answers"]["questions"].append({"id": "bonus", "points": 50, "answered": True, "answer": "me"})
    assert [q.id for q in class_questions(rows, tmp_path / "no-master.py")] == [Q]
    assert Q in [q.id for q in class_questions(rows)] and "bonus" not in [q.id for q in class_questions(rows)]


def test_points_are_checked_and_grades_stored_in_a_plain_file(tmp_path):
    assert store.parse_points(" 1,5 ", 2) == 1.5 and store.parse_points("", 2) is None
    for bad in ("3", "-1", "nan", "abc", "inf"):
        with pytest.raises(store.GradeError):
            store.parse_points(bad, 2)
    store.save(tmp_path, "q1", "alice", 1.5, "good")
    store.save(tmp_path, "q1", "bob", None, "comment only")
    store.save(tmp_path, "q1", "alice", 2, "better")
    data = json.loads((tmp_path / store.FILE).read_text())
    assert data["grades"]["q1"]["alice"]["points"] == 2 and data["grades"]["q1"]["alice"]["comment"] == "better"
    assert store.points_of(store.load(tmp_path), "bob") == {}
    (tmp_path / store.FILE).write_text("{broken")
    with pytest.raises(store.GradeError, match="fix it by hand"):
        store.load(tmp_path)


def test_concurrent_saves_lose_nothing(tmp_path):
    threads = [threading.Thread(target=store.save, args=(tmp_path, "q1", f"s{i}", 1.0, "")) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.load(tmp_path)["q1"]) == 20


def test_roster_columns_aliases_and_errors(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("\ufeffSubmission,SIS User ID,Name,E-mail\nalice.zip,S1,Alice A,a@x.edu\nbob,S2,Bob B,b@x.edu\n")
    r = roster.read(path)
    assert r["alice"].student_id == "S1" and r["alice"].email == "a@x.edu" and r["bob"].name == "Bob B"
    path.write_text("name,email\nAlice,a@x\n")
    with pytest.raises(roster.RosterError, match="no 'submission' column"):
        roster.read(path)
    path.write_text("submission,name\nalice,A\nalice.zip,B\n")
    with pytest.raises(roster.RosterError, match="listed twice"):
        roster.read(path)


def test_final_grade_is_autograded_plus_manual_and_errors_get_none(tmp_path):
    rows = [_row("alice"), _row("bob", s1=0), _row("carol", status="error")]
    (tmp_path / "roster.csv").write_text("submission,student_id,name,email,canvas_id\nalice,S1,Alice,a@x,11\n"
                                         "dave,S4,Dave,d@x,14\n")
    store.save(tmp_path, "q1", "alice", 2, "")
    store.save(tmp_path, "q2", "alice", 3.5, "")
    store.save(tmp_path, "q1", "bob", 1, "")
    store.save(tmp_path, "q1", "carol", 2, "")
    table = final.write_final(tmp_path, rows, QUESTIONS, assignment="Lab 3 (77)")
    got = {r["id"]: r for r in csv.DictReader(io.StringIO((tmp_path / final.FINAL).read_text()))}
    a = got["alice"]
    assert (a["autograded"], a["manual"], a["final"], a["final_max"]) == ("5", "5.5", "10.5", "16")
    assert a["complete"] == "yes"
    assert (a["ex1"], a["ex3"], a["area:sdpa"], a["area:mha"], a["area:amp"]) == ("5", "0", "2", "3", "0")
    assert a["name"] == "Alice" and a["manual:q2"] == "3.5" and a["manual_graded"] == "2/2"
    b = got["bob"]
    assert (b["autograded"], b["final"], b["manual_graded"], b["complete"]) == ("3", "4", "1/2", "no")
    c = got["carol"]  # grading failed: no autograded points and no final grade, manual points kept
    assert (c["status"], c["autograded"], c["final"], c["manual:q1"]) == ("error", "", "", "2")
    assert got["dave"]["status"] == "missing" and got["dave"]["final"] == ""
    assert table.manual_max == 6
    canvas = list(csv.reader(io.StringIO((tmp_path / final.CANVAS).read_text())))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 3 (77)"]
    assert canvas[1] == ["Points Possible", "", "", "", "", "16"]
    by = {line[0]: line for line in canvas[2:]}
    assert by["Alice"] == ["Alice", "11", "S1", "a@x", "", "10.5"]
    assert by["bob"][-1] == "" and by["carol"][-1] == "" and by["Dave"][-1] == ""


def test_regrade_diff_names_students_tests_and_messages():
    before = {"alice": history.slim(_row("alice", s1=0) | {"score": 3}), "bob": history.slim(_row("bob"))}
    before["alice"]["tests"]["a.py::t1"]["message"] = "scale missing"
    after = {"alice": history.slim(_row("alice") | {"score": 5}), "bob": history.slim(_row("bob"))}
    moved = history.diff(before, after)
    assert [m["id"] for m in moved] == ["alice"] and moved[0]["change"] == 2
    t = moved[0]["tests"][0]
    assert (t["id"], t["old_score"], t["new_score"], t["old_message"], t["new_message"]) == \
        ("a.py::t1", 0, 2, "scale missing", "")
    md = history.diff_markdown({"time": "T", "manifest_sha256": "ab" * 32, "git_commit": "c0ffee", "reason": "fix",
                                "regraded": ["alice", "bob"]}, moved)
    assert "| alice | 3 | 5 | +2 | 1 |" in md and "scale missing" in md and "Reason: fix" in md


def test_markdown_rendering_escapes_html_and_drops_script_links():
    html = render("**b** <script>x()</script> <img src=x onerror=y()> [l](javascript:z()) ![i](http://h/i.png)")
    assert "<strong>b</strong>" in html and "<script" not in html and "<img" not in html
    assert 'href="javascript' not in html and "http://h/i.png" not in html.split("href=")[0]


@pytest.fixture
def served(tmp_path):
    _batch(tmp_path, [_row("alice", answer="<script>x</script>"), _row("bob")])
    srv, url = make_server(tmp_path)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, url
    srv.shutdown()
    srv.server_close()


def _get(url: str, headers: dict | None = None):
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10)


def test_server_pages_carry_a_strict_policy_and_escape_answers(served):
    out, url = served
    index = _get(url).read().decode()
    assert "/q/ex1-length-sweep" in index and "final.csv" in index
    resp = _get(url + f"q/{Q}")
    page = resp.read().decode()
    policy = resp.headers["Content-Security-Policy"]
    assert "script-src 'nonce-" in policy and "default-src 'none'" in policy
    assert "&lt;script&gt;x&lt;/script&gt;" in page and page.count("<script") == 1  # the page's own, with the nonce
    assert _get(url + "final.csv").read().decode().startswith("id,student_id,")


def test_server_refuses_foreign_posts_bad_tokens_and_paths(served):
    out, url = served
    page = _get(url + f"q/{Q}").read().decode()
    token = page.split("name=token value='")[1].split("'")[0]

    def post(fields: dict, headers: dict | None = None) -> int:
        req = urllib.request.Request(url + "grade", data=urllib.parse.urlencode(fields).encode(),
                                     headers={"Accept": "application/json", **(headers or {})})
        try:
            return urllib.request.urlopen(req, timeout=10).status
        except urllib.error.HTTPError as exc:
            return exc.code

    ok = {"token": token, "question": Q, "submission": "alice", "points": "2", "comment": ""}
    assert post(ok | {"token": "guess"}) == 403
    assert post(ok, {"Host": "evil.example:80"}) == 403  # DNS rebinding: only 127.0.0.1 / localhost
    assert post(ok | {"submission": "../x"}) == 400 and post(ok | {"points": "2.5"}) == 400
    assert not (out / store.FILE).exists()
    assert post(ok) == 200 and store.load(out)[Q]["alice"]["points"] == 2
    assert post(ok | {"question": "q-a-student-made-up"}) == 400
    for bad in ("files/../../manual_grades.json", "files/..%2f..%2fmanual_grades.json", "files/figures/../x"):
        with pytest.raises(urllib.error.HTTPError) as err:
            _get(url + bad)
        assert err.value.code == 404


def test_lab3_answers_serve_is_one_command(tmp_path):
    import subprocess
    import sys

    _batch(tmp_path, [_row("alice")])
    proc = subprocess.Popen([sys.executable, "-m", "autograder.cli", "answers", "serve", str(tmp_path), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "grading pages of" in line and "http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line.split("http://", 1)[1].split()[0]
        page = _get("http://" + url + f"q/{Q}").read().decode()
        assert "alice" in page and "my answer" in page
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    empty = tmp_path / "empty"
    empty.mkdir()
    res = subprocess.run([sys.executable, "-m", "autograder.cli", "answers", "export", str(empty)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "no graded submissions" in res.stderr


def test_a_regrade_while_the_server_runs_never_brings_old_points_back(served):
    out, url = served
    page = _get(url + f"q/{Q}").read().decode()
    token = page.split("name=token value='")[1].split("'")[0]
    result = out / "bob" / "instructor" / "result.json"
    data = json.loads(result.read_text())
    data["score"] = 1.0  # a regrade lowered bob's autograded points
    result.write_text(json.dumps(data))
    fields = {"token": token, "question": Q, "submission": "bob", "points": "1", "comment": ""}
    req = urllib.request.Request(url + "grade", data=urllib.parse.urlencode(fields).encode(),
                                 headers={"Accept": "application/json"})
    assert urllib.request.urlopen(req, timeout=10).status == 200
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO((out / final.FINAL).read_text()))}
    assert (rows["bob"]["autograded"], rows["bob"]["final"]) == ("1", "2")
