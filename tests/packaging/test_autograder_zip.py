"""The autograder zip: contents, determinism, otter test files, and results.json whatever goes wrong."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging_helpers import REPO, gradescope_tree, run_autograder

from autograder.layout import GRADED_MODULES
from autograder.packaging.gradescope import autograder_files, write_zip
from autograder.packaging.otter_build import otter_test_files
from autograder.settings import torch_pins

PAYLOAD = "files/lab3_autograder"
TEMPLATES = REPO / "autograder" / "packaging" / "templates"


def _manifest() -> dict:
    return json.loads((REPO / "autograder" / "manifest.json").read_text())


def test_zip_layout(autograder_zip: Path) -> None:
    with zipfile.ZipFile(autograder_zip) as zf:
        names = set(zf.namelist())
        infos = {i.filename: i for i in zf.infolist()}
    for required in (
        "setup.sh",
        "run_autograder",
        "requirements.txt",
        "requirements.torch.txt",
        "otter_config.json",
        "run_otter.py",
        "environment.yml",
        "files/Lab3.ipynb",
        f"{PAYLOAD}/autograder/manifest.json",
        f"{PAYLOAD}/autograder/engine/grade.py",
        f"{PAYLOAD}/autograder/child/probes/__init__.py",
        f"{PAYLOAD}/assignments/lab3/__init__.py",
        f"{PAYLOAD}/assignments/lab3/data.py",
    ):
        assert required in names, required
    assert any(n.startswith(f"{PAYLOAD}/autograder/graders/test_") for n in names)
    assert any(n.startswith("tests/ex") and n.endswith(".py") for n in names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/dist/" in n]
    # the release is the stub release; the solution's seven graded modules travel only for the image build's
    # self-test, under the payload (root-only there, hidden from the sandbox like the graders)
    assert not [n for n in names if n.startswith(("solutions/", "source/", f"{PAYLOAD}/source/"))]
    solution = sorted(n for n in names if n.startswith(f"{PAYLOAD}/solutions/"))
    assert solution == sorted(f"{PAYLOAD}/solutions/lab3/{m}.py" for m in GRADED_MODULES)
    # what otter copies into a submission: one entry notebook (it replaces a student's Lab3.ipynb), no .py
    assert [n for n in names if n.startswith("files/") and n.count("/") == 1] == ["files/Lab3.ipynb"]
    for name in ("run_autograder", "setup.sh"):
        assert stat.S_IMODE(infos[name].external_attr >> 16) == 0o755


def test_zip_is_deterministic(tmp_path: Path, autograder_zip: Path) -> None:
    again = write_zip(autograder_files(REPO), tmp_path / "again.zip")
    assert again.read_bytes() == autograder_zip.read_bytes()


def test_scripts_are_valid_bash_without_hosts() -> None:
    for name in ("setup.sh", "run_autograder"):
        res = subprocess.run(["bash", "-n", str(TEMPLATES / name)], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    for path in TEMPLATES.iterdir():
        assert "://" not in path.read_text(), f"{path.name}: package indexes come from the environment"


def test_otter_test_files_mirror_the_manifest() -> None:
    from otter.test_files import ExceptionTestFile

    manifest = _manifest()
    files = otter_test_files(manifest)
    cases = {}
    for rel, text in files.items():
        tf = ExceptionTestFile.from_string(text, path=rel)
        assert tf.name == Path(rel).stem and not tf.all_or_nothing
        for tc in tf.test_cases:
            cases[tc.name] = tc
    assert len(cases) == len(manifest["tests"])
    for t in manifest["tests"]:
        tc = cases[t["name"]]
        assert tc.points == (0 if t["gpu"] else t["points"])
        assert tc.hidden == (t["visibility"] != "visible")
        question = [x for x in t["tags"] if x in ("ex1", "ex2", "ex3")][0]
        assert re.search(re.escape(repr(t["id"])), files[f"tests/{question}.py"])
    assert sum(tc.points for tc in cases.values()) == manifest["total_cpu"]


@pytest.mark.parametrize("breakage", ["engine_crash", "no_python", "no_submission"])
def test_grader_failure_is_a_failed_autograder_not_a_zero(tmp_path: Path, autograder_zip: Path,
                                                          breakage: str) -> None:
    """A fault of the grader leaves no results.json (Gradescope: "autograder failed") and exits 3."""
    sub = tmp_path / "sub"
    sub.mkdir()
    root = gradescope_tree(autograder_zip, tmp_path / "ag", sub)
    kwargs = {}
    if breakage == "engine_crash":
        grade_py = root / "source" / PAYLOAD / "autograder" / "engine" / "grade.py"
        grade_py.write_text("raise RuntimeError('simulated engine crash')\n")
    elif breakage == "no_python":
        kwargs["python"] = "/nonexistent/python"
    else:
        (root / "submission").rmdir()
    res = run_autograder(root, timeout=120, **kwargs)
    assert res.returncode == 3, (res.stdout, res.stderr)
    assert not (root / "results" / "results.json").exists()
    assert "FAILED" in res.stdout + res.stderr
    if breakage == "engine_crash":
        trace = (root / "results" / "lab3" / "instructor" / "entry_error.txt").read_text()
        assert "simulated engine crash" in trace


@pytest.mark.slow
def test_setup_sh_reuses_an_installed_venv(tmp_path: Path, autograder_zip: Path) -> None:
    """setup.sh's install path on an image that already has the pinned torch (pip --dry-run: nothing changes)."""
    src = tmp_path / "source"
    with zipfile.ZipFile(autograder_zip) as zf:
        zf.extractall(src)
    # settings in the zip's lab3_settings.env reach setup.sh (the environment would win)
    (src / "lab3_settings.env").write_text("LAB3_SKIP_DATA=1\nLAB3_PIP_ARGS=--dry-run\nNOT_LAB3=ignored\n")
    venv_bin = tmp_path / "home" / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    (venv_bin / "python").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LAB3_"))}
    env["LAB3_HOME"] = str(tmp_path / "home")
    res = subprocess.run(
        ["bash", str(src / "setup.sh")], capture_output=True, text=True, env=env, timeout=600
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "reusing" in res.stdout and f"torch already installed: {torch_pins()['torch']}" in res.stdout
    assert "CIFAR-10 not fetched" in res.stdout and "otter-grader" not in res.stdout


@pytest.mark.slow
def test_build_refuses_a_stale_manifest(tmp_path: Path) -> None:
    from autograder.packaging.gradescope import build_autograder_zip

    skip = shutil.ignore_patterns("dist", "__pycache__")
    shutil.copytree(REPO / "autograder", tmp_path / "autograder", ignore=skip)
    manifest = json.loads((tmp_path / "autograder" / "manifest.json").read_text())
    manifest["tests"][0]["points"] += 1
    (tmp_path / "autograder" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RuntimeError, match="manifest.json does not match the graders"):
        build_autograder_zip(tmp_path)
    assert not (tmp_path / "autograder" / "dist").exists()


def test_otter_bridge_copies_only_the_students_graded_modules(tmp_path: Path) -> None:
    """What otter injected (tests/, the entry, the payload copy) and non-module files stay behind."""
    from autograder.packaging import otter_runtime

    sub = tmp_path / "submission"
    (sub / "lab3").mkdir(parents=True)
    (sub / "lab3" / "attention.py").write_text("# student\n")
    (sub / "optim.py").write_text("# flat\n")
    (sub / "notes.txt").write_text("notes\n")
    for injected in ("tests", "lab3_autograder/assignments/lab3"):
        (sub / injected).mkdir(parents=True)
        (sub / injected / "training.py").write_text("# not the student's\n")
    (sub / "Lab3.ipynb").write_text("{}\n")
    (sub / "lab3" / "vit.py").symlink_to("/etc/hostname")
    copy = otter_runtime.student_copy(sub, tmp_path / "copy")
    copied = sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*.py"))
    assert copied == ["lab3/attention.py", "optim.py"]


def test_otter_grade_submission_zip_is_sanitized(tmp_path: Path) -> None:
    """Before otter extracts it next to its kernel, the zip keeps only the graded modules, in lab3/."""
    from autograder.packaging import otter_runtime

    sub = tmp_path / "submission"
    sub.mkdir()
    with zipfile.ZipFile(sub / "student.zip", "w") as zf:
        zf.writestr("lab3/attention.py", "# student\n")
        zf.writestr("attention.py", "# the engine takes lab3/attention.py\n")
        zf.writestr("work/optim.py", "# flat, one level down\n")
        zf.writestr("otter/__init__.py", "raise SystemExit('hijacked the grading kernel')\n")
        zf.writestr("sitecustomize.py", "x = 1\n")
        zf.writestr("../optim.py", "# escapes\n")
    dropped = otter_runtime.sanitize_zips(sub)
    with zipfile.ZipFile(sub / "student.zip") as zf:
        assert zf.namelist() == ["lab3/attention.py", "lab3/optim.py"]
        assert zf.read("lab3/attention.py") == b"# student\n"
    assert len(dropped) == 3
