"""Per-submission outputs: Gradescope ``results.json``, the student's ``feedback.md``, a terminal table.

Everything here runs on the trusted side. Student-influenced text (failure messages that quote an
exception) goes through :func:`clean_text`: ANSI escapes and control characters removed, length capped.
Files are written atomically (temporary file + ``os.replace``).
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from autograder.outdir import SubmissionOut
from autograder.reports.written import feedback_lines, results_tests

MAX_TEST_OUTPUT = 4000
MAX_TOTAL_OUTPUT = 60_000
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def clean_text(text: Any, limit: int = MAX_TEST_OUTPUT) -> str:
    """Student-safe plain text: no escape sequences, no control characters, at most ``limit`` chars."""
    if not isinstance(text, str):
        text = str(text)
    text = text.encode("utf-8", errors="replace").decode("utf-8", errors="replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CTRL.sub("", _ANSI.sub("", text))
    if len(text) > limit:
        text = text[: limit - 30].rstrip() + " ... [truncated]"
    return text


def atomic_write(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _num(x: float) -> float | int:
    x = float(x)
    if not math.isfinite(x):
        return 0
    x = round(x, 4)
    return int(x) if x == int(x) else x


#: How a CUDA test reads on a grader without a GPU (it is out of the maximum, never a failure).
NO_GPU = "not run here (no GPU): 0 of 0 points, not counted"
HIDDEN_LATER = "details after the deadline"


def not_run_here(t) -> bool:
    """A test left out of this run's maximum (a CUDA test on a grader without a GPU)."""
    return t.status == "skipped" and not t.max_score


def ordered_tests(result) -> tuple[list, list]:
    """(visible tests, hidden tests) in manifest order: the visible ones are numbered 1..v everywhere
    (results.json, feedback.md, the table), the notebook's status follows them, the hidden ones get the
    numbers after that, so that what a student sees before the deadline is numbered without gaps."""
    visible = [t for t in result.tests if t.visibility == "visible"]
    hidden = [t for t in result.tests if t.visibility != "visible"]
    return visible, hidden


def score_parts(result) -> str:
    """``visible tests 59/62; hidden tests 31/38: details after the deadline`` (the parts of the score)."""
    visible, hidden = ordered_tests(result)

    def part(tests) -> str:
        return f"{_num(sum(t.score for t in tests))}/{_num(sum(t.max_score for t in tests))}"

    text = f"visible tests {part(visible)}"
    if hidden:
        text += f"; hidden tests {part(hidden)}: {HIDDEN_LATER}"
    return text


GRADING_FAILED = (
    "GRADING FAILED: the autograder itself failed on this submission ({error}). This is NOT your score: "
    "nothing was graded. The course staff has the log and will regrade it; you do not need to resubmit."
)


def failed_results_json(result) -> dict[str, Any]:
    """``results.json`` when the trusted side failed: valid Gradescope JSON that shows no score as final."""
    text = clean_text(GRADING_FAILED.format(error=result.error or "internal error"), 2000)
    return {
        "score": 0,
        "execution_time": _num(result.execution_time),
        "output": text,
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": "Grading failed (internal error of the autograder, not your score)",
                "number": "1",
                "score": 0,
                "max_score": 0,
                "status": "failed",
                "output": text,
                "output_format": "text",
                "tags": [],
                "visibility": "visible",
            }
        ],
        "extra_data": {"lab3_status": "error", "error": clean_text(result.error, 2000)},
    }


def results_json(result) -> dict[str, Any]:
    """The Gradescope ``results.json`` dict of a :class:`~autograder.engine.grade.GradeResult`."""
    if getattr(result, "status", "graded") == "error":
        return failed_results_json(result)
    tests = []
    for t in result.tests:
        entry = {
            "name": clean_text(t.name, 300),
            "score": _num(t.score),
            "max_score": _num(t.max_score),
            "output": clean_text(t.output),
            "output_format": "text",
            "tags": list(t.tags),
            "visibility": t.visibility,
        }
        if t.status in ("passed", "failed"):
            entry["status"] = t.status
        tests.append(entry)
    tests += _written_answer_tests(result)
    _number(tests)
    head = [f"Lab 3 autograder: {_num(result.score)} / {_num(result.max_score)} points ({score_parts(result)})."]
    head += [clean_text(n, 500) for n in result.notes]
    out = {
        "score": _num(result.score),
        "execution_time": _num(result.execution_time),
        "output": clean_text("\n".join(head), MAX_TOTAL_OUTPUT),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"lab3_status": getattr(result, "status", "graded")},
    }
    if getattr(result, "answers", None):
        out["extra_data"]["written_answers"] = _answers_detail(result.answers)
    return out


def _written_answer_tests(result) -> list[dict[str, Any]]:
    """0-point visible tests with the notebook's status (information; the score never changes); numbered by
    :func:`_number` with the others."""
    extra = results_tests(getattr(result, "answers", None))
    for t in extra:
        t["output"] = clean_text(t["output"])
    return extra


def _number(tests: list[dict[str, Any]]) -> None:
    """Gradescope ``number``s (in place; the array keeps the manifest's order, which other tools rely on):
    the visible tests 1..v, then the notebook's status, then the hidden tests. A student sees the visible
    ones before the deadline: numbered without gaps, as in ``feedback.md``."""
    order = sorted(range(len(tests)), key=lambda i: (tests[i]["visibility"] != "visible",
                                                     tests[i].get("tags") == ["notebook"], i))
    for n, i in enumerate(order, 1):
        tests[i]["number"] = str(n)


