"""End to end: the zip under Gradescope's layout and under ``otter run`` gives ``lab3 grade``'s scores.

Three submissions (the solution, the blank stubs, the solution with the 1/sqrt(d_k) scale dropped) are
graded three ways on the CI tag subset: ``lab3 grade --only``, the zip's ``run_autograder`` in a tree laid
out like /autograder, and ``otter run`` on the same zip (the otter bridge).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging_helpers import CI_TAGS, PYTHON, REPO, gradescope_tree, run_autograder, zip_folder

pytestmark = pytest.mark.slow

NAMES = ("solution", "stubs", "buggy")
OTTER_API = """
import json, sys
from otter.run import main
res = main(sys.argv[1], autograder=sys.argv[2], output_dir=sys.argv[3], no_logo=True)
cases = {}
for tf in res.results.values():
    for tcr in tf.test_case_results:
        tc = tcr.test_case
        cases[tc.name] = dict(passed=tcr.passed, points=tc.points, question=tf.name, message=tcr.message)
json.dump(cases, open(sys.argv[4], "w"))
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LAB3_GRADE_ONLY", "PYTHONPATH"))}
    env.update({"LAB3_PYTHON": PYTHON, "LAB3_GRADE_ONLY": " ".join(CI_TAGS)})
    return env


def _rows(results: dict) -> dict[str, tuple]:
    return {
        t["name"]: (t["score"], t["max_score"], t.get("status"), t["visibility"], tuple(t["tags"]))
        for t in results["tests"]
    }


@pytest.fixture(scope="module")
def reference(submissions, tmp_path_factory) -> dict[str, dict]:
    """``lab3 grade SUB --out D --only TAGS`` results.json per submission (the three commands run at once)."""
    dests = {name: tmp_path_factory.mktemp(f"ref-{name}") for name in NAMES}
    procs = {name: subprocess.Popen([PYTHON, "-m", "autograder.cli", "grade", str(submissions[name]),
                                     "--out", str(dests[name]), "--only", *CI_TAGS],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO))
             for name in NAMES}
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stdout + stderr
        out[name] = json.loads((dests[name] / "results.json").read_text())
    assert out["solution"]["score"] > 0 and out["solution"]["score"] == sum(
        t["max_score"] for t in out["solution"]["tests"]
    )
    assert out["stubs"]["score"] == 0
    assert 0 < out["buggy"]["score"] < out["solution"]["score"]
    return out


@pytest.mark.parametrize("name", NAMES)
def test_run_autograder_equals_lab3_grade(name, autograder_zip, submissions, reference, tmp_path) -> None:
    root = gradescope_tree(autograder_zip, tmp_path / "autograder", submissions[name])
    res = run_autograder(root, only=CI_TAGS)
    assert res.returncode == 0, res.stdout + res.stderr
    got = json.loads((root / "results" / "results.json").read_text())
    want = reference[name]
    assert _rows(got) == _rows(want)
    assert got["score"] == want["score"]
    if os.geteuid() == 0:  # hidden material: root only (the sandbox user cannot even list it)
        graders = root / "source" / "files" / "lab3_autograder" / "autograder" / "graders"
        for path in (root / "source", graders, root / "results"):
            assert path.stat().st_mode & 0o077 == 0, path
    log = (root / "results" / "lab3" / "instructor" / "log.txt").read_text()
    assert f"release: {root / 'source' / 'files' / 'lab3_autograder' / 'assignments' / 'lab3'}" in log


