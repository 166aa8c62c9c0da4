"""One sandboxed child process that runs student code, seen from the trusted side.

:class:`Sandbox` starts ``autograder/child/main.py`` (see there for the lock-down) — forked from the zygote
(:mod:`autograder.engine.zygote`) when the session has one, else with exec — sends requests over a pipe pair,
waits for each answer with a wall-clock deadline, and on expiry, crash or protocol violation kills the
child's whole process tree (cgroup, PID namespace, process group) and starts a fresh one in the
background. stdout/stderr of the child are drained by threads into capped log files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.child import wire
from autograder.engine import memory
from autograder.engine.errors import StudentCrash, StudentError, StudentTimeout
from autograder.engine.isolation import CGroup, Isolation, unshare_command
from autograder.engine.zygote import Launched, Zygote
from autograder.outdir import SubmissionOut

CHILD_SCRIPT = Path(__file__).resolve().parent.parent / "child" / "main.py"
# what a sandbox child imports before it reads any student file (the zygote imports it for the children)
CHILD_PRELOAD = ("numpy", "torch", "torch.nn", "torch.nn.functional")
# a forked child's private memory is counted again after a call when its anonymous resident memory grew by
# this much since the last count, or this long after it (writes to pages shared with the zygote do not grow it)
RECOUNT_GROWTH_MB, RECOUNT_EVERY_S = 8, 1.0
START_FAILED = "the grading sandbox could not start (a problem of the grading machine, not of your code)"


def runtime_paths() -> list[str]:
    """Folders the child's Python needs even where their parents are hidden (e.g. a pyenv under /root)."""
    import sysconfig

    paths = {sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            paths.add(sysconfig.get_path(key))
        except KeyError:
            pass
    return sorted({os.path.realpath(p) for p in paths if p and os.path.isdir(p)})


@dataclass
class Limits:
    mem_mb: int = 3072  # address-space data limit of the child (cgroup gets a little more)
    nproc: int = 256  # processes/threads of the sandbox user (and the cgroup pids.max)
    fsize_mb: int = 64  # largest file the child may write
    tmp_mb: int = 256  # private /tmp and /dev/shm (namespaces only)
    cpu_s: int = 900  # CPU seconds over the child's whole life (backstop; wall deadlines rule)
    log_kb: int = 256  # kept per stream of child output
    start_timeout_s: float = 90.0  # child start (python + torch import), trusted code only
    import_timeout_s: float = 30.0  # importing one student module
    max_result_mb: int = 256  # size of one answer (5000 CIFAR images are 15 MB)
    threads: int = 1
    # a child forked from the zygote that holds more than this much private memory after a call is
    # replaced by a fresh fork (milliseconds): what one test left behind never adds to the next one's peak
    recycle_mb: int = 96


class _Drain(threading.Thread):
    """Reads one pipe to EOF, keeping the first ``cap`` bytes in a file, counting the rest."""

    def __init__(self, fd: int, path: Path, cap: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.path, self.cap = fd, path, cap
        self.dropped = 0

    def run(self) -> None:
        kept = 0
        with open(self.path, "ab") as fh:
            while True:
                try:
                    data = os.read(self.fd, 1 << 16)
                except OSError:
                    break
                if not data:
                    break
                room = max(0, self.cap - kept)
                if room:
                    fh.write(data[:room])
                    fh.flush()
                    kept += min(room, len(data))
                self.dropped += max(0, len(data) - room)
            if self.dropped:
                fh.write(f"\n[... {self.dropped} more bytes of output dropped ...]\n".encode())
        os.close(self.fd)


class Sandbox:
    """A warm child process serving probe calls; restarts itself after a kill."""

    def __init__(
        self,
        staging: Path,
        *,
        graded: list[str],
        isolation: Isolation,
        limits: Limits | None = None,
        hide: list[str] | None = None,
        log_dir: Path,
        log=print,
        zygote: Zygote | None = None,
    ) -> None:
        self.zygote = zygote  # fork children from it (shared torch pages); None: exec a fresh python
        self.staging = staging
        self.graded = graded
        self.iso = isolation
        self.limits = limits or Limits()
        self.hide = hide or []
        self.log_dir = log_dir
        self.log = log
        self.proc: subprocess.Popen | Launched | None = None
        self.cgroup: CGroup | None = None
        self.ready = False
        self.generation = 0
        self.imported: set[str] = set()
        self.calls = 0
        self._req = self._resp = -1
        self._drains: list[_Drain] = []
        self.start_failures = 0
        self._imports_mb = 0
        self._counted = (-1 << 30, 0.0)
        self._grader_cgroup = memory.memory_cgroup_dir()
        self._grader_oom_kills = memory.oom_kills(self._grader_cgroup)  # baseline: kills before this run

    # ---------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Spawn a fresh child (returns at once; the first request waits for it to be ready)."""
        self.generation += 1
        self._imports_mb = 0  # private memory of the new child after importing the student's modules
        self._counted = (-1 << 30, 0.0)  # (anonymous resident MiB, time) at the last count of its private memory
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        lim = self.limits
        self.cgroup = self._new_cgroup()
        cfg = self._child_config(req_r, resp_w)
        cmd = [sys.executable, "-I", "-B", str(CHILD_SCRIPT), json.dumps(cfg)]
        if self.iso.namespaces:
            cmd = [*unshare_command(user=self.iso.userns), "--", *cmd]
        work = self.staging / "work"
        env = self._child_env(work)
        gen = self.generation
        self.proc = None
        if self.zygote is not None:
            request = {"cfg": cfg, "env": env, "cwd": str(work), "ns": self.iso.namespaces, "userns": self.iso.userns}
            try:
                self.proc = self.zygote.spawn(request, [req_r, resp_w, out_w, err_w])
            except OSError as exc:
                self.log(f"zygote spawn failed ({exc!r}); starting the child with exec")
                self.zygote = None
        if self.proc is None:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                pass_fds=(req_r, resp_w),
                env=env,
                cwd=str(work),
                start_new_session=True,
                close_fds=True,
                preexec_fn=_die_with_parent,
            )
        for fd in (req_r, resp_w, out_w, err_w):
            os.close(fd)
        self._req, self._resp = req_w, resp_r
        os.set_blocking(self._req, False)
        self._drains = [
            _Drain(out_r, self.log_dir / SubmissionOut.child_log(gen, "stdout"), lim.log_kb << 10),
            _Drain(err_r, self.log_dir / SubmissionOut.child_log(gen, "stderr"), lim.log_kb << 10),
        ]
        for d in self._drains:
            d.start()
        self.ready = False
        self.imported = set()

    def _new_cgroup(self) -> CGroup | None:
        """A fresh memory + pids cgroup for the next child (None where cgroups are off or creation fails)."""
        if not self.iso.cgroup:
            return None
        try:
            return CGroup.create(self.iso.cgroup, (self.limits.mem_mb + 512) << 20, self.limits.nproc)
        except OSError as exc:
            self.log(f"cgroup creation failed: {exc}")
            return None

    def _child_config(self, req_fd: int, resp_fd: int) -> dict[str, Any]:
        """What the child's lock-down and request loop read (``autograder.child.main``): plain JSON data."""
        lim = self.limits
        return {
            "req_fd": req_fd,
            "resp_fd": resp_fd,
            "staging": str(self.staging),
            "graded": self.graded,
            "mount_ns": self.iso.namespaces,
            "pid_ns": self.iso.namespaces,
            "hide": sorted(set(self.hide) | _closed_ancestors(runtime_paths())),
            "tmp_mb": lim.tmp_mb,
            "mem_bytes": lim.mem_mb << 20,
            "fsize_bytes": lim.fsize_mb << 20,
            "cpu_s": lim.cpu_s,
            # RLIMIT_NPROC counts every process of the sandbox user, i.e. of all submissions graded at once:
            # with a pids cgroup (per child) it is only a loose backstop, so -j N stays independent
            "nproc": (max(16 * lim.nproc, 4096) if self.cgroup else lim.nproc) if self.iso.root else 0,
            "uid": self.iso.uid,
            "gid": self.iso.gid,
            "cgroup_procs": self.cgroup.procs_files if self.cgroup else [],
            "keep": runtime_paths(),
            "label": str(self.log_dir),  # identifies this run's processes (ps / tests)
            "threads": lim.threads,
            "preload": list(CHILD_PRELOAD),
        }

    def _child_env(self, work: Path) -> dict[str, str]:
        """The child's whole environment: nothing of the grader's leaks in."""
        threads = str(self.limits.threads)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp" if self.iso.namespaces else str(work),
            "TMPDIR": "/tmp" if self.iso.namespaces else str(work),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "OMP_WAIT_POLICY": "PASSIVE",  # idle OpenMP threads sleep instead of spinning (shared CPUs)
            "MPLBACKEND": "Agg",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TQDM_DISABLE": "1",
        }
        for key in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "LD_LIBRARY_PATH"):
            if key in os.environ:
                env[key] = os.environ[key]
        return env

    def _wait_ready(self) -> None:
        if self.start_failures >= 2:
            raise StudentCrash(START_FAILED, detail="sandbox start failed twice; not retried")
        if self.proc is None:
            self.start()
        if self.ready:
            return
        deadline = time.monotonic() + self.limits.start_timeout_s
        try:
            kind, body = wire.read_frame(self._resp, deadline)
            if kind != wire.Kind.READY:
                raise wire.WireError(f"unexpected {kind}")
        except wire.WireError as exc:
            detail = self._stderr_tail()
            self.kill()
            self.start_failures += 1
            self.log(f"sandbox start failed: {exc!r}\n{detail}")
            if self.zygote is not None:  # a machine problem of the fork path: try once more with exec
                self.log("starting the child with exec instead of the zygote")
                self.zygote.close()
                self.zygote = None
                self._wait_ready()
                return
            raise StudentCrash(START_FAILED, detail=f"{exc!r}\n{detail}") from None
        self.ready = True
        self.log(
            f"child {self.generation} ready: pid={body.get('pid')} uid={body.get('uid')} "
            f"preload={body.get('preload_s', 0):.2f}s notes={body.get('notes')}"
        )

    def kill(self, restart: bool = False) -> int | None:
        """Kill the child's whole process tree; optionally start a fresh one right away."""
        rc = None
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                proc.kill()
            except OSError:
                pass
            if self.cgroup is not None:
                self.cgroup.kill_all()
            try:
                rc = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                rc = None
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        for fd in (self._req, self._resp):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._req = self._resp = -1
        for d in self._drains:
            d.join(timeout=2)
        self._drains = []
        self.ready = False
        if restart:
            self.start()
        return rc

    def close(self) -> None:
        if self.proc is not None and self.ready:
            try:
                wire.write_frame(self._req, wire.encode(wire.Kind.EXIT, None), time.monotonic() + 1)
                self.proc.wait(timeout=2)
            except (wire.WireError, subprocess.TimeoutExpired):
                pass
        self.kill(restart=False)
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None

    # ---------------------------------------------------------------------------------- requests
    def request(self, kind: wire.Kind, body: Any, timeout: float, what: str) -> Any:
        """Send one request and return the decoded ``value``; raises a StudentProblem otherwise."""
        self._wait_ready()
        self.calls += 1
        deadline = time.monotonic() + timeout
        faults = memory.major_faults(self._grader_cgroup)
        try:
            wire.write_frame(self._req, wire.encode(kind, body), deadline)
            rkind, rbody = wire.read_frame(self._resp, deadline, self.limits.max_result_mb << 20)
        except wire.ChannelTimeout:
            self.kill(restart=True)
            reread = memory.thrashed(faults, self._grader_cgroup)
            if reread:  # the grader's own shortage made the call slow: never the student's timeout
                raise memory.NotEnoughMemory(
                    f"{what}: timed out after {timeout:g} s while the grader was short of memory ({reread} pages "
                    f"re-read from disk); raise the memory limit"
                ) from None
            raise StudentTimeout(f"timed out after {timeout:g} s", seconds=timeout, detail=what) from None
        except wire.ChannelClosed:
            raise self._crashed(what) from None
        except wire.WireError as exc:
            self.kill(restart=True)
            raise StudentCrash(
                "your code broke the grader's communication channel (it wrote to it or sent malformed data)",
                detail=f"{what}: {exc}",
            ) from None
        self._recycle_if_polluted(what) or self._recycle_if_grown(kind, what)
        if rkind == wire.Kind.OK and isinstance(rbody, dict) and "value" in rbody:
            return rbody["value"]
        if rkind == wire.Kind.ERROR and isinstance(rbody, dict):
            raise _student_error(rbody)
        self.kill(restart=True)
        raise StudentCrash("your code sent an unexpected answer to the grader", detail=f"{what}: {rkind}")

    def _recycle_if_polluted(self, what: str) -> bool:
        """Student code left processes behind (forks, daemons): the next test gets a fresh child, so
        nothing one call started can affect another test. Needs a cgroup to see them."""
        if self.cgroup is None:
            return False
        extra = len(self.cgroup.pids()) - 1  # the child itself
        if extra > 0:
            self.log(f"{what}: student code left {extra} process(es) behind; starting a fresh child")
            self.kill(restart=True)
            return True
        return False

    def _recycle_if_grown(self, kind: wire.Kind, what: str) -> bool:
        """A forked child that kept more than ``limits.recycle_mb`` of private memory beyond what importing
        the student's modules left (models, heap the allocator keeps) is replaced now, while the session
        judges the answer: the next call starts from the zygote's shared pages. What the modules hold is
        never a reason (a fresh child would import them again). Children started with exec are kept."""
        if self.zygote is None or not isinstance(self.proc, Launched):
            return False
        anon, now = memory.anon_resident_mb(self.proc.pid), time.monotonic()
        if (kind != wire.Kind.IMPORT and anon - self._counted[0] < RECOUNT_GROWTH_MB
                and now - self._counted[1] < RECOUNT_EVERY_S):
            return False  # nothing of size faulted in since the last count (which takes ~10 ms of page walks)
        self._counted = (anon, now)
        held = memory.private_mb(self.proc.pid)
        if kind == wire.Kind.IMPORT:
            self._imports_mb = max(self._imports_mb, held)
            return False
        if held <= self._imports_mb + self.limits.recycle_mb:
            return False
        self.log(f"{what}: the child holds {held} MiB of private memory; starting a fresh child")
        self.kill(restart=True)
        return True

    def _crashed(self, what: str) -> StudentCrash | memory.NotEnoughMemory:
        oom = self.cgroup.oom_killed() if self.cgroup is not None else False
        if not oom and memory.oom_kills(self._grader_cgroup) > self._grader_oom_kills:
            self.kill(restart=True)  # the whole grader ran out of memory, not the student's code
            return memory.NotEnoughMemory(
                f"{what}: the kernel killed the sandbox because the grader as a whole ran out of memory "
                f"({memory.memory_limit_bytes() >> 20} MiB); raise the memory limit"
            )
        proc = self.proc
        rc = None
        if proc is not None:
            try:
                rc = proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                rc = None
        self.kill(restart=True)
        if oom:
            msg = f"your code ran out of memory (limit {self.limits.mem_mb} MB) and was killed"
        elif rc is not None and rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            msg = f"the process running your code was killed by {name}"
            if name == "SIGXFSZ":
                msg += f" (a file over {self.limits.fsize_mb} MB)"
            elif name == "SIGXCPU":
                msg += " (CPU time limit)"
        elif rc is not None and rc >= 128 and self.iso.namespaces:
            msg = f"the process running your code was killed by signal {rc - 128}"
        elif rc is not None:
            msg = f"the process running your code exited with code {rc} (os._exit or a crash)"
        else:
            msg = "the process running your code died"
        return StudentCrash(msg, returncode=rc, detail=f"{what}: rc={rc} oom={oom}\n{self._stderr_tail()}")

    def _stderr_tail(self, n: int = 2000) -> str:
        path = self.log_dir / SubmissionOut.child_log(self.generation, "stderr")
        try:
            return path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def _closed_ancestors(paths: list[str]) -> set[str]:
    """The highest folder above each path that other users cannot enter (e.g. /root above a pyenv):
    the child mounts over it and re-exposes the runtime, so the sandbox user can run Python."""
    import stat as stat_mod

    out = set()
    for p in paths:
        for d in reversed(Path(p).parents):
            try:
                if not os.stat(d).st_mode & stat_mod.S_IXOTH:
                    out.add(str(d))
                    break
            except OSError:
                break
    return out


