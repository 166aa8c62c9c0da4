"""``lab3 build``: source/ (instructor masters) -> assignments/ (student release) and solutions/.

The build is a pure function from the masters to two file trees (``{relative path: bytes}``), so it is
deterministic and ``--check`` can rebuild in memory and compare with what is committed.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder import REPO_ROOT
from autograder.settings import fill_pins

from .examples import example_submissions
from .markers import MarkerError, make_solution, make_stub, solution_leaks
from .mutants import MutationError
from .notebook import notebook_releases

TEMPLATES = Path(__file__).resolve().parent / "templates"
RELEASES = ("assignments", "solutions", "examples/submissions")


@dataclass
class BuildOutput:
    assignments: dict[str, bytes] = field(default_factory=dict)
    solutions: dict[str, bytes] = field(default_factory=dict)
    examples: dict[str, bytes] = field(default_factory=dict)

    def files(self, release: str) -> dict[str, bytes]:
        return {"assignments": self.assignments, "solutions": self.solutions,
                "examples/submissions": self.examples}[release]


def _python_sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def build_releases(root: Path = REPO_ROOT) -> BuildOutput:
    """Build both releases in memory; raises :class:`MarkerError` on a malformed marker."""
    src = root / "source"
    out = BuildOutput()
    for folder, dest in ((src / "lab3", "lab3"), (src / "tests", "tests")):
        for path in _python_sources(folder):
            rel = f"{dest}/{path.relative_to(folder).as_posix()}"
            text = path.read_text(encoding="utf-8")
            name = path.relative_to(root).as_posix()
            module = f"lab3/{path.relative_to(folder).as_posix()}" if dest == "lab3" else None
            out.assignments[rel] = make_stub(text, name, module).encode()
            out.solutions[rel] = make_solution(text, name).encode()
    student_nb, solution_nb = notebook_releases((src / "Lab3.py").read_text(encoding="utf-8"), "source/Lab3.py")
    out.assignments["Lab3.ipynb"] = student_nb.encode()
    out.solutions["Lab3.ipynb"] = solution_nb.encode()
    rubric = public_rubric(src / "tests", root / "autograder" / "manifest.json", student_nb)
    for name in ("README.md", "requirements.txt", "pyproject.toml", "conftest.py"):
        data = fill_pins((TEMPLATES / f"student_{name}").read_text(encoding="utf-8")).encode()
        if name == "README.md":
            grading = readme_grading(json.loads(rubric) if rubric else None)
            data = data.replace(README_GRADING.encode(), grading.encode())
        out.assignments[name] = data
        out.solutions[name] = data
    if rubric is not None:
        out.assignments["tests/rubric.json"] = out.solutions["tests/rubric.json"] = rubric
    if all(f"lab3/{m}.py" in out.solutions for m in ("attention", "transfer", "training")):
        executed = root / "results" / "Lab3.solutions.ipynb"  # the answer key's run of the solution notebook
        out.examples = example_submissions(out.solutions, out.assignments,
                                           executed.read_bytes() if executed.is_file() else None)
    return out


README_GRADING = "<!-- lab3 build writes this section from the graders' manifest and the notebook -->"


def readme_grading(rubric: dict | None) -> str:
    """The release README's grading section: the autograded points (visible and hidden parts, the GPU
    tests) and the written questions' points, graded by the staff (from the rubric of :func:`public_rubric`)."""
    if rubric is None:
        return "The autograder scores the graded modules; the course staff grade the notebook's written answers."
    total, hidden = rubric["total"], rubric["hidden"]
    written = rubric.get("written", {"points": 0, "questions": []})
    rows = [
        "| part | points | graded by |",
        "|---|---|---|",
        f"| the TODO functions of the seven graded modules | {total} | the autograder (Gradescope): "
        f"{total - hidden['points']} points in tests whose results you see after each upload, {hidden['points']} "
        f"in {hidden['tests']} hidden tests whose results come after the deadline |",
    ]
    if written["points"]:
        by_points: dict[int, list[str]] = {}
        for q in written["questions"]:
            by_points.setdefault(q["points"], []).append(q["section"])
        detail = "; ".join(f"{', '.join(secs)}: {p} points each" if len(secs) > 1 else f"{secs[0]}: {p} points"
                           for p, secs in by_points.items())
        rows.append(f"| the {len(written['questions'])} written questions of `Lab3.ipynb` (after sections {detail}) "
                    f"| {written['points']} | {written['graded_by']}, by hand, question by question |")
    text = "\n".join(rows) + "\n\n"
    text += (f"The {total} autograded points and the {written['points']} points of the written answers are separate: "
             "the autograder does not score your answers, and the staff grade them from the saved notebook (with "
             "its figures) on top of the autograded score. `lab3 check` prints the same rubric: the points of "
             "each area and, once every public check passes, what the hidden tests check.")
    if rubric["gpu"]["points"]:
        text += (f" {rubric['gpu']['points']} more points need a CUDA GPU: they count only when the grading "
                 "machine has one, and are otherwise left out of the maximum.")
    return text


