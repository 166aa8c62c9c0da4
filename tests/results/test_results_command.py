"""`lab3 results --quick` on one small experiment, into a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from autograder import REPO_ROOT
from autograder.answer_key.claims import CLAIMS, read_rows


def lab3(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, env={**os.environ, **(env or {})}, timeout=300)


@pytest.mark.slow
def test_quick_run_of_one_experiment_writes_csv_figures_and_readme(tmp_path):
    out = tmp_path / "results"
    res = lab3("results", "--quick", "--only", "ex3_amp_accumulation", "--out", str(out),
               env={"LAB3_RUNS_DIR": str(tmp_path / "runs")})
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "ex3_accumulation.png", "ex3_amp_accumulation.csv", "ex3_amp_accumulation.json"]
    rows = read_rows(out / "ex3_amp_accumulation.csv")
    amp = [r for r in rows if r["part"] == "amp"]
    acc = [r for r in rows if r["part"] == "accumulation"]
    assert [r["dtype"] for r in amp] == ["float32", "bfloat16"]
    assert [r["accumulation_steps"] for r in acc] == [1, 2, 4]
    assert acc[0]["max_weight_diff_one_step"] == ""  # the reference: the differences are the k-runs'
    assert all(r["max_weight_diff_one_step"] < 1e-4 for r in acc[1:])
    assert meta_cpu(out) > 0
    meta = json.loads((out / "ex3_amp_accumulation.json").read_text())
    assert meta["mode"] == "quick" and meta["command"] == "lab3 results --quick --only ex3_amp_accumulation"
    assert meta["machine"]["torch"] and meta["wall_time_s"] > 0
    readme = (out / "README.md").read_text()
    claims = [c.text for c in CLAIMS if c.experiment == "ex3_amp_accumulation"]
    assert claims and all(c in readme for c in claims)
    assert "**holds**: the same update up to float32 rounding" in readme  # accumulation = large batch
    assert "**not recorded yet**: `lab3 results --only ex1_length_sweep`" in readme
    assert all(c.rule in readme for c in CLAIMS if c.experiment == "ex3_amp_accumulation")
    assert "![ex3_accumulation.png](ex3_accumulation.png)" in readme


def meta_cpu(out) -> float:
    return json.loads((out / "ex3_amp_accumulation.json").read_text())["cpu_time_s"]


def test_unknown_experiment_is_a_usage_error(tmp_path):
    res = lab3("results", "--only", "ex9_nothing", "--out", str(tmp_path))
    assert res.returncode == 2 and "unknown experiment" in res.stderr and "ex1_length_sweep" in res.stderr
