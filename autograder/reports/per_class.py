"""Class-level outputs of a batch: ``grades.csv`` and a self-contained ``report.html``.

Both are rebuilt from every ``OUT/<id>/instructor/result.json`` present, so several shards writing
into one folder merge. The HTML embeds its matplotlib figures as base64 PNG and needs no network.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from autograder.outdir import OutDir, SubmissionOut
from autograder.reports.areas import area_of, area_order, area_stats, areas_section, normalise, not_implemented
from autograder.reports.per_submission import atomic_write, clean_text
from autograder.reports.written import csv_columns


class ManualPoints(Protocol):
    """What ``grades.csv`` takes of the final table (:class:`autograder.gradebook.final.FinalTable`)."""

    rows: list[dict[str, str]]  # per submission, "manual:<question id>", "manual" and "final" among the keys
    questions: list[Any]  # each with an ``id``


def _short(test_id: str) -> str:
    return test_id.split("::")[-1]


def _num(x: float) -> str:
    return f"{x:g}"


def _status(row: dict[str, Any]) -> str:
    return str(row.get("status") or "graded")


def write_grades_csv(out: Path, rows: list[dict[str, Any]] | None = None, final: ManualPoints | None = None) -> Path:
    """``OUT/grades.csv``: per submission the autograded tests, the written-answer status and, with ``final``
    (:func:`autograder.gradebook.final.final_table`), the manual points per question and the final total."""
    rows = OutDir(out).load_rows() if rows is None else rows
    final_rows = {r["id"]: r for r in final.rows} if final is not None else {}
    manual = ([f"manual:{q.id}" for q in final.questions] + ["manual", "final"]) if final is not None else []
    columns: list[str] = []
    for r in rows:
        for t in r["tests"]:
            if t["id"] not in columns:
                columns.append(t["id"])
    written: list[str] = []  # written-answer status (yes/no per question), after the test columns
    for r in rows:
        written += [c for c in csv_columns(r.get("answers")) if c not in written]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "status", "total", "max", *[_short(c) for c in columns], *written, *manual])
    for r in rows:
        status = _status(r)
        extra = [final_rows.get(r["id"], {}).get(c, "") for c in manual]
        if status == "error":  # not graded: no score at all, so a gradebook import cannot take a 0
            w.writerow([r["id"], status, "", "", *["" for _ in columns], *["" for _ in written], *extra])
            continue
        scores = {t["id"]: t["score"] for t in r["tests"]}
        w.writerow(
            [
                r["id"],
                status,
                _num(r["score"]),
                _num(r["max_score"]),
                *[_num(scores[c]) if c in scores else "" for c in columns],
                *[csv_columns(r.get("answers")).get(c, "") for c in written],
                *extra,
            ]
        )
    path = OutDir(out).grades_csv
    atomic_write(path, buf.getvalue())
    return path


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@dataclass
class _ClassStats:
    """What the report says about the graded submissions (errors are listed apart, never counted)."""

    totals: list[float]
    top: float
    per_test: dict[str, dict[str, Any]]
    failures: Counter
    example: dict[str, str]
    durations: dict[str, list[float]]
    stub_failures: int = 0  # "not implemented yet": counted apart from the real mistakes


def _class_stats(rows: list[dict[str, Any]]) -> _ClassStats:
    per_test: dict[str, dict[str, Any]] = {}
    failures: Counter[str] = Counter()
    example: dict[str, str] = {}
    durations: dict[str, list[float]] = defaultdict(list)
    stub_failures = 0
    for r in rows:
        for t in r["tests"]:
            d = per_test.setdefault(t["id"], {"name": t["name"], "n": 0, "passed": 0, "points": t["max_score"],
                                              "area": "/".join(area_of(list(t.get("tags") or [])))})
            if t["status"] == "skipped":
                continue
            d["n"] += 1
            d["passed"] += t["status"] == "passed"
            durations[t["id"]].append(float(t.get("duration") or 0.0))
            if t["status"] == "failed" and not_implemented(t["output"]):
                stub_failures += 1
            elif t["status"] == "failed" and t["output"]:
                key = normalise(t["output"])
                failures[key] += 1
                example.setdefault(key, clean_text(t["output"], 300).splitlines()[0])
    rank = area_order(rows)  # chart and table: the same test names, grouped by exercise and area
    per_test = dict(sorted(per_test.items(), key=lambda kv: rank.get(kv[0], len(rank))))
    return _ClassStats([r["score"] for r in rows], max([r["max_score"] for r in rows] or [0]), per_test, failures,
                       example, durations, stub_failures)


def _charts(stats: _ClassStats) -> tuple[str, str]:
    """The score histogram and the pass-rate bars as inline PNG data (empty strings without data)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if not stats.totals:
        return "", ""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    bins = min(20, max(5, len(set(stats.totals))))
    ax.hist(stats.totals, bins=bins, range=(0, stats.top or 1), color="#3b6ea8", edgecolor="white")
    ax.set_xlabel("score")
    ax.set_ylabel("submissions")
    ax.set_title(f"Score distribution (n={len(stats.totals)}, max {stats.top:g})")
    histogram = _png(fig)
    plt.close(fig)
    graded = {k: d for k, d in stats.per_test.items() if d["n"]}  # GPU tests skipped everywhere: left out
    if not graded:
        return histogram, ""
    names = [_short(k) for k in graded]
    rates = [100 * d["passed"] / d["n"] for d in graded.values()]
    fig, ax = plt.subplots(figsize=(7, 0.2 * len(names) + 1))
    ax.barh(names[::-1], rates[::-1], color="#5a9e6f")
    ax.set_xlim(0, 100)
    ax.set_xlabel("pass rate (%)")
    ax.tick_params(axis="y", labelsize=7)
    rate_chart = _png(fig)
    plt.close(fig)
    return histogram, rate_chart


