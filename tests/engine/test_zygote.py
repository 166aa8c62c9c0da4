"""The sandbox's fork server: children forked from it serve probes in their own namespaces, the zygote
goes away with the sandbox, and a broken fork path falls back to exec."""

from __future__ import annotations

import os

import pytest
from engine_helpers import solution_text, staged_for_sandbox

from autograder.engine.sandbox import Sandbox
from autograder.engine.zygote import Zygote

pytestmark = pytest.mark.slow


@pytest.fixture
def sandbox_parts(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    lines: list[str] = []
    with staged_for_sandbox(tmp_path / "sub", {"attention": solution_text("attention")}) as (iso, staged):
        yield iso, staged, logs, lines


def _sandbox(parts, zygote) -> Sandbox:
    iso, staged, logs, lines = parts
    return Sandbox(staged.root, graded=["attention"], isolation=iso, log_dir=logs, log=lines.append, zygote=zygote)


def test_forked_child_serves_probes_in_its_namespaces(sandbox_parts):
    """(What a forked child inherits and drops is tested with student code: security case grader_detection.)"""
    import torch  # noqa: F401 - what the session imports before forking

    iso = sandbox_parts[0]
    zygote = Zygote.fork()
    box = _sandbox(sandbox_parts, zygote)
    try:
        mask = box.request("call", {"probe": "attention.causal_mask", "kwargs": {"size": 4}}, 30, "mask")
        assert mask["mask"].shape == (4, 4) and bool(mask["mask"][0, 1]) and not bool(mask["mask"][1, 0])
        ready = [line for line in sandbox_parts[3] if "child 1 ready" in line]
        assert ready and box.zygote is zygote
        if iso.namespaces:
            assert "pid=1 " in ready[0]  # PID 1 of its own PID namespace
        if iso.uid is not None:
            assert f"uid={iso.uid} " in ready[0]
    finally:
        box.close()
    assert box.zygote is None
    with pytest.raises(ChildProcessError):
        os.waitpid(zygote.pid, os.WNOHANG)  # closed and reaped


def test_broken_fork_path_falls_back_to_exec(sandbox_parts, monkeypatch):
    zygote = Zygote.fork()
    real_spawn = zygote.spawn

    def spawn_into_missing_folder(request, fds):  # the forked child cannot chdir: it never gets ready
        return real_spawn(dict(request, cwd="/nonexistent/lab3"), fds)

    monkeypatch.setattr(zygote, "spawn", spawn_into_missing_folder)
    box = _sandbox(sandbox_parts, zygote)
    try:
        mask = box.request("call", {"probe": "attention.causal_mask", "kwargs": {"size": 3}}, 90, "mask")
        assert mask["mask"].shape == (3, 3)
        lines = sandbox_parts[3]
        assert any("starting the child with exec" in line for line in lines)
        assert any("child 2 ready" in line for line in lines) and box.zygote is None
    finally:
        box.close()


def test_a_child_that_keeps_memory_is_replaced_by_a_fresh_fork(tmp_path, monkeypatch):
    """A call that leaves more than ``recycle_mb`` of private memory in the child (here a 64 MB global the
    student's module keeps) gets a fresh child forked for the next call, which still answers; a call that
    keeps nothing does not, nor does what the module holds from its import (64 MB more). The private memory
    (a walk of every page table) is counted after each import and after a call that faulted memory in, not
    after calls that did not."""
    import torch  # noqa: F401 - what the session imports before forking

    from autograder.engine import memory
    from autograder.engine.sandbox import Limits

    counted: list[int] = []
    count = memory.private_mb
    monkeypatch.setattr(memory, "private_mb", lambda pid: counted.append(pid) or count(pid))

    hoard = ("\n\n_kept = [torch.ones(16 << 20)]\n_causal_mask = causal_mask\n\n\ndef causal_mask(size, device=None):\n"
             "    if size == 5:\n        _kept.append(torch.ones(16 << 20))  # 64 MB, written\n"
             "    return _causal_mask(size, device=device)\n")
    logs, lines = tmp_path / "logs", []
    logs.mkdir()
    with staged_for_sandbox(tmp_path / "sub", {"attention": solution_text("attention") + hoard}) as (iso, staged):
        box = Sandbox(staged.root, graded=["attention"], isolation=iso, log_dir=logs, log=lines.append,
                      zygote=Zygote.fork(), limits=Limits(recycle_mb=48))
        try:
            imported: set[int] = set()

            def call(size: int):  # imports first in each new child, as the plugin does
                if box.generation not in imported:
                    box.request("import", {"module": "lab3.attention"}, 30, "import attention")
                    imported.add(box.generation)
                return box.request("call", {"probe": "attention.causal_mask", "kwargs": {"size": size}}, 30,
                                   "mask")

            call(3)
            assert box.generation == 1, lines
            assert len(counted) == 1  # after the import only: the call faulted nothing in
            assert call(5)["mask"].shape == (5, 5)
            assert box.generation == 2 and any("MiB of private memory; starting a fresh child" in x for x in lines)
            assert len(counted) == 2
            assert call(4)["mask"].shape == (4, 4) and box.generation == 2
            assert len(counted) == 3  # the new child's import
        finally:
            box.close()
