"""What isolation this machine offers the sandbox: user, namespaces, cgroups, limits.

Decided once per process (cached) on the trusted side. As root (CI, Gradescope) the child runs as the
dedicated user ``lab3sandbox`` (created with ``useradd`` when missing), inside fresh network, PID and
mount namespaces (``unshare``), in a memory + pids cgroup when the kernel offers one (v1 or v2),
with hidden grader paths. Without root it keeps process isolation, deadlines and rlimits, and
:attr:`Isolation.off` lists what is not enforced.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import stat
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from autograder.settings import value

SANDBOX_USER = "lab3sandbox"


@dataclass
class Isolation:
    root: bool
    uid: int | None = None  # uid/gid the child switches to (None: stays the caller)
    gid: int | None = None
    namespaces: bool = False  # network + pid + mount namespaces through unshare(1)
    userns: bool = False  # without root: inside a user namespace (mapped to the caller)
    cgroup: str = ""  # "v1", "v2" or ""
    off: list[str] = field(default_factory=list)  # protections not enforced, in words

    def summary(self) -> str:
        on = ["separate process with deadlines (process-group kill)", "rlimits (memory, file size, CPU)"]
        if self.uid is not None:
            on.append(f"unprivileged user uid={self.uid}")
        if self.namespaces:
            on.append(
                "no network, own PID namespace, private /tmp, hidden grader files"
                + (" (in a user namespace)" if self.userns else "")
            )
        if self.cgroup:
            on.append(f"cgroup {self.cgroup} (memory, processes)")
        text = "sandbox protections on: " + "; ".join(on)
        if self.off:
            text += "\nsandbox protections OFF: " + "; ".join(self.off)
        return text


def _ensure_user() -> tuple[int, int] | None:
    try:
        pw = pwd.getpwnam(SANDBOX_USER)
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    if os.path.exists(useradd):
        subprocess.run(
            [
                useradd,
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                "--user-group",
                SANDBOX_USER,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        try:
            pw = pwd.getpwnam(SANDBOX_USER)
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            pass
    try:
        pw = pwd.getpwnam("nobody")
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        return None


def unshare_command(user: bool = False) -> list[str]:
    """``unshare`` with fresh network, PID and mount namespaces (and a user namespace without root)."""
    cmd = ["unshare"]
    if user:
        cmd += ["--user", "--map-root-user"]
    return cmd + ["--net", "--pid", "--fork", "--kill-child", "--mount", "--propagation", "private"]


def _namespaces_work(user: bool = False) -> bool:
    if not shutil.which("unshare"):
        return False
    try:
        res = subprocess.run(
            [*unshare_command(user), "true"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )
        return res.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _cgroup_version() -> str:
    base = Path("/sys/fs/cgroup")
    if (base / "cgroup.controllers").exists():
        parent = cgroup_parents("v2")[0]
        ctrl = (parent / "cgroup.controllers").read_text().split() if parent.exists() else []
        if "memory" in ctrl and "pids" in ctrl and _try_mkdir(parent):
            return "v2"
        return ""
    if (base / "memory" / "cgroup.procs").exists() and (base / "pids" / "cgroup.procs").exists():
        if all(_try_mkdir(p) for p in cgroup_parents("v1")):
            return "v1"
    return ""


def _try_mkdir(parent: Path) -> bool:
    probe = parent / f"lab3-probe-{uuid.uuid4().hex[:8]}"
    try:
        probe.mkdir()
        probe.rmdir()
        return True
    except OSError:
        return False


def _world_traversable(path: str) -> bool:
    p = Path(path).resolve()
    for d in [p, *p.parents]:
        try:
            if not os.stat(d).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


@functools.lru_cache(maxsize=1)
def detect() -> Isolation:
    """Probe the machine once. ``LAB3_SANDBOX=weak`` forces the non-root behaviour (tests);
    ``LAB3_SANDBOX=plain`` additionally skips user namespaces."""
    mode = value("LAB3_SANDBOX") or ""
    root = os.geteuid() == 0 and mode not in ("weak", "plain")
    iso = Isolation(root=root)
    if not root:
        iso.userns = mode != "plain" and _namespaces_work(user=True)
        iso.namespaces = iso.userns
        iso.off = ["separate user (the child runs as you; run as root for a dedicated user)"]
        if not iso.namespaces:
            iso.off += [
                "network isolation (no user namespaces here)",
                "hidden grader files / private /tmp (grader files readable by student code)",
                "PID namespace (processes that call setsid() may escape cleanup; "
                "kill(-1) reaches your processes)",
            ]
        iso.off.append("cgroup memory/process limits (rlimits only)")
        return iso
    user = _ensure_user()
    if user:
        iso.uid, iso.gid = user
    else:
        iso.off.append("separate user (useradd failed and no 'nobody')")
    iso.namespaces = _namespaces_work()
    if not iso.namespaces:
        iso.off.append(
            "network/PID/mount namespaces (unshare failed): network reachable, "
            "grader files only protected by permissions"
        )
    if not iso.namespaces and iso.uid is not None and not _world_traversable(sys.base_prefix):
        iso.uid = iso.gid = None
        iso.off.append(
            f"separate user (Python at {sys.base_prefix} is not readable by other users and no mount"
            " namespace is available to expose it)"
        )
    iso.cgroup = _cgroup_version()
    if not iso.cgroup:
        iso.off.append("cgroup limits (rlimits only)")
    return iso


CGROUP_PREFIX = "lab3-"  # every cgroup the engine creates is named lab3-<session pid>-<random>


def cgroup_parents(version: str) -> list[Path]:
    """Where the per-child cgroups go: under the grader's own cgroups (v1: memory and pids; v2: one
    folder), so that they count against the limits the grader itself was given."""
    from autograder.engine.memory import own_cgroup_dirs

    dirs = own_cgroup_dirs()
    if version == "v2":
        own = dirs.get("unified", Path("/sys/fs/cgroup"))
        try:  # children get the memory controller only where the parent delegates it
            delegated = {"memory", "pids"} <= set((own / "cgroup.subtree_control").read_text().split())
        except OSError:
            delegated = False
        return [own if delegated else Path("/sys/fs/cgroup")]
    return [dirs.get("memory", Path("/sys/fs/cgroup/memory")), dirs.get("pids", Path("/sys/fs/cgroup/pids"))]


class CGroup:
    """A memory + pids cgroup for one child (v1: two hierarchies; v2: one directory), nested under the
    grader's own cgroup."""

    def __init__(self, version: str, dirs: list[Path]) -> None:
        self.version = version
        self.dirs = dirs

    @classmethod
    def create(cls, version: str, mem_bytes: int, max_pids: int) -> CGroup:
        name = f"{CGROUP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        parents = cgroup_parents(version)
        cg = cls(version, [p / name for p in parents])
        for d in cg.dirs:
            d.mkdir()
        if version == "v2":
            _write(cg.dirs[0] / "memory.max", str(mem_bytes))
            _write(cg.dirs[0] / "memory.swap.max", "0")
            _write(cg.dirs[0] / "pids.max", str(max_pids))
        else:
            _write(cg.dirs[0] / "memory.limit_in_bytes", str(mem_bytes))
            _write(cg.dirs[0] / "memory.memsw.limit_in_bytes", str(mem_bytes))
            _write(cg.dirs[1] / "pids.max", str(max_pids))
        return cg

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> set[int]:
        out: set[int] = set()
        for d in self.dirs:
            try:
                out.update(int(x) for x in (d / "cgroup.procs").read_text().split())
            except OSError:
                pass
        return out

    def oom_killed(self) -> bool:
        """Whether this cgroup's own memory limit was hit (the student's code used too much)."""
        from autograder.engine.memory import oom_kills

        if oom_kills(self.dirs[0]) > 0:
            return True
        if self.version == "v1":
            try:
                return int((self.dirs[0] / "memory.failcnt").read_text().strip() or 0) > 0
            except (OSError, ValueError):
                return False
        return False

    def kill_all(self) -> None:
        import signal
        import time

        if self.version == "v2" and (self.dirs[0] / "cgroup.kill").exists():
            _write(self.dirs[0] / "cgroup.kill", "1")
        for _ in range(200):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    import time

                    time.sleep(0.02)


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError:
        pass


def remove_stale_cgroups(session_pid: int) -> None:
    """Kill and remove the cgroups that a (killed) session with this pid left behind."""
    version = "v2" if (Path("/sys/fs/cgroup") / "cgroup.controllers").exists() else "v1"
    for parent in cgroup_parents(version):
        for d in parent.glob(f"{CGROUP_PREFIX}{session_pid}-*"):
            CGroup(version, [d]).remove()