#: Entries of a class folder that are plainly not submissions (a README, a roster, system files).
QUIET = re.compile(r"(?i)^(readme.*|.*\.(md|csv|json|log|html)|\..*|thumbs\.db|desktop\.ini)$")


def _quiet(line: str) -> bool:
    name, _, why = line.partition(": ")
    return why in ("neither a folder nor a .zip", "a hidden entry") and bool(QUIET.match(name))


def _not_graded_section(not_graded: list[dict[str, Any]], skipped: list[str]) -> list[str]:
    """Failed gradings and skipped submissions in red; entries that are plainly not submissions (a README in
    the class folder) in a quiet note."""
    e = html.escape
    quiet = [line.partition(": ")[0] for line in skipped if _quiet(line)]
    skipped = [line for line in skipped if not _quiet(line)]
    note = ([f"<p class=note>Other entries of the class folder, not submissions (not graded): "
             f"{e(', '.join(quiet))}.</p>"] if quiet else [])
    if not (not_graded or skipped):
        return note
    parts = [*note, "<h2 style='color:#b00'>Not graded</h2><table><tr><th>id</th><th>why</th></tr>"]
    for r in not_graded:
        why = "internal error of the grader (regraded by the next run): " + clean_text(r.get("error", ""), 300)
        parts.append(f"<tr><td>{e(r['id'])}</td><td>{e(why)}</td></tr>")
    for line in skipped:
        name, _, why = line.partition(": ")
        parts.append(f"<tr><td>{e(name)}</td><td>skipped: {e(why)}</td></tr>")
    parts.append("</table>")
    return parts


def _summary_section(rows: list[dict[str, Any]], stats: _ClassStats, histogram: str, wall_s: float | None,
                     jobs: int | None) -> list[str]:
    if not rows:
        return []
    totals = stats.totals
    text = (f"<p>{len(rows)} submissions; mean {statistics.mean(totals):.2f}, median {statistics.median(totals):g}, "
            f"max possible {stats.top:g}; full marks: {sum(1 for r in rows if r['score'] >= r['max_score'] > 0)}, "
            f"zero: {sum(1 for t in totals if t == 0)}.")
    if wall_s is not None:
        text += f" Last batch run: {wall_s:.1f} s wall with -j {jobs}."
    return [text + "</p>", f"<h2>Score histogram</h2><img alt='Score histogram' src='{histogram}'>"]