@pytest.mark.parametrize("name", NAMES)
def test_otter_run_equals_lab3_grade(name, autograder_zip, submissions, reference, tmp_path) -> None:
    sub_zip = zip_folder(submissions[name], tmp_path / f"{name}.zip")
    out = tmp_path / "out"
    out.mkdir()
    cases_path = tmp_path / "cases.json"
    cmd = [PYTHON, "-c", OTTER_API, str(sub_zip), str(autograder_zip), str(out), str(cases_path)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=str(tmp_path), env=_env(), timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    cases = json.loads(cases_path.read_text())
    want = reference[name]
    per_question: dict[str, float] = {}
    for t in want["tests"]:
        if t["tags"] == ["notebook"]:  # the written-answer status (0 points) is lab3 grade's, not an otter case
            continue
        case = cases[t["name"]]
        assert case["points"] == t["max_score"], t["name"]
        # a skipped test (CUDA without a GPU, 0 points) passes in otter: never shown as a failure
        assert case["passed"] == (t.get("status", "passed") == "passed"), (t["name"], case["message"])
        if not case["passed"] and t["output"]:
            assert t["output"].splitlines()[0][:80] in case["message"]  # the engine's message reaches otter
        q = case["question"]
        per_question[q] = per_question.get(q, 0) + (t["max_score"] if case["passed"] else 0)
    # otter's own results.json (per question) adds up the same way
    otter_results = json.loads((out / "results.json").read_text())
    got_q = {t["name"]: t["score"] for t in otter_results["tests"] if "score" in t}
    for q, score in per_question.items():
        assert got_q[q] == pytest.approx(score)


def test_otter_run_cli(autograder_zip, submissions, reference, tmp_path) -> None:
    """The real command line: ``otter run -a autograder.zip -o OUT submission.zip``."""
    sub_zip = zip_folder(submissions["buggy"], tmp_path / "buggy.zip")
    out = tmp_path / "out"
    out.mkdir()
    otter = Path(sys.executable).with_name("otter")
    res = subprocess.run(
        [str(otter), "run", "-a", str(autograder_zip), "-o", str(out), str(sub_zip)],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        env=_env(),
        timeout=900,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    tests = json.loads((out / "results.json").read_text())["tests"]
    assert "NaN" not in res.stdout and all("score" in t for t in tests), res.stdout[-2000:]  # no scoreless row
    got = {t["name"]: t["score"] for t in tests if "score" in t}
    want = sum(t["score"] for t in reference["buggy"]["tests"] if "ex1" in t["tags"])
    assert got["ex1"] == pytest.approx(want)


def test_settings_baked_into_the_zip(submissions, tmp_path) -> None:
    """lab3_settings.env in the zip reaches run_autograder (here: a tag subset), without any environment."""
    from autograder.packaging.gradescope import autograder_files, write_zip

    files = autograder_files(REPO, settings={"LAB3_GRADE_ONLY": "causal_mask"})
    zip_path = write_zip(files, tmp_path / "ag.zip")
    root = gradescope_tree(zip_path, tmp_path / "autograder", submissions["stubs"])
    assert run_autograder(root).returncode == 0
    tests = json.loads((root / "results" / "results.json").read_text())["tests"]
    tests = [t for t in tests if "notebook" not in t["tags"]]  # the notebook's 0-point status comes on top
    assert tests and all("causal_mask" in t["tags"] and t["status"] == "failed" for t in tests)


def _with_notebook(folder: Path, dest: Path, marker: Path) -> Path:
    """``lab3 submit``'s layout: lab3/ + Lab3.ipynb, a notebook that leaves ``marker`` if anything runs it."""
    import nbformat

    nb = nbformat.read(str(REPO / "assignments" / "Lab3.ipynb"), as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(f"open({str(marker)!r}, 'w').write('executed')"))
    zip_path = zip_folder(folder, dest)
    import zipfile

    with zipfile.ZipFile(zip_path, "a") as zf:
        zf.writestr("Lab3.ipynb", nbformat.writes(nb))
    return zip_path


def test_otter_run_never_executes_the_students_notebook(autograder_zip, submissions, reference, tmp_path) -> None:
    """A zip made by ``lab3 submit`` (modules + Lab3.ipynb) grades under ``otter run`` exactly as the modules
    alone: otter executes the zip's entry notebook instead of the student's."""
    marker = tmp_path / "EXECUTED"
    sub_zip = _with_notebook(submissions["solution"], tmp_path / "solution_nb.zip", marker)
    out = tmp_path / "out"
    out.mkdir()
    cases_path = tmp_path / "cases.json"
    cmd = [PYTHON, "-c", OTTER_API, str(sub_zip), str(autograder_zip), str(out), str(cases_path)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=str(tmp_path), env=_env(), timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert not marker.exists(), "otter executed the student's notebook"
    cases = json.loads(cases_path.read_text())
    for t in reference["solution"]["tests"]:
        if t["tags"] != ["notebook"]:
            assert cases[t["name"]]["passed"], (t["name"], cases[t["name"]]["message"])
    got = {t["name"]: t["score"] for t in json.loads((out / "results.json").read_text())["tests"] if "score" in t}
    want: dict[str, float] = {}
    for t in reference["solution"]["tests"]:
        q = next((x for x in t["tags"] if x in ("ex1", "ex2", "ex3")), None)
        if q:
            want[q] = want.get(q, 0) + t["score"]
    assert {q: got[q] for q in want} == pytest.approx(want)


def test_run_autograder_reads_the_notebook_and_scores_the_same(autograder_zip, submissions, reference,
                                                               tmp_path) -> None:
    """Gradescope layout: the uploaded zip unpacked (modules + notebook): same per-test scores, plus the
    0-point written-answer status read from the notebook, which is never executed."""
    import zipfile

    marker = tmp_path / "EXECUTED"
    sub_zip = _with_notebook(submissions["solution"], tmp_path / "solution_nb.zip", marker)
    unpacked = tmp_path / "upload"
    with zipfile.ZipFile(sub_zip) as zf:
        zf.extractall(unpacked)
    root = gradescope_tree(autograder_zip, tmp_path / "autograder", unpacked)
    res = run_autograder(root, only=CI_TAGS)
    assert res.returncode == 0, res.stdout + res.stderr
    got = json.loads((root / "results" / "results.json").read_text())
    want = reference["solution"]
    strip = lambda rows: {k: v for k, v in rows.items() if "notebook" not in v[4]}  # noqa: E731
    assert strip(_rows(got)) == strip(_rows(want)) and got["score"] == want["score"]
    names = [t["name"] for t in got["tests"] if t["tags"] == ["notebook"]]
    assert names[0].startswith("Written answers: 0 of ") and names[1].startswith("Figures: 0 of ")
    assert not marker.exists()


def test_run_autograder_on_a_notebook_alone(autograder_zip, tmp_path) -> None:
    """Gradescope, the notebook uploaded without the modules: 0 points and a note saying what to submit."""
    from autograder.engine.notebook_answers import MODULES_MISSING

    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "Lab3.ipynb").write_bytes((REPO / "assignments" / "Lab3.ipynb").read_bytes())
    root = gradescope_tree(autograder_zip, tmp_path / "autograder", upload)
    res = run_autograder(root, only=CI_TAGS)
    assert res.returncode == 0, res.stdout + res.stderr
    got = json.loads((root / "results" / "results.json").read_text())
    assert got["score"] == 0 and MODULES_MISSING in got["output"]