def _areas(test_file: Path) -> dict[str, str]:
    """``{test function: area}`` from the ``@pytest.mark.area("...")`` decorators of a public test file."""
    out = {}
    for node in ast.parse(test_file.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            for dec in node.decorator_list:
                if (isinstance(dec, ast.Call) and ast.unparse(dec.func) == "pytest.mark.area" and dec.args
                        and isinstance(dec.args[0], ast.Constant)):
                    out[node.name] = str(dec.args[0].value)
            if node.name not in out:
                raise MarkerError(f"{test_file.name}: {node.name} has no @pytest.mark.area(...) "
                                  "(the graded area it checks; lab3 check shows that area's points)")
    return out


def public_rubric(tests: Path, manifest_path: Path, notebook: str | None = None) -> bytes | None:
    """``tests/rubric.json`` of the release: each graded area's points and the public tests that check it.

    An area's points are those of the graded tests whose first area tag it is (CPU tests; they sum to the
    total); a public test names its area with ``@pytest.mark.area``. No manifest (a course tree without
    graders): no rubric. Also, for ``lab3 check`` (the release never imports the grader): ``hidden``, the
    points and what the hidden tests check, per area (names only, never their code); ``gpu``, the tests that
    count only on a grader with a CUDA GPU; ``written``, the notebook's written questions (``notebook``: the
    student notebook's JSON), graded by the staff on top of the autograded total.
    """
    if not manifest_path.exists():
        return None
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    areas: dict[str, dict] = {}
    for test in manifest["tests"]:
        if test.get("gpu"):
            continue
        exercise = next((t for t in test["tags"] if t.startswith("ex")), "")
        area = next((t for t in test["tags"] if not t.startswith("ex")), exercise)
        entry = areas.setdefault(area, {"exercise": exercise, "points": 0, "public_tests": []})
        entry["points"] += test["points"]
    for path in sorted(tests.glob("test_*.py")):
        for name, area in _areas(path).items():
            if area not in areas:
                raise MarkerError(f"{path.name}: {name}: area {area!r} is not a tag of any graded test "
                                  f"(known: {', '.join(sorted(areas))})")
            areas[area]["public_tests"].append(f"{path.name}::{name}")
    rubric = {"total": manifest["total_cpu"], "areas": areas, **extra_rubric(manifest, notebook)}
    return (json.dumps(rubric, indent=1) + "\n").encode()


def extra_rubric(manifest: dict, notebook: str | None = None) -> dict:
    """The ``hidden``, ``gpu`` and ``written`` parts of the release's rubric (see :func:`public_rubric`)."""
    from .notebook import written_questions

    hidden: dict[str, dict] = {}
    for test in manifest["tests"]:
        if test.get("gpu") or test.get("visibility", "visible") == "visible":
            continue
        area = next((t for t in test["tags"] if not t.startswith("ex")), "other")
        entry = hidden.setdefault(area, {"points": 0, "checks": []})
        entry["points"] += test["points"]
        # what it checks, without the name's "function: " prefix
        entry["checks"].append(re.sub(r"^[\w.]+: ", "", test.get("name", test["id"])))
    gpu = [t for t in manifest["tests"] if t.get("gpu")]
    out: dict = {
        "hidden": {"points": sum(a["points"] for a in hidden.values()),
                   "tests": sum(len(a["checks"]) for a in hidden.values()), "areas": hidden},
        "gpu": {"points": sum(t["points"] for t in gpu), "tests": [t.get("name", t["id"]) for t in gpu]},
    }
    if notebook is not None:
        questions = written_questions(notebook)
        out["written"] = {"points": sum(q["points"] for q in questions), "graded_by": "the course staff",
                          "questions": questions}
    return out


def _tree(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def write_release(files: dict[str, bytes], dest: Path) -> None:
    """Write ``files`` into ``dest`` atomically: a sibling temp folder replaces ``dest`` at the end."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        for rel, data in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        old = dest.with_name(f".{dest.name}-old")
        if old.exists():
            shutil.rmtree(old)
        if dest.exists():
            os.replace(dest, old)
        os.replace(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_IMPORT_CHECK = """
import importlib, pkgutil, sys, traceback
sys.path.insert(0, sys.argv[1])
import lab3
assert lab3.__file__.startswith(sys.argv[1]), lab3.__file__
bad = 0
for m in sorted(pkgutil.iter_modules(lab3.__path__)):
    try:
        importlib.import_module("lab3." + m.name)
    except Exception:
        bad += 1
        print(f"lab3/{m.name}.py: fails to import:\\n" + traceback.format_exc(limit=3), file=sys.stderr)
sys.exit(1 if bad else 0)
"""


def import_problems(release: Path) -> list[str]:
    """Import every module of ``release/lab3`` in a fresh interpreter; return the failures."""
    proc = subprocess.run([sys.executable, "-c", _IMPORT_CHECK, str(release)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "MPLBACKEND": "Agg"})
    return [] if proc.returncode == 0 else [f"{release.name}: {proc.stderr.strip()[-2000:]}"]


def check(root: Path = REPO_ROOT) -> list[str]:
    """Everything that makes the committed releases wrong; empty when clean."""
    problems: list[str] = []
    try:
        built = build_releases(root)
    except (MarkerError, MutationError) as exc:
        return [f"build error: {exc}"]
    for release in RELEASES:
        want, have = built.files(release), _tree(root / release)
        for rel in sorted(set(want) | set(have)):
            if rel not in have:
                problems.append(f"{release}/{rel}: missing (run `lab3 build`)")
            elif rel not in want:
                problems.append(f"{release}/{rel}: not produced by the build (stale file; run `lab3 build`)")
            elif want[rel] != have[rel]:
                problems.append(f"{release}/{rel}: stale, differs from what source/ builds (run `lab3 build`)")
    for master in _python_sources(root / "source" / "lab3"):
        rel = master.relative_to(root / "source").as_posix()
        stub = root / "assignments" / rel
        if stub.exists():
            problems += solution_leaks(master.read_text(encoding="utf-8"), stub.read_text(encoding="utf-8"),
                                       f"assignments/{rel}")
    for release in RELEASES:
        if (root / release / "lab3").exists():
            problems += import_problems(root / release)
    graders = root / "autograder" / "graders"
    if graders.is_dir():
        from autograder.engine import manifest

        path = root / "autograder" / "manifest.json"
        if not path.exists() or manifest.dumps(manifest.collect(graders)) != path.read_text():
            problems.append("autograder/manifest.json: stale, differs from the graders "
                            "(run `python -m autograder.engine.manifest --write`)")
        else:
            from autograder.selftest import expected_problems

            problems += expected_problems(root)
    return problems


def run_build(check: bool = False, root: Path | None = None) -> int:
    """Entry point of ``lab3 build [--check]``; returns the exit code."""
    root = root or REPO_ROOT
    if check:
        problems = globals()["check"](root)
        for p in problems:
            print(p, file=sys.stderr)
        print("lab3 build --check: " + (f"{len(problems)} problem(s)" if problems else "clean"))
        return 1 if problems else 0
    try:
        built = build_releases(root)
    except (MarkerError, MutationError) as exc:
        print(f"lab3 build: {exc}", file=sys.stderr)
        return 1
    for release in RELEASES:
        files = built.files(release)
        if not files:
            continue
        write_release(files, root / release)
        print(f"{release}/: {len(files)} files")
    if not (root / "autograder").is_dir():  # a course tree without a grading system (tests use such trees)
        return 0
    from autograder.packaging.gradescope import build_autograder_zip

    try:
        zip_path = build_autograder_zip(root)
    except RuntimeError as exc:  # e.g. a stale manifest: scores come from it, so no zip without it
        print(f"lab3 build: autograder zip not written: {exc}", file=sys.stderr)
        return 1
    print(f"{zip_path.relative_to(root)}: {zip_path.stat().st_size / 1e6:.1f} MB")
    return 0