def _die_with_parent() -> None:
    """In the forked child before exec: SIGKILL when the grading session dies (PR_SET_PDEATHSIG)."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)


def _student_error(body: dict) -> StudentError:
    exc_type = str(body.get("exc_type", "Exception"))[:100]
    message = str(body.get("message", ""))[:2000]
    file = str(body.get("file", ""))[:100]
    func = str(body.get("function", ""))[:200]
    frames = [str(f)[:300] for f in body.get("frames", []) if isinstance(f, str)][:6]
    not_impl = body.get("not_implemented") is True
    if not_impl:
        first = message.strip().splitlines()[0][:300] if message.strip() else ""
        if "is not implemented yet" in first and "(lab3/" in first:  # the stub's own words: function and file
            text = first
        else:
            text = f"{file or 'your code'}: {func + ' is' if func else 'this'} not implemented yet"
            if first and "not implemented yet" not in first:  # said once
                text += f" ({first[:200]})"
    else:
        where = frames[-1] if frames else ""
        first = message.strip().splitlines()[0][:500] if message.strip() else ""
        text = f"{exc_type}: {first}" if first else exc_type
        if where:
            text = f"{where}: {text}"
    return StudentError(
        text,
        exc_type=exc_type,
        exc_message=message,
        not_implemented=not_impl,
        where=frames[-1] if frames else "",
        traceback="\n".join(frames),
    )
