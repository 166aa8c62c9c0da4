"""The memory the grader was given: its own cgroup (v1 or v2), the limit, and OOM kills under it.

A grading run that the kernel kills for lack of memory must never look like a student's low score.
So, before a session starts, :func:`check_memory` compares the effective limit of the grader's own
cgroup (the smallest ``memory.max`` / ``memory.limit_in_bytes`` of it and its ancestors, or the
machine's RAM) with what a run needs, and refuses below it; and :func:`oom_kills` lets the sandbox
tell "the student's child hit its own limit" from "the whole grader ran out of memory".
The sandbox creates its per-child cgroups *under* :func:`own_cgroup_dirs`, so they count against
the limit the grader was given (as inside a container or a Slurm job).
"""

from __future__ import annotations

import os
from pathlib import Path

from autograder.engine.errors import GradingFault
from autograder.settings import default, value

CGROUP_ROOT = Path("/sys/fs/cgroup")
# a run on the solution uses ~650-700 MiB inside a memory cgroup (docs/memory.md): it grades 100 at Gradescope's
# default of 768 MB, with little room for the page cache; at 704 MiB torch's code pages are evicted and read
# back so often that training tests run into their deadlines (such timeouts are faults: see `thrashed`);
# at 640 MiB the kernel kills the session. Below DEFAULT_MIN_MEMORY_MB the grader refuses to start;
# LAB3_MIN_MEMORY_MB overrides it (0 turns the check off).
DEFAULT_MIN_MEMORY_MB = default("LAB3_MIN_MEMORY_MB")
UNLIMITED = 1 << 60
# Pages read back from disk during one timed-out call that mark it as the grader's memory shortage, not the
# student's slowness: a whole run on the solution reads ~3 500 (cold caches), a run at 704 MiB ~76 000.
THRASH_MAJOR_FAULTS = 10_000


class NotEnoughMemory(GradingFault):
    """The grader's memory limit is below what a grading run needs."""


def _proc_cgroups(proc_file: Path = Path("/proc/self/cgroup")) -> dict[str, str]:
    """``{controller: path}`` of this process; the v2 hierarchy is under the key ``""``."""
    out: dict[str, str] = {}
    try:
        lines = proc_file.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for ctrl in parts[1].split(","):
            out[ctrl] = parts[2]
    return out


def _existing(mount: Path, rel: str) -> Path:
    """``mount/rel`` if it exists, else the mount itself (a container sees its own cgroup as the root)."""
    candidate = mount / rel.lstrip("/")
    return candidate if candidate.is_dir() else mount


def own_cgroup_dirs(root: Path = CGROUP_ROOT) -> dict[str, Path]:
    """The folders of this process's cgroups: ``{"memory": ..., "pids": ...}`` (v1) or ``{"unified": ...}``."""
    cgs = _proc_cgroups()
    if (root / "cgroup.controllers").exists():  # pure v2
        return {"unified": _existing(root, cgs.get("", "/"))}
    dirs = {}
    for ctrl in ("memory", "pids"):
        if (root / ctrl).is_dir():
            dirs[ctrl] = _existing(root / ctrl, cgs.get(ctrl, "/"))
    return dirs


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return UNLIMITED
    try:
        return int(text)
    except ValueError:
        return None


def _machine_memory() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return UNLIMITED


def memory_limit_bytes(root: Path = CGROUP_ROOT) -> int:
    """The memory this process may use: the smallest limit on its cgroup path, or the machine's RAM."""
    limits = [_machine_memory()]
    dirs = own_cgroup_dirs(root)
    start, name = (dirs.get("unified"), "memory.max") if "unified" in dirs else (dirs.get("memory"), None)
    if start is not None:
        mount = root if "unified" in dirs else root / "memory"
        d = start
        while True:
            if name:
                value = _read_int(d / name)
            else:
                value = _read_int(d / "memory.limit_in_bytes")
            if value is not None:
                limits.append(value)
            if d == mount or mount not in d.parents:
                break
            d = d.parent
    return min(limits)


