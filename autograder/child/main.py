"""The sandboxed child: locks itself down, then serves probe calls over the wire until told to stop.

Started by :mod:`autograder.engine.sandbox` as ``python -I autograder/child/main.py CONFIG_JSON``, or forked from the
zygote (:mod:`autograder.engine.zygote`), which calls :func:`run` with the same config. Until the line
"privileges dropped" below it runs only this file (trusted code, possibly as root inside fresh
namespaces); after it, student code may run and nothing it sends back is trusted.
Uses only the standard library until the privileges are dropped.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
import time
import traceback
from typing import Any

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE = 1, 38, 4

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(src: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    res = _libc.mount(
        src.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    if res != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {src} on {target}: {os.strerror(err)}")


def hide_path(path: str, keep: list[str]) -> None:
    """Mount an empty tmpfs over ``path`` (/dev/null over a file), re-exposing the ``keep`` paths below it."""
    if not os.path.isdir(path):
        if os.path.exists(path):
            _mount("/dev/null", path, None, MS_BIND)
        return
    inner = [k for k in keep if k.startswith(path.rstrip("/") + "/") and os.path.isdir(k)]
    if not inner:
        _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=000")
        return
    fds = {k: os.open(k, os.O_PATH | os.O_DIRECTORY) for k in inner}
    _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=16k,mode=755")
    for k, fd in fds.items():
        os.makedirs(k, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", k, None, MS_BIND | MS_REC)
        os.close(fd)


def lock_down(cfg: dict) -> list[str]:
    """Apply the isolation the trusted side asked for; returns notes for the instructor log."""
    notes: list[str] = []
    for procs in cfg.get("cgroup_procs", []):
        try:
            with open(procs, "w") as fh:
                fh.write("0")
        except OSError as exc:
            notes.append(f"cgroup join failed ({procs}): {exc}")
    staging = cfg["staging"]
    if cfg.get("mount_ns"):
        fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
        # The Python runtime may live under /tmp (a venv in a CI checkout there): keep it visible
        # through the private /tmp by binding it back in (outermost folders only).
        under_tmp = sorted(k for k in cfg.get("keep", []) if k.startswith("/tmp/") and os.path.isdir(k))
        under_tmp = [k for k in under_tmp if not any(k.startswith(o + "/") for o in under_tmp if o != k)]
        runtime_fds = {k: os.open(k, os.O_PATH | os.O_DIRECTORY) for k in under_tmp}
        _mount("none", "/", None, MS_REC | MS_PRIVATE)
        _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={cfg['tmp_mb']}m,mode=1777")
        os.mkdir("/tmp/lab3", 0o755)
        _mount(f"/proc/self/fd/{fd}", "/tmp/lab3", None, MS_BIND | MS_REC)
        os.close(fd)
        for k, kfd in runtime_fds.items():
            os.makedirs(k, mode=0o755, exist_ok=True)
            _mount(f"/proc/self/fd/{kfd}", k, None, MS_BIND | MS_REC)
            os.close(kfd)
        staging = "/tmp/lab3"
        for path in cfg.get("hide", []):
            try:
                hide_path(path, cfg.get("keep", []))
            except OSError as exc:
                notes.append(f"could not hide {path}: {exc}")
        if os.path.isdir("/dev/shm"):
            try:
                _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={cfg['tmp_mb']}m,mode=1777")
            except OSError as exc:
                notes.append(f"/dev/shm: {exc}")
        if cfg.get("pid_ns"):
            try:
                _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            except OSError as exc:
                notes.append(f"/proc remount: {exc}")
    mem = cfg.get("mem_bytes")
    limits = {
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_FSIZE: cfg["fsize_bytes"],
        resource.RLIMIT_CPU: cfg["cpu_s"],
        resource.RLIMIT_NOFILE: 1024,
    }
    if mem:
        limits[resource.RLIMIT_DATA] = mem
    if cfg.get("nproc"):
        limits[resource.RLIMIT_NPROC] = cfg["nproc"]
    for which, value in limits.items():
        try:
            soft, hard = resource.getrlimit(which)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError) as exc:
            notes.append(f"rlimit {which}: {exc}")
    uid, gid = cfg.get("uid"), cfg.get("gid")
    if uid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise SystemExit("privilege drop failed")
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # cleared by setuid: set it again
    os.chdir(os.path.join(staging, "work"))
    cfg["_staging"] = staging
    return notes


class _Student:
    """Paths that identify student frames in tracebacks."""

    def __init__(self, release: str, modules: list[str]) -> None:
        self.files = {os.path.realpath(os.path.join(release, "lab3", f"{m}.py")): f"{m}.py" for m in modules}

    def frames(self, tb) -> list[str]:
        out = []
        for fs in traceback.extract_tb(tb):
            name = self.files.get(os.path.realpath(fs.filename))
            if name:
                out.append(f"{name}, line {fs.lineno}, in {fs.name}")
        return out

    def last_function(self, tb) -> tuple[str, str]:
        """(file, qualified function) of the innermost student frame."""
        found = ("", "")
        while tb is not None:
            code = tb.tb_frame.f_code
            name = self.files.get(os.path.realpath(code.co_filename))
            if name:
                found = (name, getattr(code, "co_qualname", code.co_name))
            tb = tb.tb_next
        return found


def _safe_str(exc: BaseException, limit: int = 2000) -> str:
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - a student exception whose __str__ fails
        text = "<unprintable exception>"
    if type(text) is not str:
        text = "<unprintable exception>"
    return text[:limit]


def is_todo_stub(exc: BaseException, msg: str) -> bool:
    """The TODO stub's own ``NotImplementedError`` ("<function> (lab3/<module>.py) is not implemented yet",
    as the build writes it) or a bare one: "not implemented yet" for the student. Any other
    ``NotImplementedError`` (e.g. torch's ``"bitwise_or_cpu" not implemented for 'Double'`` raised inside a
    finished function) is reported as the error it is."""
    return isinstance(exc, NotImplementedError) and ("not implemented yet" in msg or not msg.strip())


def describe(exc: BaseException, student: _Student) -> dict:
    tb = exc.__traceback__
    frames = student.frames(tb)
    file, func = student.last_function(tb)
    exc_type = type(exc).__name__
    msg = _safe_str(exc)
    if isinstance(exc, SystemExit):
        msg = f"your code called sys.exit({msg})"
    return {
        "exc_type": exc_type if isinstance(exc_type, str) else "Exception",
        "message": msg,
        "not_implemented": is_todo_stub(exc, msg),
        "file": file,
        "function": func,
        "frames": frames[-6:],
    }


def _prepare(cfg: dict, notes: list[str]) -> _Student:
    """``sys.path`` for the staged release, the preloaded modules, torch's thread count; the student's view."""
    staging = cfg["_staging"]
    harness, release = os.path.join(staging, "harness"), os.path.join(staging, "release")
    sys.path[:0] = [harness, release]
    for name in cfg.get("preload", []):
        try:
            __import__(name)
        except Exception as exc:  # noqa: BLE001
            notes.append(f"preload {name} failed: {exc!r}")
    try:
        import torch

        torch.set_num_threads(int(cfg.get("threads", 1)))
    except Exception as exc:  # noqa: BLE001
        notes.append(f"torch: {exc!r}")
    return _Student(release, cfg.get("graded", []))


def _handle(kind: str, body: Any) -> Any:
    """Carry out one request: import a student module, call a probe, or echo a ping."""
    import importlib

    from autograder.child.wire import Kind

    if kind == Kind.IMPORT:
        importlib.import_module(body["module"])
        return None
    if kind == Kind.CALL:
        mod_name, func_name = body["probe"].rsplit(".", 1)
        module = importlib.import_module(f"autograder.child.probes.{mod_name}")
        return getattr(module, func_name)(**body["kwargs"])
    if kind == Kind.PING:
        return body
    raise ValueError(f"unknown request {kind}")


def _no_trace(exc_type: str, message: str) -> dict:
    return {"exc_type": exc_type, "message": message, "not_implemented": False, "file": "", "function": "",
            "frames": []}


def _error_frames(exc: BaseException, student: _Student) -> list[bytes | memoryview]:
    """The ``error`` answer for ``exc``; never raises (a student's exception may break ``str``)."""
    from autograder.child import wire

    try:
        info = _no_trace("BadResult", str(exc)) if isinstance(exc, wire.WireError) else describe(exc, student)
        return wire.encode(wire.Kind.ERROR, info)
    except BaseException as exc2:  # noqa: BLE001
        return wire.encode(wire.Kind.ERROR, _no_trace("Exception", f"<error: {type(exc2).__name__}>"))


def serve(cfg: dict, notes: list[str]) -> None:
    """Report ready, then answer requests until ``exit`` or a closed channel; memory is released after each."""
    preload_t0 = time.monotonic()
    student = _prepare(cfg, notes)
    from autograder.child import memtrim, wire

    req, resp = cfg["req_fd"], cfg["resp_fd"]
    info = {"pid": os.getpid(), "uid": os.getuid(), "notes": notes, "preload_s": time.monotonic() - preload_t0}
    wire.write_frame(resp, wire.encode(wire.Kind.READY, info))
    while True:
        try:
            kind, body = wire.read_frame(req)
        except wire.ChannelClosed:
            os._exit(0)
        if kind == wire.Kind.EXIT:
            os._exit(0)
        t0 = time.perf_counter()
        try:
            result = _handle(kind, body)
            chunks = wire.encode(wire.Kind.OK, {"value": result, "seconds": time.perf_counter() - t0})
        except BaseException as exc:  # noqa: BLE001 - student code may raise anything
            chunks = _error_frames(exc, student)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001
                pass
        wire.write_frame(resp, chunks)
        chunks = result = None
        memtrim.release_memory()


def main() -> None:
    run(json.loads(sys.argv[1]))


def run(cfg: dict) -> None:
    """Lock down, then serve until told to stop (also the entry of children forked by the zygote)."""
    try:
        notes = lock_down(cfg)
    except BaseException as exc:  # noqa: BLE001 - report and die; the trusted side sees the crash
        print(f"lab3 sandbox: lock-down failed: {exc!r}", file=sys.stderr, flush=True)
        os._exit(70)
    # ---- privileges dropped: from here on, student code may run in this process ----
    keep = {0, 1, 2, cfg["req_fd"], cfg["resp_fd"]}
    for fd in range(3, 1024):
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
    serve(cfg, notes)


if __name__ == "__main__":
    main()
