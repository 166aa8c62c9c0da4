"""The trusted pytest plugin: runs the hidden graders against one staged submission.

Loaded with ``-p autograder.engine.plugin`` by :mod:`autograder.engine.session` (grading) and by
:mod:`autograder.engine.manifest` (collection only). It registers the ``grade`` and ``gpu`` markers,
owns the :class:`~autograder.engine.sandbox.Sandbox`, exposes it to graders as :class:`StudentProxy`
(the ``student`` fixture of ``autograder/graders/conftest.py``), decides GPU tests from the hardware,
and appends one JSON record per test to the records file; scoring happens later from the manifest.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

import pytest

from autograder.child.wire import Kind
from autograder.engine.errors import (
    GradingFault,
    MissingModule,
    StudentCrash,
    StudentError,
    StudentProblem,
    StudentTimeout,
)
from autograder.engine.options import SessionOptions
from autograder.engine.records import RecordKind, append_record
from autograder.engine.sandbox import CHILD_PRELOAD
from autograder.outdir import SubmissionOut
from autograder.settings import value

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
# imported before the zygote is forked, so the session and the sandbox children share their pages;
# torch._dynamo comes with the first optimizer step on both sides anyway (~80 MB each), torchvision and
# timm with the first model of Exercise 2 (~40 MB, and 0.6 s each time a fresh child imports them).
# A child's RLIMIT_DATA counts this inherited address space too (~890 MB of the 3 GB default).
PRELOAD = (*CHILD_PRELOAD, "torch._dynamo", "torchvision", "timm")
MARKERS = (
    "grade(points, tags, visibility='visible', name=None): points, tags and visibility of a hidden grader",
    "gpu: needs a CUDA device (skipped and left out of the maximum without one)",
)


class GradeFailure(AssertionError):
    """Raised by :func:`autograder.graders.checks.fail`: the message is for the student."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--lab3-config", default=None, help="engine configuration (JSON file)")


class _BlockStudentImports:
    """Meta-path finder that makes ``import lab3`` fail in the trusted process (graders must use probes)."""

    def find_spec(self, name: str, path=None, target=None):
        if name == "lab3" or name.startswith("lab3."):
            raise ImportError(f"the trusted grading process never imports student code ({name}); use a probe")
        return None


def pytest_configure(config: pytest.Config) -> None:
    import sys

    for line in MARKERS:
        config.addinivalue_line("markers", line)
    if not any(isinstance(f, _BlockStudentImports) for f in sys.meta_path):
        sys.meta_path.insert(0, _BlockStudentImports())
    path = config.getoption("--lab3-config", default=None)
    if path and not config.pluginmanager.has_plugin("lab3-engine"):
        config.pluginmanager.register(EngineSession(SessionOptions.read(Path(path))), "lab3-engine")


def grade_info(item: pytest.Item) -> dict[str, Any] | None:
    """Points, tags, visibility, name and gpu flag of a collected grader (None if it has no grade marker)."""
    mark = item.get_closest_marker("grade")
    if mark is None:
        return None
    kw = dict(mark.kwargs)
    if mark.args:
        kw.setdefault("points", mark.args[0])
    points = kw.get("points")
    if not isinstance(points, (int, float)) or isinstance(points, bool) or points < 0:
        raise pytest.UsageError(f"{item.nodeid}: grade(points=...) must be a non-negative number")
    tags = list(kw.get("tags", []))
    vis = kw.get("visibility", "visible")
    if vis not in VISIBILITIES:
        raise pytest.UsageError(f"{item.nodeid}: visibility must be one of {VISIBILITIES}")
    doc = (
        (getattr(item, "function", None).__doc__ or "").strip().splitlines()
        if hasattr(item, "function")
        else []
    )
    name = kw.get("name") or (doc[0].strip() if doc else item.name)
    return {
        "id": item.nodeid,
        "name": name,
        "points": points,
        "tags": tags,
        "visibility": vis,
        "gpu": item.get_closest_marker("gpu") is not None,
    }