def oom_kills(cgroup_dir: Path | None) -> int:
    """How many processes the kernel OOM-killed because ``cgroup_dir``'s own limit was hit (v1 or v2)."""
    if cgroup_dir is None:
        return 0
    for name in ("memory.events", "memory.oom_control"):
        try:
            text = (cgroup_dir / name).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "oom_kill":
                return int(parts[1])
    return 0


def major_faults(cgroup_dir: Path | None) -> int | None:
    """Pages the processes of ``cgroup_dir`` and its descendants had to read back from disk (v1
    ``total_pgmajfault``, v2 ``pgmajfault``); ``None`` without a memory cgroup."""
    if cgroup_dir is None:
        return None
    try:
        text = (cgroup_dir / "memory.stat").read_text()
    except OSError:
        return None
    fields = dict(line.split(maxsplit=1) for line in text.splitlines() if " " in line)
    for key in ("total_pgmajfault", "pgmajfault"):
        if key in fields:
            try:
                return int(fields[key])
            except ValueError:
                return None
    return None


def thrashed(faults_before: int | None, cgroup_dir: Path | None) -> int:
    """Pages re-read from disk since ``faults_before`` when that many mean the grader is short of memory
    (code pages evicted and read back over and over: a run slows into its deadlines), else 0."""
    after = major_faults(cgroup_dir)
    if faults_before is None or after is None:
        return 0
    delta = after - faults_before
    return delta if delta >= THRASH_MAJOR_FAULTS else 0


def memory_cgroup_dir(root: Path = CGROUP_ROOT) -> Path | None:
    dirs = own_cgroup_dirs(root)
    return dirs.get("unified") or dirs.get("memory")


def required_mb() -> int:
    try:
        return value("LAB3_MIN_MEMORY_MB")
    except ValueError:
        return DEFAULT_MIN_MEMORY_MB


def check_memory(need_mb: int | None = None) -> str:
    """Refuse (:class:`NotEnoughMemory`) when the grader's memory limit is below ``need_mb``; return a
    one-line summary for the log otherwise."""
    need = required_mb() if need_mb is None else need_mb
    limit = memory_limit_bytes()
    have_mb = limit >> 20
    summary = f"memory limit {'none' if limit >= UNLIMITED else f'{have_mb} MiB'} (needs {need} MiB)"
    if need and limit < need << 20:
        raise NotEnoughMemory(
            f"the grader has {have_mb} MiB of memory and needs at least {need} MiB; a run this small would "
            f"be killed part-way and give wrong grades. Raise the memory limit (on Gradescope: Autograder "
            f"Settings > Memory: 1 GB)"
        )
    return summary


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's list; empty when it is gone)."""
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return out


def smaps_kib(pid: int, field: str) -> int:
    """One field of ``/proc/PID/smaps_rollup`` in KiB (``"Pss"``, ``"Private_Dirty"``, ...); 0 when unreadable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _status_kib(pid: int, field: str) -> int:
    """One field of ``/proc/PID/status`` in KiB (``"RssAnon"``, ...); 0 when unreadable."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith(f"{field}:")), 0)
    except (OSError, ValueError, IndexError):
        return 0


def _tree_mb(pid: int, kib_of) -> int:
    """``kib_of(p)`` summed over ``pid`` and every process under it, in MiB."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        total += kib_of(p)
        todo.extend(_children(p))
    return total >> 10


def anon_resident_mb(pid: int) -> int:
    """Anonymous resident memory of the process tree under ``pid`` (``RssAnon`` of ``/proc/PID/status``, MiB):
    a counter the kernel keeps, cheap to read where :func:`private_mb` walks every page table. Pages shared
    copy-on-write with the zygote count here too, so only its growth means something: new pages faulted in."""
    return _tree_mb(pid, lambda p: _status_kib(p, "RssAnon"))


def private_mb(pid: int) -> int:
    """Memory the process tree under ``pid`` holds for itself alone (private dirty pages, MiB): what it
    adds to the machine beyond the pages it shares copy-on-write with its zygote; 0 when unreadable."""
    return _tree_mb(pid, lambda p: smaps_kib(p, "Private_Dirty"))