def _answers_detail(answers: dict[str, Any]) -> dict[str, Any]:
    """Per question / figure, without the images (``extra_data`` of results.json)."""
    return {
        "notebook": answers.get("notebook"),
        "readable": answers.get("readable"),
        "questions": [{"id": q["id"], "points": q["points"], "answered": q["answered"]}
                      for q in answers.get("questions", [])],
        "figures": [{"id": f["id"], "present": f["present"]} for f in answers.get("figures", [])],
    }


def write_results(result, out_dir: Path) -> Path:
    path = SubmissionOut(out_dir).results_json
    atomic_write(path, json.dumps(results_json(result), indent=2, allow_nan=False, ensure_ascii=False) + "\n")
    return path


def _md_escape(text: str) -> str:
    """Plain text for a Markdown table cell or paragraph: ``|`` and ``<`` (what would start an HTML tag)
    escaped with a backslash, Markdown's own escape; no HTML entities, which read as ``&lt;`` in a plain-text
    viewer. A lone ``>`` is plain text there (``>=2-D`` stays as it is)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "\\<")


def feedback_md(result) -> str:
    """Student feedback: the score and its parts, visible tests in full (numbered as in results.json), the
    hidden ones only as their total."""
    if getattr(result, "status", "graded") == "error":
        return "# Lab 3 — autograder feedback\n\n**" + _md_escape(
            clean_text(GRADING_FAILED.format(error=result.error or "internal error"), 2000)) + "**\n"
    visible, hidden = ordered_tests(result)
    lines = [
        "# Lab 3 — autograder feedback",
        "",
        f"**Score: {_num(result.score)} / {_num(result.max_score)}** ({score_parts(result)})",
        "",
    ]
    for note in result.notes:
        lines.append(f"> {_md_escape(clean_text(note, 500))}")
    if result.notes:
        lines.append("")
    lines += ["| # | test | points | status |", "|---|---|---|---|"]
    for i, t in enumerate(visible, 1):
        points, status = f"{_num(t.score)} / {_num(t.max_score)}", t.status
        if not_run_here(t):
            points, status = NO_GPU, "not run"
        lines.append(f"| {i} | {_md_escape(clean_text(t.name, 200))} | {points} | {status} |")
    if hidden:
        lines.append(f"| | {len(hidden)} hidden test{'s' if len(hidden) != 1 else ''} | "
                     f"{_num(sum(t.score for t in hidden))} / {_num(sum(t.max_score for t in hidden))} | "
                     f"{HIDDEN_LATER} |")
    lines.append(f"| | **total** | **{_num(result.score)} / {_num(result.max_score)}** | |")
    if getattr(result, "answers", None):
        lines += [_md_escape(clean_text(line, 4000)) if line.startswith("**") else line
                  for line in feedback_lines(result.answers)]
    problems = [(i, t) for i, t in enumerate(visible, 1)
                if t.status == "failed" and t.output]  # a skipped CUDA test is not a problem
    if problems:
        lines += ["", "## What to fix", ""]
        for i, t in problems:
            lines += [
                f"### {i}. {_md_escape(clean_text(t.name, 200))}",
                "",
                "```text",
                clean_text(t.output).replace("```", "'''"),
                "```",
                "",
            ]
    return "\n".join(lines) + "\n"


def write_feedback(result, out_dir: Path) -> Path:
    path = SubmissionOut(out_dir).feedback_md
    atomic_write(path, feedback_md(result))
    return path


def table(result, width: int = 100) -> str:
    """A short terminal table: one line per test, numbered as in results.json (the visible tests first, the
    hidden ones marked ``hidden``), and the total with its visible and hidden parts."""
    if getattr(result, "status", "graded") == "error":
        return f"GRADING FAILED (not a score): {clean_text(result.error, 500)}"
    visible, hidden = ordered_tests(result)
    first_hidden = len(visible) + len(results_tests(getattr(result, "answers", None))) + 1
    numbered = list(enumerate(visible, 1)) + list(enumerate(hidden, first_hidden))
    rows = []
    name_w = min(60, max([len(t.name) for t in result.tests] + [10]))
    num_w = len(str(max([n for n, _ in numbered] + [1])))
    for n, t in numbered:
        mark = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}.get(t.status, t.status.upper())
        msg = clean_text(t.output, 200).splitlines()[0] if t.output and t.status != "passed" else ""
        if not_run_here(t):
            mark, msg = "----", NO_GPU
        if t.visibility != "visible":
            msg = f"[hidden] {msg}".rstrip()
        line = f"{n:>{num_w}}  {mark:4}  {_num(t.score):>5} / {_num(t.max_score):<5} {t.name[:name_w]:<{name_w}}  {msg}"
        rows.append(line[: width + 60])
    rows.append(
        f"{'':>{num_w}}  {'':4}  {_num(result.score):>5} / {_num(result.max_score):<5} TOTAL"
        f"  ({score_parts(result)}; {result.execution_time:.1f} s)"
    )
    return "\n".join(rows)
