"""The student release works on its own: a fresh virtual environment, ``pip install -r requirements.txt``,
then ``pytest tests/``, ``lab3 check`` and ``lab3 submit`` from the release folder, on the student's files.

The fresh environment reuses what this environment installed (a ``.pth`` line puts its site-packages on the
new one's path, as the pinned wheels would be): pip then finds every requirement satisfied and only installs
the release itself (``-e .``, the ``lab3`` command), with no index at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from autograder import REPO_ROOT
from autograder.build.release import build_releases, write_release


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("student") / "lab3-release"
    write_release(build_releases(REPO_ROOT).assignments, folder)
    return folder


def _env(home: Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "MPLBACKEND": "Agg", "PIP_NO_INDEX": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "LANG": "C.UTF-8"}


def test_release_pins_the_grading_torch_and_installs_the_command(release):
    reqs = (release / "requirements.txt").read_text().splitlines()
    import torch
    import torchvision

    assert f"torch=={torch.__version__.split('+')[0]}" in reqs
    assert f"torchvision=={torchvision.__version__.split('+')[0]}" in reqs
    assert "-e ." in reqs
    assert 'lab3 = "lab3.__main__:main"' in (release / "pyproject.toml").read_text()
    rubric = json.loads((release / "tests" / "rubric.json").read_text())
    assert sum(a["points"] for a in rubric["areas"].values()) == rubric["total"] == 100
    assert all(a["public_tests"] for name, a in rubric["areas"].items() if name != "seq2seq")


def test_pytest_tests_the_release_files_not_the_installed_copy(release):
    """In this development environment ``lab3`` is installed from source/; ``pytest tests/`` in the release
    still tests the release's stubs (failures that name the TODO, no collection error)."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/test_ex1_public.py", "-k", "causal_mask_small",
                           "-p", "no:cacheprovider"], cwd=release, capture_output=True, text=True, timeout=300,
                          env=_env(release))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert f"lab3: testing {release / 'lab3'}" in out
    assert "causal_mask (lab3/attention.py) is not implemented yet" in out and "1 failed" in out


@pytest.mark.slow
def test_fresh_venv_pip_install_pytest_check_submit(release, tmp_path):
    venv = tmp_path / "venv"
    # no pip of its own: the reused site-packages bring this environment's pip and setuptools
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=300)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "reuse_installed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    bin_ = venv / "bin"
    env = _env(tmp_path)
    pip = subprocess.run([str(bin_ / "python"), "-m", "pip", "install", "--no-build-isolation", "-r",
                          "requirements.txt"],
                         cwd=release, capture_output=True, text=True, timeout=600, env=env)
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    assert (bin_ / "lab3").exists()

    tests = subprocess.run([str(bin_ / "python"), "-m", "pytest", "tests/", "-p", "no:cacheprovider"], cwd=release,
                           capture_output=True, text=True, timeout=600, env=env)
    out = tests.stdout + tests.stderr
    assert tests.returncode == 1, out[-3000:]
    assert f"lab3: testing {release / 'lab3'}" in out
    summary = out.strip().splitlines()[-1]
    assert "failed" in summary and "error" not in summary, summary  # failures, no collection errors
    assert "ERROR collecting" not in out and "is not implemented yet" in out

    check = subprocess.run([str(bin_ / "lab3"), "check"], cwd=release, capture_output=True, text=True,
                           timeout=600, env=env)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "sdpa" in check.stdout and " 8 pts" in check.stdout
    assert "MultiHeadAttention.forward (lab3/attention.py) is not implemented yet: see its docstring" in \
        check.stdout.replace("\n" + " " * 13, " ")
    assert "public checks pass (total of the graded tests: 100 points)" in check.stdout

    sub = subprocess.run([str(bin_ / "lab3"), "submit"], cwd=release, capture_output=True, text=True,
                         timeout=300, env=env)
    assert sub.returncode == 0, sub.stderr
    with zipfile.ZipFile(release / "submission.zip") as zf:
        assert sorted(zf.namelist()) == sorted(["Lab3.ipynb"] + [f"lab3/{m}.py" for m in (
            "attention", "positional", "transformer", "vit", "transfer", "training", "optim")])
    assert "unanswered questions: ex1-length-sweep" in sub.stdout
    os.remove(release / "submission.zip")
