"""The two trust rules, read from the code: the child package imports nothing of the trusted side, and
the trusted side never imports student code (``lab3``) into its own process."""

from __future__ import annotations

import ast
from pathlib import Path

from engine_helpers import REPO

AUTOGRADER = REPO / "autograder"
CHILD = AUTOGRADER / "child"
# the grading path: everything that decides or reports a score (the `lab3 data` / `lab3 results` / student
# commands of cli.py and student_check.py run the lab's own package on purpose, never a submission)
TRUSTED = [AUTOGRADER / d for d in ("engine", "graders", "reports", "packaging")] + [
    AUTOGRADER / f for f in ("grade_cli.py", "selftest.py", "layout.py")]


def imported_modules(path: Path) -> set[str]:
    """Every module a file names in an import (absolute names; relative ones resolved in the package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            names.add(str(node.args[0].value))
    return names


def test_the_child_package_imports_nothing_of_the_trusted_side():
    offenders = {}
    for path in sorted(CHILD.rglob("*.py")):
        bad = {m for m in imported_modules(path)
               if m.startswith("autograder") and not m.startswith("autograder.child")}
        if bad:
            offenders[str(path.relative_to(REPO))] = sorted(bad)
    assert not offenders, offenders


def test_the_trusted_side_never_imports_student_code():
    offenders = {}
    files = [p for t in TRUSTED for p in ([t] if t.is_file() else sorted(t.rglob("*.py")))]
    assert len(files) > 20
    for path in files:
        if "templates" in path.parts:
            continue
        bad = {m for m in imported_modules(path) if m == "lab3" or m.startswith("lab3.")}
        if bad:
            offenders[str(path.relative_to(REPO))] = sorted(bad)
    assert not offenders, offenders


def test_the_detector_sees_a_violation(tmp_path):
    """The scan is not vacuous: it finds both kinds of import in a file written to break the rules."""
    bad = CHILD / "_tmp_probe_for_test.py"
    try:
        bad.write_text("from autograder.engine import grade\nimport lab3.attention\n")
        names = imported_modules(bad)
        assert "autograder.engine" in names and "lab3.attention" in names
    finally:
        bad.unlink()
