"""The class report per exercise and per graded area: what the class got right, and what went wrong.

An area is a test's first tag that is not an exercise (``sdpa``, ``freeze``, ...). A submission
*attempted* an area when at least one of its tests there did more than raise "not implemented yet" (a
stub left in place); failure messages are counted over attempts only, and stubs are counted apart, so
the report says what the students who tried got wrong.
"""

from __future__ import annotations

import html
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from autograder.reports.per_submission import clean_text

NOT_IMPLEMENTED = re.compile(r"\bnot implemented\b|NotImplementedError", re.I)


def area_of(tags: list[str]) -> tuple[str, str]:
    """(exercise, area) of a test from its tags."""
    exercise = next((t for t in tags if t.startswith("ex")), "")
    return exercise, next((t for t in tags if not t.startswith("ex") and t != "notebook"), exercise)


def not_implemented(output: str) -> bool:
    """A failure that only says the student's function is still the stub."""
    return bool(output) and bool(NOT_IMPLEMENTED.search(output.split("\n")[0]))


def normalise(msg: str) -> str:
    """Group failure messages that differ only in numbers."""
    first = clean_text(msg, 300).splitlines()[0] if msg else ""
    return re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "#", first)


@dataclass
class AreaStats:
    """One area over the graded submissions."""

    exercise: str
    area: str
    points: float = 0.0
    tests: list[str] = field(default_factory=list)
    submissions: int = 0
    attempted: int = 0
    stubs: int = 0
    run: int = 0
    passed: int = 0
    scores: list[float] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)
    example: dict[str, str] = field(default_factory=dict)


def area_order(rows: list[dict[str, Any]]) -> dict[str, int]:
    """``{test id: rank}``: tests sorted by exercise, then by area in the manifest's order."""
    first: dict[tuple[str, str], int] = {}
    ids: list[tuple[tuple[str, int], int, str]] = []
    seen: set[str] = set()
    for r in rows:
        for t in r.get("tests", []):
            if t["id"] in seen:
                continue
            seen.add(t["id"])
            key = area_of(list(t.get("tags") or []))
            first.setdefault(key, len(first))
            ids.append(((key[0], first[key]), len(ids), t["id"]))
    return {tid: rank for rank, (_, _, tid) in enumerate(sorted(ids))}


def area_stats(rows: list[dict[str, Any]]) -> list[AreaStats]:
    """Per-area statistics of the graded ``rows`` (GPU tests skipped everywhere are left out)."""
    stats: dict[tuple[str, str], AreaStats] = {}
    for r in rows:
        mine: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for t in r.get("tests", []):
            if t.get("status") == "skipped":
                continue
            mine.setdefault(area_of(list(t.get("tags") or [])), []).append(t)
        for key, tests in mine.items():
            s = stats.setdefault(key, AreaStats(*key))
            if s.submissions == 0:
                s.points, s.tests = sum(t["max_score"] for t in tests), [t["id"] for t in tests]
            s.submissions += 1
            s.run += len(tests)
            s.passed += sum(t["status"] == "passed" for t in tests)
            s.scores.append(sum(float(t["score"]) for t in tests))
            if all(t["status"] == "failed" and not_implemented(t.get("output", "")) for t in tests):
                s.stubs += 1
                continue
            s.attempted += 1
            for t in tests:
                if t["status"] == "failed" and t.get("output") and not not_implemented(t["output"]):
                    key_msg = normalise(t["output"])
                    s.failures[key_msg] += 1
                    s.example.setdefault(key_msg, clean_text(t["output"], 300).splitlines()[0])
    order = {k: i for i, k in enumerate(stats)}
    return sorted(stats.values(), key=lambda s: (s.exercise, order[(s.exercise, s.area)]))


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.0f}%" if b else "—"


def areas_section(stats: list[AreaStats]) -> list[str]:
    """HTML: per exercise and per area pass rates and mean points; the commonest mistakes of those who tried."""
    if not stats:
        return []
    e = html.escape
    parts = ["<h2>Per exercise and area</h2><table><tr><th>exercise / area</th><th>points</th><th>mean</th>"
             "<th>tests passed</th><th>attempted</th><th>still a stub</th></tr>"]
    for ex in sorted({s.exercise for s in stats}):
        mine = [s for s in stats if s.exercise == ex]
        n = max(s.submissions for s in mine)
        per_sub = [sum(x) for x in zip(*[s.scores for s in mine if len(s.scores) == n], strict=False)]
        mean = statistics.mean(per_sub) if per_sub else 0.0
        run, passed = sum(s.run for s in mine), sum(s.passed for s in mine)
        parts.append(f"<tr><th>{e(ex)}</th><th class=num>{sum(s.points for s in mine):g}</th><th class=num>"
                     f"{mean:.1f}</th><th class=num>{_pct(passed, run)}</th><th></th><th></th></tr>")
        for s in mine:
            parts.append(f"<tr><td>&nbsp;&nbsp;{e(s.area)}</td><td class=num>{s.points:g}</td><td class=num>"
                         f"{statistics.mean(s.scores):.2f}</td><td class=num>{s.passed}/{s.run} "
                         f"({_pct(s.passed, s.run)})</td><td class=num>{s.attempted}/{s.submissions}</td>"
                         f"<td class=num>{s.stubs}</td></tr>")
    parts.append("</table><h2>Most common mistakes per area</h2><p>Over the submissions that attempted the area "
                 "(a function still raising \"not implemented yet\" is counted under <i>still a stub</i> above, "
                 "not here).</p><table><tr><th>area</th><th>count</th><th>message (example)</th></tr>")
    for s in stats:
        for key, count in s.failures.most_common(3):
            parts.append(f"<tr><td>{e(s.area)}</td><td class=num>{count}</td><td>{e(s.example[key])}</td></tr>")
    parts.append("</table>")
    return parts
