"""End to end: real grading of a solution-like and a stub-like submission, CLI, batch, GPU rule, weak mode."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from engine_helpers import REPO, make_submission, solution_text, stub_text

from autograder.engine import grade_submission, isolation

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def subs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("subs")
    sol = make_submission(root / "sol", {"attention": solution_text("attention")})
    stub = make_submission(root / "stub", {"attention": stub_text("attention")}, layout="flat")
    z = root / "solzip.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("attention.py", solution_text("attention"))
    return {"sol": sol, "stub": stub, "zip": z}


@pytest.fixture(scope="module")
def sol_result(subs, ex1_graders, tmp_path_factory):
    g, m = ex1_graders
    return grade_submission(subs["sol"], tmp_path_factory.mktemp("o") / "sol", graders=g, manifest=m)


def test_solution_full_marks_and_outputs(sol_result):
    r = sol_result
    assert r.score == r.max_score == 21, [(t.id, t.output) for t in r.tests if t.status != "passed"]
    out = Path(r.out)
    data = json.loads((out / "results.json").read_text())
    graded = [t for t in data["tests"] if "notebook" not in t["tags"]]  # + 0-point notebook status
    assert data["score"] == 21 and len(graded) == len(r.tests) == 17
    assert {tuple(t["tags"][:1]) for t in graded} == {("ex1",)}
    assert [t["name"] for t in data["tests"] if t not in graded] == ["Written answers and figures: not submitted"]
    assert "Score: 21 / 21" in (out / "feedback.md").read_text()
    assert (out / "instructor" / "log.txt").exists() and (out / "instructor" / "session.log").exists()


def test_same_submission_twice_identical(sol_result, subs, ex1_graders, tmp_path):
    g, m = ex1_graders
    again = grade_submission(subs["zip"], tmp_path / "again", graders=g, manifest=m)
    assert [(t.id, t.score, t.status) for t in again.tests] == [
        (t.id, t.score, t.status) for t in sol_result.tests
    ]


def test_stub_scores_zero_with_clear_messages(subs, ex1_graders, tmp_path):
    g, m = ex1_graders
    r = grade_submission(subs["stub"], tmp_path / "stub", graders=g, manifest=m)
    assert r.score == 0 and r.max_score == 21
    msgs = {t.output for t in r.tests}
    assert "attention.py: causal_mask is not implemented yet" in msgs
    assert "attention.py: MultiHeadAttention.forward is not implemented yet" in msgs
    assert r.execution_time < 30


def test_cli_single_with_only(subs, ex1_graders, tmp_path):
    g, m = ex1_graders
    code = (
        "import sys; from autograder.cli import main; "
        "import autograder.engine.manifest as mm; from pathlib import Path; "
        f"mm.GRADERS_DIR = Path({str(g)!r}); mm.MANIFEST_PATH = Path({str(m)!r}); sys.exit(main())"
    )
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "grade",
            str(subs["sol"]),
            "--out",
            str(tmp_path / "o"),
            "--only",
            "causal_mask",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "TOTAL" in res.stdout and "3 / 3" in res.stdout
    data = json.loads((tmp_path / "o" / "results.json").read_text())
    graded = [t for t in data["tests"] if "notebook" not in t["tags"]]  # + the notebook's 0-point status
    assert [t["tags"][1] for t in graded] == ["causal_mask", "causal_mask"]


def test_batch_parallel_shard_skip_force(subs, ex1_graders, tmp_path):
    from autograder.engine import grade_batch

    g, m = ex1_graders
    batch = tmp_path / "batch"
    batch.mkdir()
    for name in ("sol", "stub"):
        shutil.copytree(subs[name], batch / name)
    shutil.copy(subs["zip"], batch / "zipped.zip")
    (batch / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    out = tmp_path / "out"
    first = grade_batch(
        batch, out, jobs=2, shard=(1, 2), graders=g, manifest=m, only_tags=["causal_mask"], progress=False
    )
    assert [r.submission for r in first] == ["broken", "stub"]  # entries 1 and 3 of 4
    rest = grade_batch(batch, out, jobs=2, graders=g, manifest=m, only_tags=["causal_mask"], progress=False)
    scores = {r.submission: r.score for r in rest}
    assert scores == {"broken": 0, "sol": 3, "stub": 0, "zipped": 3}
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows[0].startswith("id,status,total,max,") and len(rows) == 5
    assert "data:image/png;base64," in (out / "report.html").read_text()
    mtime = (out / "sol" / "results.json").stat().st_mtime_ns
    grade_batch(batch, out, jobs=1, graders=g, manifest=m, only_tags=["causal_mask"], progress=False)
    assert (out / "sol" / "results.json").stat().st_mtime_ns == mtime  # skipped: already graded
    kw = dict(graders=g, manifest=m, only_tags=["causal_mask"], progress=False)
    again = grade_batch(batch, out, jobs=1, force=True, shard=(2, 4), **kw)
    assert [r.submission for r in again] == ["sol"]
    assert (out / "sol" / "results.json").stat().st_mtime_ns != mtime  # --force grades again


GPU_GRADER = '''
import pytest

@pytest.mark.grade(points=2, tags=["ex1", "causal_mask"])
def test_cpu(student):
    """cpu test"""
    assert student.call("attention.causal_mask", size=2)["mask"].shape == (2, 2)

@pytest.mark.gpu
@pytest.mark.grade(points=5, tags=["ex3", "amp"])
def test_gpu(student):
    """gpu test"""
    assert student.cuda
    res = student.call("attention.causal_mask", size=3, device="cuda")  # CUDA inside the sandbox
    assert res["mask"].shape == (3, 3)
'''


def test_gpu_tests_decided_by_hardware(subs, tmp_path):
    import torch

    from autograder.engine import manifest

    g = tmp_path / "graders"
    g.mkdir()
    (g / "conftest.py").write_text((REPO / "autograder" / "graders" / "conftest.py").read_text())
    (g / "test_gpu_rule.py").write_text(GPU_GRADER)
    m = g / "manifest.json"
    m.write_text(manifest.dumps(manifest.collect(g)))
    assert json.loads(m.read_text())["total_gpu"] == 5
    r = grade_submission(subs["sol"], tmp_path / "o", graders=g, manifest=m)
    if torch.cuda.is_available():
        assert (r.score, r.max_score) == (7, 7)
    else:
        assert (r.score, r.max_score) == (2, 2)
        assert r.tests[1].status == "skipped" and "CUDA" in r.tests[1].output


PEEK = """

