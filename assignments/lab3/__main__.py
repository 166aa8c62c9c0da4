"""``lab3 check`` (public tests as a rubric table) and ``lab3 submit`` (submission.zip); also ``python -m lab3``."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from lab3 import GRADED_MODULES

NOTEBOOK = "Lab3.ipynb"
#: What a written answer reads in the released notebook until it is answered.
PLACEHOLDERS = ("*Your answer here.*", "YOUR ANSWER HERE")
_STUB = re.compile(r"raise NotImplementedError\(\s*\"(\w[\w.]*) \(lab3/\w+\.py\) is not implemented yet")


def _hint(element: ET.Element) -> str:
    """The failure's own message, whole: without pytest's ``assert ...`` introspection or the type of a
    failed assertion / the stub's NotImplementedError."""
    text = (element.get("message") or "").strip() or (element.text or "failed").strip().splitlines()[-1]
    lines = []
    for line in text.splitlines():
        if line.startswith("assert ") or line.startswith(" +  where"):
            break
        lines.append(line)
    text = "\n".join(lines).strip() or text
    if text.startswith("AssertionError: "):
        text = text[len("AssertionError: "):]
    if text.startswith("NotImplementedError: ") and "is not implemented yet" in text:
        text = text[len("NotImplementedError: "):]
    return text


def _run_public_tests(path: Path) -> tuple[dict[str, tuple[str, str]], str] | None:
    """``{file.py::test: (status, hint)}`` (parametrized cases folded into their test) and pytest's output."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        cmd = [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
               "--rootdir", str(path)]
        env = {**os.environ, "PYTHONPATH": str(path), "MPLBACKEND": os.environ.get("MPLBACKEND", "Agg")}
        proc = subprocess.run(cmd, cwd=path, capture_output=True, text=True, env=env)
        if not report.exists():
            return None
        rows: dict[str, tuple[str, str]] = {}
        for case in ET.parse(report).getroot().iter("testcase"):
            module = case.get("classname", "").split(".")[-1]
            key = f"{module}.py::{case.get('name', '').split('[')[0]}"
            failure = case.find("failure")
            if failure is None:
                failure = case.find("error")
            skipped = case.find("skipped")
            if failure is not None:
                row = ("FAIL", _hint(failure))
            elif skipped is not None:
                row = ("skip", (skipped.get("message") or "").strip())
            else:
                row = ("ok", "")
            if key not in rows or rows[key][0] == "ok" or (rows[key][0] == "skip" and row[0] == "FAIL"):
                rows[key] = row
        return rows, proc.stdout + proc.stderr


def run_check(path: Path = Path(".")) -> int:
    """Run ``path/tests`` against ``path/lab3`` and print the rubric: each graded area with its points, the
    public tests that check it, and each failure's message in full."""
    path = path.resolve()
    if not (path / "lab3").is_dir() or not (path / "tests").is_dir():
        print(f"{path} must hold lab3/ and tests/ (run from the folder of the lab)", file=sys.stderr)
        return 2
    ran = _run_public_tests(path)
    if ran is None:
        print("the public tests did not run:", file=sys.stderr)
        return 1
    rows, output = ran
    if not rows:
        print(output[-3000:], file=sys.stderr)
        print("the public tests did not run (see pytest's output above)", file=sys.stderr)
        return 1
    rubric_path = path / "tests" / "rubric.json"
    rubric = json.loads(rubric_path.read_text(encoding="utf-8")) if rubric_path.exists() else {"areas": {}}
    areas = {name: dict(a, public_tests=[t for t in a["public_tests"] if t in rows])
             for name, a in rubric["areas"].items()}
    listed = {t for a in areas.values() for t in a["public_tests"]}
    others = [t for t in rows if t not in listed]
    if others:
        areas["other"] = {"exercise": "", "points": None, "public_tests": others}
    print("Lab 3 public checks: the rubric. Points are what the graded tests of each area are worth; "
          "the public\nchecks catch crashes and shape slips, the graded tests check much more.\n")
    wrap = dict(width=100, initial_indent=" " * 13, subsequent_indent=" " * 13, replace_whitespace=False)
    for name, area in areas.items():
        points = "" if area["points"] is None else f"{area['points']:>3} pts"
        tests = area["public_tests"]
        state = ("" if not tests else "all public checks pass" if all(rows[t][0] != "FAIL" for t in tests)
                 else "to do")
        print(f"{area['exercise']:<4} {name:<14} {points:<8} {state if tests else 'graded tests only'}")
        for test in tests:
            status, hint = rows[test]
            print(f"     {status:<6}  {test.split('::')[-1]}")
            for line in hint.splitlines():
                print(textwrap.fill(line, **wrap) if line.strip() else "")
    passed = sum(status != "FAIL" for status, _ in rows.values())
    print(f"\n{passed}/{len(rows)} public checks pass"
          + (f" (total of the graded tests: {rubric['total']} points)." if "total" in rubric else "."))
    for line in grading_summary(rubric, all_pass=passed == len(rows)):
        print(line)
    return 0 if passed == len(rows) else 1


