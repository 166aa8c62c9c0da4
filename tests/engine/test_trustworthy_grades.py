"""A grade is right or the grader says loudly that it failed: never a silent 0.

What a newcomer types (relative paths, from the repository root and from another folder), a session
killed mid-run, a grader that crashes, a corrupt records file, a broken zip, too little memory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import REPO, make_submission, solution_text

from autograder.engine import grade_submission
from autograder.outdir import SubmissionOut

pytestmark = pytest.mark.slow
LAB3 = [sys.executable, "-m", "autograder.cli"]


def lab3(*args: str, cwd: Path, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([*LAB3, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env)


def results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def test_relative_out_from_the_repository_root_gives_full_marks():
    rel = f"out/pytest-{uuid.uuid4().hex[:8]}"
    try:
        res = lab3("grade", "solutions", "--out", rel, "--only", "sdpa", cwd=REPO)
        assert res.returncode == 0, res.stderr
        data = results(REPO / rel)
        assert data["score"] == 8 and all(t["score"] == t["max_score"] for t in data["tests"]), data
    finally:
        subprocess.run(["rm", "-rf", str(REPO / rel)], check=False)


def test_relative_paths_from_another_folder_give_the_same_score(tmp_path):
    submission = os.path.relpath(REPO / "examples" / "submissions" / "buggy_attention_no_scale", tmp_path)
    res = lab3("grade", submission, "--out", "graded", "--only", "sdpa", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    relative = results(tmp_path / "graded")
    absolute = grade_submission(REPO / "examples" / "submissions" / "buggy_attention_no_scale",
                                tmp_path / "abs", only_tags=["sdpa"])
    assert relative["score"] == absolute.score < absolute.max_score
    graded = [t for t in relative["tests"] if "notebook" not in t["tags"]]  # + the notebook's 0-point status
    assert [t["score"] for t in graded] == [t.score for t in absolute.tests]


def test_python_api_example_with_relative_paths(tmp_path, monkeypatch):
    """The example of ``autograder/engine/__init__.py``, typed from an unrelated folder."""
    with zipfile.ZipFile(tmp_path / "sub.zip", "w") as zf:
        zf.write(REPO / "solutions" / "lab3" / "attention.py", "attention.py")
    monkeypatch.chdir(tmp_path)
    result = grade_submission(Path("sub.zip"), Path("out/"), only_tags=["sdpa"])
    assert result.status == "graded" and result.score == result.max_score == 8
    assert Path(result.out).is_absolute() and (tmp_path / "out" / "results.json").exists()


def test_unreadable_zip_is_a_graded_zero_with_the_reason(tmp_path):
    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"PK\x03\x04 this is not a zip archive")
    res = lab3("grade", str(bad), "--out", str(tmp_path / "o"), "--only", "pe", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    data = results(tmp_path / "o")
    assert data["score"] == 0 and "not a readable zip archive" in data["output"]


def _session_pid(config: Path, deadline: float) -> int:
    while time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-f", f"autograder.engine.session {config}"], capture_output=True,
                               text=True).stdout.split()
        if found:
            return int(found[0])
        time.sleep(0.05)
    raise AssertionError("the grading session never started")


def test_kill_9_of_the_session_is_exit_3_and_results_say_grading_failed(tmp_path):
    out = tmp_path / "o"
    proc = subprocess.Popen([*LAB3, "grade", str(REPO / "solutions"), "--out", str(out), "--only", "ex1"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    records = out / "instructor" / "records.jsonl"
    deadline = time.monotonic() + 120
    pid = _session_pid(out / "instructor" / "config.json", deadline)
    while time.monotonic() < deadline:  # kill it in the middle: after a couple of tests
        if records.exists() and records.read_text().count('"type": "test"') >= 2:
            break
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, (stdout, stderr)
    line = [x for x in stderr.splitlines() if x.startswith("internal error:")]
    assert line and "killed by SIGKILL" in line[0] and str(out / "instructor" / "log.txt") in line[0]
    data = results(out)
    assert data["score"] == 0 and "NOT your score" in data["output"]
    assert len(data["tests"]) == 1 and data["tests"][0]["name"].startswith("Grading failed")
    assert "GRADING FAILED" in (out / "feedback.md").read_text()


CRASHING_GRADER = '''
import pytest

@pytest.mark.grade(points=2, tags=["ex1", "pe"])
def test_fine(student):
    """a passing test"""
    assert student.has("positional")

@pytest.mark.grade(points=3, tags=["ex1", "pe"])
def test_grader_bug(student):
    """a grader with a bug"""
    {}["missing key"]  # BUG
'''


def _graders(tmp_path: Path, body: str) -> tuple[Path, Path]:
    from autograder.engine import manifest

    g = tmp_path / "graders"
    g.mkdir(exist_ok=True)
    (g / "conftest.py").write_text((REPO / "autograder" / "graders" / "conftest.py").read_text())
    (g / "test_g.py").write_text(body)
    m = g / "manifest.json"
    m.write_text(manifest.dumps(manifest.collect(g)))
    return g, m


def test_a_grader_bug_is_a_fault_and_a_batch_regrades_it_without_force(tmp_path):
    from autograder.engine import grade_batch

    g, m = _graders(tmp_path, CRASHING_GRADER)
    batch = tmp_path / "batch"
    make_submission(batch / "alice", {"positional": solution_text("positional")})
    (batch / "notes.txt").write_text("not a submission")
    out = tmp_path / "out"
    first = grade_batch(batch, out, graders=g, manifest=m, progress=False)
    assert [r.status for r in first] == ["error"] and "internal grader error KeyError" in first[0].error
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows[1].startswith("alice,error,,"), rows
    report = (out / "report.html").read_text()
    assert report.index("Not graded") < report.index("Submissions") and "notes.txt" in report
    # the grader is fixed: the next run (no --force) grades alice again, the graded ones stay
    g, m = _graders(tmp_path, CRASHING_GRADER.replace('{}["missing key"]  # BUG', "assert True"))
    second = grade_batch(batch, out, graders=g, manifest=m, progress=False)
    assert [(r.status, r.score) for r in second] == [("graded", 5)]
    assert (out / "grades.csv").read_text().splitlines()[1].startswith("alice,graded,5,5")


def test_batch_cli_exits_3_and_lists_what_was_not_graded(tmp_path):
    g, m = _graders(tmp_path, CRASHING_GRADER)
    batch = tmp_path / "batch"
    make_submission(batch / "alice", {"positional": solution_text("positional")})
    (batch / "Lab3.txt").write_text("x")
    code = ("import sys; from pathlib import Path; import autograder.engine.manifest as mm; "
            f"mm.GRADERS_DIR = Path({str(g)!r}); mm.MANIFEST_PATH = Path({str(m)!r}); "
            "from autograder.cli import main; sys.exit(main())")
    res = subprocess.run([sys.executable, "-c", code, "grade", "--batch", "batch", "--out", "out"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 3, res.stdout + res.stderr
    assert "alice" in res.stdout and "NOT GRADED" in res.stdout and "skipped: Lab3.txt" in res.stdout
    assert "1 not graded, 1 skipped" in res.stdout and "internal error:" in res.stderr


def test_corrupt_records_are_a_fault(tmp_path):
    from autograder.engine.errors import GradingFault
    from autograder.engine.grade import SessionRun, check_session, read_records

    path = tmp_path / "records.jsonl"
    path.write_text('{"type": "header"}\n{"type": "test", "id": "a", "outco\n{"type": "footer"}\n')
    with pytest.raises(GradingFault, match="unreadable"):
        check_session(SessionRun(0), read_records(path))
    with pytest.raises(GradingFault, match="closing record"):
        check_session(SessionRun(0), [{"type": "header"}])
    with pytest.raises(GradingFault, match="start-up"):
        check_session(SessionRun(1), [])
    check_session(SessionRun(0), [{"type": "header"}, {"type": "footer"}])  # a complete session


def _cgroup_v1_memory() -> Path | None:
    from autograder.engine.memory import own_cgroup_dirs

    d = own_cgroup_dirs().get("memory")
    return d if os.geteuid() == 0 and d is not None and (d / "cgroup.procs").exists() else None


@pytest.mark.skipif(_cgroup_v1_memory() is None, reason="needs root and a cgroup v1 memory controller")
@pytest.mark.parametrize("limit_mb,min_mb", [(768, None), (640, None), (450, "0")])
def test_memory_limits_grade_right_or_exit_3(tmp_path, limit_mb, min_mb):
    """Inside a memory cgroup, with the sandbox's cgroups nested under it: at Gradescope's default (768 MB)
    the solution gets every point; below the grader's minimum (768 MiB) it refuses with the setting to
    change; with the check turned off and an even smaller limit the kernel kills the session part-way,
    which is exit 3 too — never a lower grade with exit 0."""
    cg = _cgroup_v1_memory() / f"lab3-test-{uuid.uuid4().hex[:8]}"
    cg.mkdir()
    try:
        (cg / "memory.limit_in_bytes").write_text(str(limit_mb << 20))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        if min_mb is not None:
            env["LAB3_MIN_MEMORY_MB"] = min_mb
        out = tmp_path / "o"
        script = f'echo $$ > {cg}/cgroup.procs && exec "$@"'
        res = subprocess.run(["sh", "-c", script, "sh", *LAB3, "grade", str(REPO / "solutions"), "--out", str(out),
                              "--only", "ex1"], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
        if limit_mb == 768:
            assert res.returncode == 0, res.stdout + res.stderr
            data = results(out)
            assert data["tests"] and all(t["score"] == t["max_score"] for t in data["tests"]), data
        else:
            assert res.returncode == 3, res.stdout + res.stderr
            assert "internal error:" in res.stderr
            if min_mb is None:
                assert "needs at least 768 MiB" in res.stderr and "Memory" in res.stderr
            assert "NOT your score" in results(out)["output"]
    finally:
        for _ in range(50):
            try:
                cg.rmdir()
                break
            except OSError:
                time.sleep(0.1)


@pytest.mark.parametrize("name,expected", [("Lab3.ipynb", "graded modules are missing"),
                                           ("answers.txt", "not a submission")])
def test_an_input_that_is_not_a_submission_is_a_usage_error(tmp_path, name, expected):
    (tmp_path / name).write_text("{}")
    res = lab3("grade", name, "--out", "o", cwd=tmp_path, timeout=120)
    assert res.returncode == 2 and expected in res.stderr, res.stderr
    assert not (tmp_path / "o" / "results.json").exists()


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[subprocess.CompletedProcess, str]]:
    """`make demo`'s batch as the README types it, from the repository root with a relative --out, graded
    once for the tests below: (the command's result, the output folder relative to the root)."""
    rel = f"out/pytest-demo-{uuid.uuid4().hex[:8]}"
    try:
        yield lab3("grade", "--batch", "examples/submissions", "--out", rel, "-j", "2", cwd=REPO, timeout=900), rel
    finally:
        subprocess.run(["rm", "-rf", str(REPO / rel)], check=False)


def test_demo_as_the_readme_types_it_grades_every_sample_as_expected(demo):
    """`make demo`'s grading lines: the solution gets 100, the blank stubs 0, each buggy sample strictly
    between, and `lab3 selftest --from` agrees."""
    res, rel = demo
    assert res.returncode == 0, res.stdout + res.stderr
    assert "skipped: README.md" in res.stdout
    rows = {r.split(",")[0]: r.split(",") for r in (REPO / rel / "grades.csv").read_text().splitlines()[1:]}
    assert rows["solution"][1:4] == ["graded", "100", "100"]
    assert rows["blank_stubs"][1:3] == ["graded", "0"]
    buggy = [k for k in rows if k.startswith("buggy")]
    assert len(buggy) == 3 and all(0 < float(rows[k][2]) < 100 for k in buggy)
    check = lab3("selftest", "--from", rel, cwd=REPO)
    assert check.returncode == 0, check.stdout + check.stderr


def _graded(demo, name: str) -> tuple[dict, dict]:
    """(instructor/result.json, results.json) of sample ``name`` in the demo's batch."""
    res, rel = demo
    assert res.returncode == 0, res.stdout + res.stderr
    out = SubmissionOut(REPO / rel / name)
    result = out.load_result()
    assert result is not None, f"no result for {name}"
    data = json.loads(out.results_json.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    return result, data


def test_the_whole_suite_gives_the_solution_every_point(demo):
    """The sample solution (``lab3 build`` writes it from source/; ``make test`` checks it is current), every
    tag: 100 of 100, and its results.json names each graded test, with the notebook's status on top for
    information only."""
    result, data = _graded(demo, "solution")
    total = json.loads((REPO / "autograder" / "manifest.json").read_text())["total_cpu"]
    lost = {t["id"]: t["output"] for t in result["tests"] if t["score"] < t["max_score"]}
    assert result["max_score"] == total == 100
    assert result["score"] == 100, lost
    graded, info = data["tests"][: len(result["tests"])], data["tests"][len(result["tests"]):]
    assert data["score"] == result["score"] and [t["name"] for t in graded] == [t["name"] for t in result["tests"]]
    assert all(t["name"] and t["visibility"] and t["tags"] for t in graded)
    assert info and all(t["max_score"] == 0 for t in info)  # the notebook's status: information, never points


def test_the_whole_suite_gives_the_blank_stubs_0_and_says_why(demo):
    result, _ = _graded(demo, "blank_stubs")
    assert result["score"] == 0 and result["max_score"] == 100
    unexplained = [t["output"] for t in result["tests"] if not (
        "not implemented yet" in t["output"] or "NotImplementedError" in t["output"]
        or t["output"].startswith(("skipped", "not run here (no GPU)")))]
    assert not unexplained, unexplained[:3]
