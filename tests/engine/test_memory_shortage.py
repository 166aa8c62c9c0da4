"""A grader short of memory re-reads its own code from disk until calls run into their deadlines: such a
timeout is the grader's fault (exit 3, regrade), never the student's timeout and a lower score."""

from __future__ import annotations

import pytest
from engine_helpers import solution_text, staged_for_sandbox

from autograder.engine import memory
from autograder.engine.errors import GradingFault, StudentTimeout
from autograder.engine.sandbox import Sandbox


@pytest.mark.parametrize("name,text,expected", [
    ("memory.stat", "cache 1\npgmajfault 7\ntotal_pgmajfault 123\n", 123),  # v1: hierarchical total
    ("memory.stat", "anon 1\npgmajfault 456\n", 456),  # v2: pgmajfault is hierarchical
    ("other", "", None),
])
def test_major_faults_of_the_graders_cgroup(tmp_path, name, text, expected):
    (tmp_path / name).write_text(text)
    assert memory.major_faults(tmp_path) == expected
    assert memory.major_faults(None) is None


def test_only_many_rereads_mean_a_shortage(tmp_path):
    stat = tmp_path / "memory.stat"
    stat.write_text("total_pgmajfault 1000\n")
    before = memory.major_faults(tmp_path)
    stat.write_text(f"total_pgmajfault {1000 + memory.THRASH_MAJOR_FAULTS - 1}\n")
    assert memory.thrashed(before, tmp_path) == 0
    stat.write_text(f"total_pgmajfault {1000 + 3 * memory.THRASH_MAJOR_FAULTS}\n")
    assert memory.thrashed(before, tmp_path) == 3 * memory.THRASH_MAJOR_FAULTS
    assert memory.thrashed(None, tmp_path) == 0


@pytest.mark.slow
@pytest.mark.parametrize("reread", [0, 50_000])
def test_a_timeout_while_the_grader_thrashes_is_a_fault(tmp_path, monkeypatch, reread):
    """The same hanging call: a student timeout normally; a GradingFault when the grader's cgroup re-read
    50 000 pages meanwhile."""
    hang = "\n\ndef causal_mask(size, device=None):\n    while True:\n        pass\n"
    counter = iter(range(0, 10**9, reread or 1))
    monkeypatch.setattr(memory, "major_faults", lambda cgroup_dir: next(counter))
    (tmp_path / "logs").mkdir()
    with staged_for_sandbox(tmp_path / "sub", {"attention": solution_text("attention") + hang}) as (iso, staged):
        box = Sandbox(staged.root, graded=["attention"], isolation=iso, log_dir=tmp_path / "logs",
                      log=lambda _: None)
        try:
            expected = GradingFault if reread else StudentTimeout
            with pytest.raises(expected) as info:
                box.request("call", {"probe": "attention.causal_mask", "kwargs": {"size": 4}}, 2, "mask")
            if reread:
                assert "short of memory" in str(info.value) and "raise the memory limit" in str(info.value)
        finally:
            box.close()
