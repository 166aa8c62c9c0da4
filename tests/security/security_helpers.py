"""Helpers of the robustness corpus: grader-file snapshot, leftover-process scan, strict JSON."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# files of this area, hashed before and after each case (other areas' files change concurrently, so for them
# the check is that no attack payload landed in them)
GUARDED = [
    REPO / "autograder" / "graders" / name for name in ("conftest.py", "checks.py", "test_ex1_attention.py")
]
GUARDED += [REPO / "autograder" / "child" / "probes" / name for name in ("attention.py", "__init__.py")]
PAYLOAD_SCAN = [
    REPO / "autograder" / "graders",
    REPO / "autograder" / "child" / "probes",
    REPO / "autograder" / "manifest.json",
    REPO / "source" / "lab3",
]
PAYLOAD = '"score": 100'


def snapshot() -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in GUARDED}


def payload_landed() -> list[str]:
    """Files of the grader that contain the corpus' forged-results payload."""
    hits = []
    for root in PAYLOAD_SCAN:
        for p in [root] if root.is_file() else root.rglob("*.*"):
            try:
                if p.is_file() and PAYLOAD in p.read_text(errors="replace"):
                    hits.append(str(p))
            except OSError:
                pass
    return hits


def sandbox_processes(label: str) -> list[str]:
    """Live sandbox processes of one grading run (their command line carries the run's output folder)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (d / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        if "autograder/child/main.py" in cmd and label in cmd:
            found.append(f"{d.name}: {cmd[:120]}")
    return found


def strict_json(path: Path) -> dict:
    def bad_constant(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=bad_constant)


def check_results_schema(data: dict) -> None:
    assert isinstance(data["score"], (int, float)) and isinstance(data["execution_time"], (int, float))
    assert isinstance(data["output"], str) and isinstance(data["tests"], list)
    for t in data["tests"]:
        assert {"name", "score", "max_score", "output", "visibility", "tags"} <= set(t)
        assert t["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
        assert 0 <= t["score"] <= t["max_score"]
        assert len(t["output"]) <= 4000
        assert not any(ord(c) < 32 and c not in "\n\t" for c in t["output"]), "control characters in output"
        assert "\x1b" not in t["output"] and "\u202e" not in t["output"]
    assert abs(sum(t["score"] for t in data["tests"]) - data["score"]) < 1e-6
