"""A clean, pre-warmed parent for the sandbox children (a fork server), so torch is loaded once.

Importing torch costs ~4 s and ~280 MB of private memory per process (relocations, static tables, the
Python objects of its modules); a second import in the child would double it. So the grading session
imports torch, freezes its heap (``gc.freeze``) and forks this zygote *before* it reads any grader or
student file: the zygote holds nothing the student may not see. Each sandbox child is then forked from
the zygote and shares those pages copy-on-write with the session (the memory budget counts PSS: shared pages
once), and starts in milliseconds instead of seconds. Before the fork the session also unmaps the library pages
that only the imports' static initialisers touched (CUDA libraries, triton: ~200 MiB counted in its PSS for
the whole run before; :func:`autograder.child.memtrim.unmap_library_pages`).

Per child the zygote forks a *launcher* that plays ``unshare --fork --kill-child``: it enters fresh
network, PID and mount namespaces (plus a user namespace when not root), forks the child (PID 1 there),
waits for it and reports its exit status through a pipe, since the session is not the child's parent.
The child resets what it inherited (descriptors, environment, imported grader modules, ``sys.path``) and
runs ``child.run``, which locks down exactly as when started by ``exec``.

Protocol on a ``SOCK_SEQPACKET`` pair: the session sends ``{"cfg", "env", "cwd", "ns", "userns"}``
with five descriptors (request read end, response write end, stdout, stderr, status write
end); the zygote answers ``{"pid": launcher_pid}``.
"""

from __future__ import annotations

import ctypes
import gc
import io
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
PR_SET_PDEATHSIG = 1
SPAWN_TIMEOUT_S = 30.0  # the zygote answers a spawn request in milliseconds; silence means it is broken
_STATUS = struct.Struct("i")


class Launched:
    """The session's handle on one forked child (the launcher's pid): the subset of ``Popen`` it uses."""

    def __init__(self, pid: int, status_fd: int) -> None:
        self.pid = pid
        self._status_fd = status_fd
        self.returncode: int | None = None
        self._buf = b""

    def wait(self, timeout: float | None = None) -> int:
        rc = self.returncode if self.returncode is not None else self._read(timeout)
        if rc is None:
            raise subprocess.TimeoutExpired("sandbox child", timeout or 0)
        return rc

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)  # the child (PID 1 of its namespace) dies with its launcher
        except OSError:
            pass

    def _read(self, timeout: float | None) -> int | None:
        if self._status_fd < 0:
            return self.returncode
        ready, _, _ = select.select([self._status_fd], [], [], timeout)
        if not ready:
            return None
        while len(self._buf) < _STATUS.size:
            data = os.read(self._status_fd, _STATUS.size - len(self._buf))
            if not data:  # launcher killed before it could report: the child died with it
                self.returncode = -signal.SIGKILL
                break
            self._buf += data
        else:
            self.returncode = _STATUS.unpack(self._buf)[0]
        os.close(self._status_fd)
        self._status_fd = -1
        return self.returncode

    def __del__(self) -> None:
        if self._status_fd >= 0:
            os.close(self._status_fd)


def request_fork(sock: socket.socket, request: dict, fds: list[int], timeout: float, server: str) -> Launched:
    """Ask a fork server (this zygote, or :mod:`autograder.engine.session_server`) for a process: send
    ``request`` with ``fds`` and the write end of a status pipe, read back its pid. Raises ``OSError`` when
    the server is gone or does not answer within ``timeout``."""
    status_r, status_w = os.pipe()
    try:
        sock.settimeout(timeout)
        socket.send_fds(sock, [json.dumps(request).encode()], [*fds, status_w])
        answer = sock.recv(4096)
    except OSError:
        os.close(status_r)
        raise
    finally:
        os.close(status_w)
    if not answer:
        os.close(status_r)
        raise OSError(f"{server} is gone")
    return Launched(int(json.loads(answer)["pid"]), status_r)