def _per_test_sections(stats: _ClassStats, rate_chart: str) -> list[str]:
    e = html.escape
    parts = ["<h2>Pass rate per test</h2>"]
    if rate_chart:
        parts.append(f"<img alt='pass rate per test' src='{rate_chart}'>")
    parts.append("<table><tr><th>area</th><th>test</th><th>what it checks</th><th>points</th><th>passed</th>"
                 "<th>rate</th></tr>")
    for tid, d in stats.per_test.items():
        rate = f"{100 * d['passed'] / d['n']:.0f}%" if d["n"] else "skipped"
        parts.append(f"<tr><td>{e(d['area'])}</td><td title='{e(tid)}'>{e(_short(tid))}</td><td>{e(d['name'])}</td>"
                     f"<td class=num>{_num(d['points'])}</td><td class=num>{d['passed']}/{d['n']}</td>"
                     f"<td class=num>{rate}</td></tr>")
    parts.append("</table><h2>Most common failure messages</h2>"
                 f"<p>Not counted here: {stats.stub_failures} failure(s) of functions still \"not implemented "
                 "yet\" (stubs).</p><table><tr><th>count</th><th>message (example)</th></tr>")
    for key, count in stats.failures.most_common(15):
        parts.append(f"<tr><td class=num>{count}</td><td>{e(stats.example[key])}</td></tr>")
    parts.append("</table><h2>Slowest tests (mean seconds)</h2>"
                 "<table><tr><th>test</th><th>mean s</th><th>max s</th></tr>")
    slow = sorted(stats.durations.items(), key=lambda kv: -statistics.mean(kv[1]) if kv[1] else 0)[:10]
    for tid, ds in slow:
        if ds:
            parts.append(f"<tr><td>{e(_short(tid))}</td><td class=num>{statistics.mean(ds):.2f}</td>"
                         f"<td class=num>{max(ds):.2f}</td></tr>")
    parts.append("</table>")
    return parts


def _submissions_section(all_rows: list[dict[str, Any]]) -> list[str]:
    e = html.escape
    parts = ["<h2>Submissions</h2><table><tr><th>id (feedback)</th><th>status</th><th>score</th><th>time (s)</th>"
             "<th>notes</th></tr>"]
    for r in sorted(all_rows, key=lambda r: (_status(r) != "error", r["id"])):
        notes = "; ".join(clean_text(n, 200) for n in r.get("notes", []))[:400]
        shown = "—" if _status(r) == "error" else f"{_num(r['score'])} / {_num(r['max_score'])}"
        link = f"<a href='{e(quote(r['id']))}/{SubmissionOut.FEEDBACK}'>{e(r['id'])}</a>"
        parts.append(f"<tr><td>{link}</td><td>{e(_status(r))}</td><td class=num>{shown}</td>"
                     f"<td class=num>{r.get('execution_time', 0):.1f}</td><td>{e(notes)}</td></tr>")
    parts.append("</table>")
    return parts


def write_report_html(
    out: Path,
    rows: list[dict[str, Any]] | None = None,
    *,
    wall_s: float | None = None,
    jobs: int | None = None,
) -> Path:
    """``OUT/report.html``: what was not graded first, then the statistics of the graded submissions."""
    all_rows = OutDir(out).load_rows() if rows is None else rows
    graded = [r for r in all_rows if _status(r) != "error"]  # statistics only over real grades
    stats = _class_stats(graded)
    histogram, rate_chart = _charts(stats)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Lab 3 grading report</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
        "th{background:#eee}td.num{text-align:right}.note{color:#666}</style></head><body>",
        "<h1>Lab 3 — grading report</h1>",
        *_not_graded_section([r for r in all_rows if _status(r) == "error"], OutDir(out).load_skipped()),
        *_summary_section(graded, stats, histogram, wall_s, jobs),
        *areas_section(area_stats(graded)),
        *_per_test_sections(stats, rate_chart),
        *_submissions_section(all_rows),
        "</body></html>\n",
    ]
    path = OutDir(out).report_html
    atomic_write(path, "".join(parts))
    return path