def grading_summary(rubric: dict, all_pass: bool) -> list[str]:
    """What the rubric says beyond the public checks (lines to print): when they all pass, the points the
    hidden tests hold and what they check; the tests that count only on a GPU; the written questions of the
    notebook (points, graded by whom), which are not part of the autograded total."""
    lines: list[str] = []
    total = rubric.get("total", 100)
    hidden = rubric.get("hidden")
    if all_pass and hidden and hidden.get("points"):
        lines += ["", *textwrap.wrap(
            f"Passing the public checks is not the grade: {hidden['points']} of the {total} autograded points are "
            f"in {hidden['tests']} hidden tests (their results come after the deadline). They check:", 100)]
        for area, part in hidden["areas"].items():
            lines.append(f"  {area:<14} {part['points']:>2} pts")
            lines += textwrap.wrap("; ".join(part["checks"]), 100, initial_indent=" " * 6, subsequent_indent=" " * 6,
                                   break_on_hyphens=False)
    gpu = rubric.get("gpu")
    if all_pass and gpu and gpu.get("tests"):
        lines += ["", *textwrap.wrap(f"A further {gpu['points']} point(s) need a CUDA GPU ({'; '.join(gpu['tests'])}): "
                               "counted only when the grading machine has one, otherwise left out of the maximum.",
                               100)]
    written = rubric.get("written")
    if written and written.get("points"):
        questions = ", ".join(f"{q['id']} {q['points']}" for q in written["questions"])
        lines += ["", *textwrap.wrap(
            f"Written questions of {NOTEBOOK}: {written['points']} points ({len(written['questions'])} questions: "
            f"{questions}), graded by {written.get('graded_by', 'the course staff')}, on top of the {total} "
            "autograded points; lab3 check does not check them.", 100)]
    return lines


# ------------------------------------------------------------------------------------------ submission
#: What a code cell of the released notebook holds until you write it.
CODE_STUBS = ("YOUR CODE HERE", "NotImplementedError()")  # the stub: "# YOUR CODE HERE" + its raise
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
_HEADING = re.compile(r"#{2,4}\s+(?:Exercise\s+)?(\d+(?:\.\d+)*)")