_solution_causal_mask = causal_mask


def causal_mask(size, device=None):  # wrong answer whenever the hidden graders or the network are reachable
    import socket

    try:
        with open("@GRADER@") as fh:
            fh.read(1)
        return torch.zeros(size, size, dtype=torch.bool)
    except OSError:
        pass
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=2).close()
        return torch.zeros(size, size, dtype=torch.bool)
    except OSError:
        pass
    return _solution_causal_mask(size, device)
"""


@pytest.mark.parametrize("mode", ["weak", "plain"])
def test_without_root_protections_and_report(mode, ex1_graders, tmp_path, monkeypatch):
    """Not root: "weak" uses a user namespace where the kernel allows it (no network, hidden graders),
    "plain" has none; both keep deadlines and rlimits and say what is off."""
    g, m = ex1_graders
    sub = make_submission(
        tmp_path / "sub",
        {
            "attention": solution_text("attention")
            + PEEK.replace("@GRADER@", str(g / "test_ex1_attention.py"))
        },
    )
    monkeypatch.setenv("LAB3_SANDBOX", mode)
    isolation.detect.cache_clear()
    try:
        iso = isolation.detect()
        r = grade_submission(sub, tmp_path / "o", graders=g, manifest=m, only_tags=["causal_mask"])
    finally:
        isolation.detect.cache_clear()
    assert not iso.root and iso.uid is None
    assert any("separate user" in x for x in r.protections_off)
    assert "protections OFF" in (tmp_path / "o" / "instructor" / "log.txt").read_text()
    if iso.namespaces:  # user namespace: graders hidden, no network
        assert r.score == r.max_score == 3
    else:  # the student code could read the graders: reported as off, and the peek costs it the points
        assert any("network" in x for x in r.protections_off)
        assert r.score == 0


@pytest.mark.parametrize("spawn", ["zygote", "exec"])
def test_children_forked_from_the_zygote_or_started_with_exec(spawn, subs, ex1_graders, tmp_path, monkeypatch):
    """Default: children are forked from a zygote that shares torch with the session; LAB3_SANDBOX_SPAWN=exec
    starts each with a fresh python. Same grades either way, and a killed child is replaced either way."""
    g, m = ex1_graders
    if spawn == "exec":
        monkeypatch.setenv("LAB3_SANDBOX_SPAWN", "exec")
    else:
        monkeypatch.delenv("LAB3_SANDBOX_SPAWN", raising=False)
    sub = make_submission(
        tmp_path / "sub",
        {"attention": solution_text("attention") + "\n\n_causal_mask = causal_mask\n\n\n"
         "def causal_mask(size, device=None):\n    if size == 3:\n        import os\n\n        os._exit(3)\n"
         "    return _causal_mask(size, device)\n"},
    )
    r = grade_submission(sub, tmp_path / "o", graders=g, manifest=m, only_tags=["causal_mask", "sdpa"])
    log = (tmp_path / "o" / "instructor" / "session.log").read_text()
    assert ("zygote pid=" in log) == (spawn == "zygote")
    assert "child 2 ready" in log  # causal_mask(3) killed the first child; the second one went on
    first = [t for t in r.tests if t.status == "failed"]
    assert first and all("exited with code 3" in t.output for t in first)
    assert r.score > 0 and all(t.status == "passed" for t in r.tests if t not in first)
