"""Every malicious or broken submission of ``security_cases.py`` graded for real (slow; one sandbox per case).

For each case: results.json exists and is strict, valid Gradescope JSON; every test has the expected
status (tampering never gains points, unrelated functions unaffected); the run ends within its bound;
no sandbox process outlives it; no grader file changed.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
from security_cases import CASES, Case
from security_helpers import check_results_schema, payload_landed, sandbox_processes, snapshot, strict_json

from autograder.engine import grade_submission

pytestmark = [pytest.mark.slow, pytest.mark.security]
GROUP = {"causal_mask": "causal", "sdpa": "sdpa", "mha": "mha"}
SCALE = 0.3  # deadlines x0.3: a hanging call costs 3 s instead of 10
# small limits: the memory bomb hits its limit fast (zeroing pages is slow here), answers capped at 64 MB;
# RLIMIT_DATA also counts the ~890 MB of address space a child inherits from the zygote (torch, timm)
LIMITS = {"mem_mb": 1200, "nproc": 64, "max_result_mb": 64}


def _host_ip() -> str:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 1))
        return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()


@pytest.fixture(scope="module")
def server():
    """A TCP server on all interfaces: the network case must not reach it."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", 0))
    srv.listen(8)
    hits = []

    def serve():
        while True:
            try:
                conn, addr = srv.accept()
            except OSError:
                return
            hits.append(addr)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield srv.getsockname()[1], hits
    srv.close()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case, tmp_path: Path, ex1_graders, is_root, server):
    if case.needs_root and not is_root:
        pytest.skip("needs root: the engine's user/namespace/cgroup isolation is off without it")
    port, hits = server
    out = tmp_path / "out"
    token = uuid.uuid4().hex[:12]
    subst = {
        "@OUT@": str(out),
        "@REPO@": str(Path(__file__).resolve().parents[2]),
        "@PORT@": str(port),
        "@HOSTIP@": _host_ip(),
        "@TOKEN@": token,
    }
    sub = case.build(tmp_path / "subs", subst) if (tmp_path / "subs").mkdir() is None else None

    graders, manifest = ex1_graders
    before = snapshot()
    t0 = time.monotonic()
    result = grade_submission(
        sub, out, only_tags=case.only, timeout_scale=case.timeout_scale or SCALE, limits=LIMITS, graders=graders,
        manifest=manifest,
    )
    wall = time.monotonic() - t0

    data = strict_json(out / "results.json")
    check_results_schema(data)
    assert (out / "feedback.md").exists()
    assert wall < case.bound_s, f"took {wall:.1f} s (bound {case.bound_s} s)"

    expected_score = 0.0
    graded, info = data["tests"][: len(result.tests)], data["tests"][len(result.tests):]
    assert all(t["max_score"] == 0 for t in info)  # the notebook's status: information, never points
    for t, test in zip(result.tests, graded, strict=True):
        group = next(GROUP[tag] for tag in t.tags if tag in GROUP)
        key = t.id.split("::")[-1]
        expect = case.expect
        status, fragment = expect.get(key) or expect.get(group) or expect.get("all") or ("fail", None)
        assert test["status"] == ("passed" if status == "pass" else "failed"), (t.id, test["output"])
        if status == "pass":
            expected_score += test["max_score"]
        elif fragment:
            assert fragment.lower() in test["output"].lower(), (t.id, test["output"])
    assert data["score"] == pytest.approx(expected_score), "tampering must never gain points"

    deadline = time.monotonic() + 5
    while sandbox_processes(str(out)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sandbox_processes(str(out)) == [], "sandbox processes outlived the run"
    assert snapshot() == before, "a grader file changed"
    assert payload_landed() == [], "a forged result reached a grader file"
    assert not hits, f"the sandbox reached the grader's network server: {hits}"
    assert not list(Path("/tmp").glob(f"lab3_marker_{token}")), "a file escaped into the host /tmp"
    assert not Path("/tmp/lab3_evil").exists() and not Path("/tmp/lab3_evil_abs").exists()