def notebook_status(notebook: Path) -> dict:
    """What the saved notebook holds: each written question answered or not, each figure drawn or not, and
    the code cells still holding the release's stub (``# YOUR CODE HERE`` and its ``NotImplementedError()``)
    (``todo_cells``: ``{"section", "cell"}``, the number of the section above it and the cell's position)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    questions, figures, todo_cells = [], [], []
    section = "0"
    for index, cell in enumerate(nb.get("cells", []), 1):
        meta = cell.get("metadata", {})
        raw = cell.get("source", "")
        source = "".join(raw) if isinstance(raw, list) else str(raw)
        lab3 = meta.get("lab3", {})
        grading = meta.get("nbgrader", {})
        if cell.get("cell_type") == "markdown":
            for line in source.splitlines():
                m = _HEADING.match(line)
                if m:
                    section = m.group(1)
        if cell.get("cell_type") == "code" and any(stub in source for stub in CODE_STUBS):
            todo_cells.append({"section": section, "cell": index})
        if cell.get("cell_type") == "markdown" and (grading.get("solution") and grading.get("grade")
                                                    or "question" in lab3):
            prompt_lines = set(lab3.get("prompt", "").splitlines())
            answer = [line for line in source.splitlines()
                      if line not in prompt_lines and line.strip() not in PLACEHOLDERS and line.strip()]
            questions.append({"id": lab3.get("question") or grading.get("grade_id"),
                              "points": grading.get("points", lab3.get("points")), "answered": bool(answer)})
        elif cell.get("cell_type") == "code" and "figure" in lab3:
            has = any(mime in (o.get("data") or {}) for o in cell.get("outputs", []) for mime in IMAGE_TYPES)
            figures.append({"id": lab3["figure"], "present": has})
    return {"questions": questions, "figures": figures, "todo_cells": todo_cells}


def make_submission(path: Path = Path("."), output: Path = Path("submission.zip")) -> int:
    """Zip ``path/lab3/<the graded modules>`` and ``path/Lab3.ipynb`` (as saved) into ``output``; say what
    went in and what is still missing."""
    path = path.resolve()
    missing = [m for m in GRADED_MODULES if not (path / "lab3" / f"{m}.py").is_file()]
    if missing:
        print("missing: " + ", ".join(f"lab3/{m}.py" for m in missing), file=sys.stderr)
        return 1
    modules = [path / "lab3" / f"{m}.py" for m in GRADED_MODULES]
    notebook = path / NOTEBOOK
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as zf:
        for module in modules:
            zf.write(module, f"lab3/{module.name}")
        if notebook.is_file():
            zf.write(notebook, NOTEBOOK)
    print(f"wrote {output}:")
    todo = []
    for module in modules:
        stubs = _STUB.findall(module.read_text(encoding="utf-8"))
        todo += [f"{name} (lab3/{module.name})" for name in stubs]
        print(f"  lab3/{module.name}" + (f"   still a TODO: {', '.join(stubs)}" if stubs else ""))
    notes = []
    if todo:
        notes.append(f"{len(todo)} function(s) still raise the TODO's NotImplementedError: " + ", ".join(todo))
    if not notebook.is_file():
        notes.append(f"{NOTEBOOK} is not in {path}: your written answers and figures are not submitted")
    else:
        try:
            status = notebook_status(notebook)
        except (ValueError, OSError) as exc:
            status = None
            notes.append(f"{NOTEBOOK} could not be read ({exc}): save it again from Jupyter")
        if status is not None:
            q, f = status["questions"], status["figures"]
            answered = sum(x["answered"] for x in q)
            drawn = sum(x["present"] for x in f)
            print(f"  {NOTEBOOK}   written answers {answered} of {len(q)}, figures {drawn} of {len(f)}")
            unanswered = [f"{x['id']} ({x['points']} pts)" if x.get("points") else str(x["id"])
                          for x in q if not x["answered"]]
            if unanswered:
                notes.append("unanswered questions: " + ", ".join(unanswered)
                             + " (replace *Your answer here.* in those cells)")
            missing_figures = [x["id"] for x in f if not x["present"]]
            if missing_figures:
                sections = dict.fromkeys(str(x).removeprefix("fig-").split("-")[0] for x in missing_figures)
                notes.append(f"{len(missing_figures)} figure(s) missing: " + ", ".join(missing_figures)
                             + f" (the figure cells of section {', '.join(sections)}): run those cells and save "
                             "the notebook with its outputs")
            todo_cells = status.get("todo_cells", [])
            if todo_cells:
                notes.append(f"{len(todo_cells)} code cell(s) still hold YOUR CODE HERE / raise "
                             "NotImplementedError(): " + ", ".join(f"section {c['section']} (cell {c['cell']})"
                                                                   for c in todo_cells))
        newer = [m.name for m in modules if m.stat().st_mtime > notebook.stat().st_mtime + 1]
        if notebook.is_file() and newer:
            notes.append(f"{NOTEBOOK} was saved before your last change to {', '.join(newer)}: rerun it and save "
                         "it if its results should reflect that change")
    for note in notes:
        print(f"note: {note}")
    print(f"Upload {output} to Gradescope (the graded modules are scored; the notebook's answers are read by "
          "the staff).")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab3", description="Lab 3: check your work, make the submission.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="run the public tests and print the rubric with points and hints")
    p.add_argument("path", nargs="?", default=".")
    p = sub.add_parser("submit", help="zip the graded modules and Lab3.ipynb into submission.zip")
    p.add_argument("path", nargs="?", default=".")
    p.add_argument("-o", "--output", default="submission.zip")
    args = parser.parse_args(argv)
    if args.command == "check":
        return run_check(Path(args.path))
    return make_submission(Path(args.path), Path(args.output))


if __name__ == "__main__":
    sys.exit(main())