class StudentProxy:
    """What graders use to reach student code: ``student.call("attention.sdpa", timeout=10, q=q, ...)``."""

    def __init__(self, engine: EngineSession) -> None:
        self._engine = engine

    def call(self, probe: str, /, timeout: float = 10.0, **kwargs: Any) -> Any:
        """Run probe ``autograder/child/probes/<module>.py::<func>`` in the sandbox; returns its plain data."""
        return self._engine.call(probe, kwargs, timeout)

    def source(self, module: str) -> str | None:
        """The submitted text of ``<module>.py`` (read on the trusted side; never executed here)."""
        return self._engine.sources.get(module)

    def has(self, module: str) -> bool:
        return module not in self._engine.missing

    @property
    def cuda(self) -> bool:
        """Whether the grading machine has a CUDA GPU (decided here, from the hardware)."""
        return self._engine.gpu


class EngineSession:
    def __init__(self, options: SessionOptions) -> None:
        self.options = options
        self.graded = list(options.graded)
        self.missing = set(options.missing)
        self.sources = dict(options.sources)  # what the engine read from the submission, passed along
        self.records = options.records
        self.log_dir = options.log_dir
        self.only = set(options.only_tags)
        self.scale = float(options.timeout_scale)
        self.gpu = False
        self.sandbox = None
        self.import_failures: dict[str, StudentProblem] = {}
        self.proxy = StudentProxy(self)
        self._log = open(self.log_dir / SubmissionOut.TRACE_LOG, "a", buffering=1)  # noqa: SIM115

    # ------------------------------------------------------------------------------ helpers
    def log(self, text: str) -> None:
        self._log.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")

    def record(self, kind: RecordKind, **fields: Any) -> None:
        append_record(self.records, kind, **fields)

    def call(self, probe: str, kwargs: dict[str, Any], timeout: float) -> Any:
        mod = probe.split(".", 1)[0]
        if mod in self.graded:
            if mod in self.missing:
                raise MissingModule(f"{mod}.py not found in your submission")
            self._ensure_imported(mod)
        t0 = time.perf_counter()
        try:
            return self.sandbox.request(
                Kind.CALL, {"probe": probe, "kwargs": kwargs}, timeout * self.scale, what=probe
            )
        finally:
            self.log(f"call {probe} {time.perf_counter() - t0:.3f}s")

    def _ensure_imported(self, mod: str) -> None:
        if mod in self.import_failures:
            raise self.import_failures[mod]
        if mod in self.sandbox.imported and self.sandbox.proc is not None:
            return
        limit = self.sandbox.limits.import_timeout_s
        try:
            self.sandbox.request(Kind.IMPORT, {"module": f"lab3.{mod}"}, limit, what=f"import {mod}")
        except StudentProblem as exc:
            if "could not start" in exc.message:
                raise
            msg = exc.message
            if isinstance(exc, StudentTimeout):
                msg = (
                    f"importing {mod}.py timed out after {limit:g} s (code at module level that never ends?)"
                )
            elif isinstance(exc, StudentCrash):
                msg = f"importing {mod}.py crashed: {msg}"
            else:
                msg = f"{mod}.py could not be imported: {msg}"
            failure = type(exc)(msg, **_extra(exc))
            failure.detail = exc.detail
            self.import_failures[mod] = failure
            raise failure from None
        self.sandbox.imported.add(mod)

    # ------------------------------------------------------------------------------ hooks
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from autograder.engine import isolation
        from autograder.engine.sandbox import Limits, Sandbox

        iso = isolation.detect()
        limits = Limits(**self.options.limits)
        limits.start_timeout_s *= max(1.0, self.scale)
        limits.import_timeout_s *= self.scale
        zygote = self._fork_zygote()
        self.sandbox = Sandbox(
            self.options.staging,
            graded=self.graded,
            isolation=iso,
            limits=limits,
            hide=list(self.options.hide),
            log_dir=self.log_dir,
            log=self.log,
            zygote=zygote,
        )
        self.sandbox.start()  # forked from the zygote: ready in milliseconds (exec: overlaps collection)
        import torch

        self.gpu = bool(torch.cuda.is_available()) and not self.options.no_gpu
        torch.set_num_threads(self.options.trusted_threads)
        self.record(RecordKind.HEADER, gpu=self.gpu, torch=torch.__version__, isolation=iso.summary(),
                    protections_off=iso.off)
        self.log(iso.summary())

    def _fork_zygote(self):
        """Import what every sandbox child needs here, then fork the zygote from this still-clean process
        (no grader module, reference or student file read yet), so session and children share those pages
        (see :mod:`autograder.engine.zygote`). ``LAB3_SANDBOX_SPAWN=exec`` starts each child with exec."""
        if value("LAB3_SANDBOX_SPAWN") == "exec":
            return None
        from autograder.engine.zygote import Zygote

        t0 = time.monotonic()
        try:
            for name in PRELOAD:
                __import__(name)
            zygote = Zygote.fork()
        except Exception as exc:  # noqa: BLE001 - no zygote: children are started with exec
            self.log(f"no zygote ({exc!r}); sandbox children start with exec")
            return None
        self.log(f"zygote pid={zygote.pid} forked after {time.monotonic() - t0:.2f} s of imports")
        return zygote

    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list
    ) -> None:
        keep, drop = [], []
        for item in items:
            info = grade_info(item)
            if info is None:
                drop.append(item)
                self.log(f"not graded (no grade marker): {item.nodeid}")
                continue
            if self.only and not (self.only & set(info["tags"])):
                drop.append(item)
                continue
            if info["gpu"] and not self.gpu:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU; none on the grading machine"))
            keep.append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        rep = outcome.get_result()
        if rep.when == "call" or (rep.when == "setup" and not rep.passed):
            if rep.passed:
                self.record(RecordKind.TEST, id=item.nodeid, outcome="passed", message="", duration=call.duration)
                return
            message, trace = self._explain(call)
            status = "skipped" if rep.skipped else "failed"
            fault = self._fault(call)
            if fault:
                self.record(RecordKind.FAULT, id=item.nodeid, reason=f"{item.nodeid}: {fault}")
            self.record(RecordKind.TEST, id=item.nodeid, outcome=status, message=message, duration=call.duration,
                        instructor=trace)
            self.log(f"{status} {item.nodeid}: {message}\n{trace}")

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        from autograder.child.memtrim import release_memory

        release_memory()  # what the test just run held (the memory budget counts every process)

    @staticmethod
    def _fault(call: pytest.CallInfo) -> str:
        """Why this test's failure is the grader's own (empty when it is the student's or a plain check)."""
        exc = call.excinfo
        if exc is None:
            return ""
        value = exc.value
        if isinstance(value, GradingFault):
            return str(value)
        if isinstance(value, (StudentProblem, AssertionError, pytest.skip.Exception, pytest.fail.Exception)):
            return ""
        return f"internal grader error {type(value).__name__}: {str(value)[:300]}"

    def _explain(self, call: pytest.CallInfo) -> tuple[str, str]:
        exc = call.excinfo
        if exc is None:
            return "", ""
        value = exc.value
        trace = "".join(traceback.format_exception(exc.type, value, exc.tb))[-20000:]
        if isinstance(value, pytest.skip.Exception):
            return str(value.msg if hasattr(value, "msg") else value), ""
        if isinstance(value, StudentProblem):
            detail = getattr(value, "detail", "") or ""
            extra = getattr(value, "traceback", "") or ""
            return value.message, f"{trace}\n{detail}\n{extra}"
        if isinstance(value, AssertionError):
            text = str(value).strip()
            if not isinstance(value, GradeFailure):
                text = text.split("\nassert ")[0].strip()  # drop pytest's assertion rewriting details
            return text or "a check failed", trace
        return "internal grader error (reported to the course staff)", trace

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # the closing record: without it the engine treats the run as a fault, never as a grade
        self.record(RecordKind.FOOTER, exitstatus=int(exitstatus))
        if self.sandbox is not None:
            self.sandbox.close()
            self.log(f"sandbox: {self.sandbox.calls} requests, {self.sandbox.generation} child process(es)")
        self._log.close()


def _extra(exc: StudentProblem) -> dict[str, Any]:
    if isinstance(exc, StudentTimeout):
        return {"seconds": getattr(exc, "seconds", 0.0)}
    if isinstance(exc, StudentCrash):
        return {"returncode": getattr(exc, "returncode", None)}
    if isinstance(exc, StudentError):
        return {
            "exc_type": exc.exc_type,
            "exc_message": exc.exc_message,
            "not_implemented": exc.not_implemented,
            "where": exc.where,
            "traceback": exc.traceback,
        }
    return {}


def student_fixture(request: pytest.FixtureRequest) -> StudentProxy:
    engine = request.config.pluginmanager.get_plugin("lab3-engine")
    if engine is None:
        pytest.skip("graders run only inside the grading engine (lab3 grade)")
    return engine.proxy