class Zygote:
    """Fork server started from the grading session (trusted side)."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid, self.sock = pid, sock

    @classmethod
    def fork(cls) -> Zygote:
        """Fork the zygote from the current (clean) process; call before reading graders or submissions."""
        from autograder.child import main as child_module  # stdlib only; kept for the forked children
        from autograder.child.memtrim import trim_heap, unmap_library_pages

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        gc.collect()
        # Frozen for good, here too: a collection that walked the shared objects would write their headers
        # and copy ~100 MB of pages into the session (they are imported modules, never garbage).
        gc.freeze()
        trim_heap()  # free heap pages go back to the OS now, instead of being shared and copied later
        unmap_library_pages()  # what the imports' initialisers alone touched (CUDA libraries, triton)
        session = os.getpid()
        pid = os.fork()
        if pid == 0:  # the zygote
            try:
                ours.close()
                _serve(theirs, child_module, session)
            finally:
                os._exit(70)
        theirs.close()
        return cls(pid, ours)

    def spawn(self, request: dict, fds: list[int]) -> Launched:
        """Fork a sandbox child; ``fds``: its request-read, response-write, stdout and stderr ends (the
        caller closes its copies). Raises ``OSError`` when the zygote is gone or does not answer."""
        return request_fork(self.sock, request, fds, SPAWN_TIMEOUT_S, "the sandbox zygote")

    def close(self) -> None:
        self.sock.close()  # the zygote exits on EOF (within a second)
        deadline = time.monotonic() + 3
        try:
            while os.waitpid(self.pid, os.WNOHANG)[0] == 0:
                if time.monotonic() > deadline:
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    break
                time.sleep(0.02)
        except OSError:
            pass


# ------------------------------------------------------------------------------------ zygote side
def _serve(sock: socket.socket, child_module, session: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with the session
    if os.getppid() != session:  # the session died before that took effect
        os._exit(0)
    _only_fds({0, 1, 2, sock.fileno()})
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        while True:  # reap finished launchers
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not select.select([sock], [], [], 1.0)[0]:
            continue
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 1 << 20, 8)
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)
        pid = os.fork()
        if pid == 0:
            try:
                sock.close()
                _launch(json.loads(msg), fds, child_module, libc)
            finally:
                os._exit(71)
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"pid": pid}).encode())


def _launch(req: dict, fds: list[int], child_module, libc) -> None:
    """The launcher: new namespaces, fork the child, report its exit status (``Popen`` style)."""
    req_r, resp_w, out_w, err_w, status_w = fds
    os.setsid()  # process group of launcher + child, killed together by the session
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if req["ns"]:
        uid, gid = os.getuid(), os.getgid()
        flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | (CLONE_NEWUSER if req["userns"] else 0)
        if libc.unshare(flags) != 0:
            err = ctypes.get_errno()
            os.write(err_w, f"lab3 sandbox: unshare failed: {os.strerror(err)}\n".encode())
            os.write(status_w, _STATUS.pack(70))
            os._exit(70)
        if req["userns"]:
            for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
                with open(f"/proc/self/{name}", "w") as fh:
                    fh.write(text)
    pid = os.fork()
    if pid == 0:
        os.close(status_w)
        try:
            _become_child(req, req_r, resp_w, out_w, err_w, child_module, libc)
        finally:
            os._exit(70)
    for fd in (req_r, resp_w, out_w, err_w):
        os.close(fd)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    os.write(status_w, _STATUS.pack(os.waitstatus_to_exitcode(status)))
    os._exit(0)


def _become_child(req: dict, req_r: int, resp_w: int, out_w: int, err_w: int, child_module, libc) -> None:
    """Turn the forked copy into a fresh sandbox child, then hand over to ``child.run``."""
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with its launcher
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    _only_fds({0, 1, 2, req_r, resp_w})
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
    os.environ.clear()
    os.environ.update(req["env"])
    os.chdir(req["cwd"])
    sys.dont_write_bytecode = True
    sys.argv = sys.orig_argv = [child_module.__file__]
    # forget the trusted side: its modules, its import guard, its sys.path (as ``python -I`` would)
    for name in list(sys.modules):
        if name.split(".")[0] in ("autograder", "lab3", "conftest", "_pytest", "pytest", "pluggy"):
            del sys.modules[name]
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_BlockStudentImports"
                        and not type(f).__module__.startswith("_pytest")]
    keep = [os.path.realpath(k) for k in req["cfg"]["keep"]]  # the Python runtime's folders
    sys.path[:] = [p for p in sys.path if p and any(os.path.realpath(p) == k or
                                                    os.path.realpath(p).startswith(k + os.sep) for k in keep)]
    sys.path_importer_cache.clear()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    cfg = dict(req["cfg"], req_fd=req_r, resp_fd=resp_w)
    child_module.run(cfg)


def _only_fds(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
