"""A warm parent for grading sessions (a fork server), for a process that grades many submissions.

Every grading runs its trusted session in a process of its own (:func:`autograder.engine.grade.run_session`);
started with ``exec`` each one spends seconds of CPU importing pytest, torch and the zygote's preloads
before it grades anything. Inside ``with serving():`` the sessions are instead forked from one server
process that imported exactly those modules and did nothing else: no grader, manifest or submission read,
no torch operation run (so no thread pool to break a fork). A forked session is the process that
``python -m autograder.engine.session CONFIG`` would be after its imports: it runs the same
``session.main``, in its own session and process group, with the environment, folder and log of the
request, forks its own zygote and sandbox children, and ends. Nothing is shared between two submissions
but the pages of those imports (student code never runs in a session, and each session's sandbox children
are its own).

A request whose environment differs from the one the server was started with, or any failure of the
server, falls back to ``exec`` (same result, slower start).

Protocol on a ``SOCK_SEQPACKET`` pair: the server says ``ready`` once imported; the client sends
``{"config", "cwd", "env", "log"}`` with the write end of a status pipe; the server answers
``{"pid": pid}`` and later writes the session's exit status (``Popen`` convention) into that pipe.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from autograder.engine.zygote import _STATUS, Launched, request_fork

# what each session imports before it forks its zygote (``plugin.PRELOAD``), less what pytest must import
# itself to rewrite its assertions (the engine plugin); a session loads no other package's pytest plugin, so
# timm's import of anyio (one) draws no "already imported" warning
SERVER_PRELOAD = ("numpy", "torch", "torch.nn", "torch.nn.functional", "torch._dynamo", "torchvision", "timm")
READY_TIMEOUT_S = 300.0  # the imports take seconds; much longer means the server is broken
_lock = threading.Lock()
_active: list[_Server] = []  # the server of the innermost ``serving()`` (one per process)


class _Server:
    """The client's handle on one server process (started lazily, on the first request)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.env: dict[str, str] | None = None
        self.broken = False
        self.users = 0

    def start(self, config: Path, cwd: Path, env: dict[str, str], log: Path) -> Launched | None:
        """Fork a session for ``config``; None when this request must be started with exec."""
        with _lock:
            if self.broken or (self.env is not None and env != self.env):
                return None
            try:
                if self.proc is None:
                    self._launch(env)
                request = {"config": str(config), "cwd": str(cwd), "env": env, "log": str(log)}
                return request_fork(self.sock, request, [], READY_TIMEOUT_S, "the session server")
            except (OSError, ValueError, KeyError):
                self.broken = True
                self._stop()
                return None

    def _launch(self, env: dict[str, str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.env, self.sock = dict(env), ours
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.engine.session_server", str(theirs.fileno())],
                                     stdin=subprocess.DEVNULL, env=env, pass_fds=[theirs.fileno()],
                                     cwd="/", start_new_session=True)  # "/": sys.path[0], nothing to import
        theirs.close()
        ours.settimeout(READY_TIMEOUT_S)
        if ours.recv(64) != b"ready":
            raise OSError("the session server did not start")

    def _stop(self) -> None:
        if self.sock is not None:
            self.sock.close()  # the server exits on EOF
            self.sock = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@contextlib.contextmanager
def serving() -> Iterator[None]:
    """Within this block, :func:`~autograder.engine.grade.run_session` forks sessions from one warm server
    (started on the first grading, stopped when the outermost block ends)."""
    with _lock:
        if not _active:
            _active.append(_Server())
        server = _active[0]
        server.users += 1
    try:
        yield
    finally:
        with _lock:
            server.users -= 1
            last = server.users == 0
            if last:
                _active.clear()
        if last:
            server._stop()


def start(config: Path, cwd: Path, env: dict[str, str], log: Path) -> Launched | None:
    """A session forked from the active server (``serving()``), or None: start it with exec instead."""
    with _lock:
        server = _active[0] if _active else None
    return server.start(config, cwd, env, log) if server is not None else None


# ------------------------------------------------------------------------------------ server side
def _serve(sock: socket.socket) -> None:
    import gc
    import signal

    from autograder.child.memtrim import trim_heap
    from autograder.engine import session

    # no PR_SET_PDEATHSIG: it fires when the *thread* that started the server ends (a pool's worker); the
    # server ends instead when the grading process closes its end of the socket (or dies)
    for name in SERVER_PRELOAD:
        __import__(name)
    gc.collect()
    gc.freeze()  # shared with every session, never walked again
    trim_heap()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock.send(b"ready")
    waiting: dict[int, int] = {}  # session pid -> write end of its status pipe
    while True:
        _reap(waiting)
        if not select.select([sock], [], [], 0.05)[0]:
            continue
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 1 << 20, 1)
        except OSError:
            msg, fds = b"", []
        if not msg:  # the grading process is done: sessions still running finish on their own
            os._exit(0)
        request = json.loads(msg)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                sock.close()
                code = _run_session(request, session)
            finally:
                os._exit(code)
        waiting[pid] = fds[0]
        sock.send(json.dumps({"pid": pid}).encode())


def _reap(waiting: dict[int, int]) -> None:
    while waiting:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        fd = waiting.pop(pid, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.write(fd, _STATUS.pack(os.waitstatus_to_exitcode(status)))
            os.close(fd)


def _run_session(request: dict, session) -> int:
    """In the forked session: become what ``Popen([python, -m, autograder.engine.session, CONFIG])`` starts."""
    import signal

    from autograder.engine.zygote import _only_fds

    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    _only_fds({0, 1, 2})
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.path[0] = os.getcwd()  # as ``python -m`` started in that folder has it
    sys.argv = [session.__file__, request["config"]]
    try:
        return int(session.main([request["config"]]))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - what an uncaught exception does to ``python -m``: a trace, exit 1
        import traceback

        traceback.print_exc()
        return 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()


if __name__ == "__main__":
    _serve(socket.socket(fileno=int(sys.argv[1])))
