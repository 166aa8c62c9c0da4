"""The import rules, read from the code: the child package imports nothing of the trusted side, the
trusted side never imports student code (``lab3``) into its own process, and no two of the grader's
packages (nor two modules) import each other, lazy imports inside functions included."""

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


# ------------------------------------------------------------------------------------------ no import cycles
def _module_names() -> dict[str, Path]:
    """``autograder.x.y`` -> file, for every module of the grader (the zip's templates are not modules of it)."""
    names = {}
    for path in sorted(AUTOGRADER.rglob("*.py")):
        if "templates" in path.parts:
            continue
        parts = path.relative_to(REPO).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def module_graph() -> dict[str, set[str]]:
    """Module -> the grader's modules it imports, at the top or inside a function (lazy imports count).

    ``from autograder.engine import grade`` is an edge to ``autograder.engine.grade``, not to the package's
    ``__init__`` (which only re-exports)."""
    modules = _module_names()

    def owner(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in imported_modules(path):
            if not imported.startswith("autograder."):
                continue
            target = owner(imported)
            # `from P import f` also names P itself; it is an edge to P only when f is not one of P's modules
            if target in modules and target != name and not any(
                    m.startswith(imported + ".") and owner(m) == m for m in imported_modules(path) if m != imported):
                targets.add(target)
        graph[name] = targets - {"autograder"}
    return graph


def package_of(module: str) -> str:
    """``autograder.engine.grade`` -> ``autograder.engine``; a top-level module is its own node."""
    return ".".join(module.split(".")[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        packages.setdefault(package_of(module), set()).update(
            package_of(t) for t in targets if package_of(t) != package_of(module))
    return packages


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _edges_within(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    return [f"{a} -> {b}" for a in component for b in sorted(graph.get(a, ())) if b in component]


def test_no_import_cycle_between_the_graders_packages():
    """engine, reports, gradebook, packaging, build, answer_key, ...: the packages depend on each other one way."""
    graph = package_graph(module_graph())
    assert {"autograder.engine", "autograder.reports", "autograder.gradebook", "autograder.child"} <= set(graph)
    found = cycles(graph)
    assert not found, [_edges_within(graph, c) for c in found]


def test_no_import_cycle_between_modules():
    """Inside a package too (e.g. the answer key's claims and runner): no two modules import each other."""
    graph = module_graph()
    found = cycles(graph)
    assert not found, [_edges_within(graph, c) for c in found]


def test_the_cycle_detector_sees_a_cycle():
    modules = {"autograder.a.x": {"autograder.b.y"}, "autograder.b.y": {"autograder.a.z"}, "autograder.a.z": set()}
    assert cycles(modules) == []  # no module cycle, but the packages a and b import each other
    assert cycles(package_graph(modules)) == [["autograder.a", "autograder.b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
