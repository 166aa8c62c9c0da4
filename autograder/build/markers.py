"""nbgrader-style solution markers in Python source: parse, strip into stubs, strip into solutions.

A region is ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` (or ``### BEGIN HIDDEN TESTS`` ...
``### END HIDDEN TESTS``), each marker a comment alone on its line. In the student stub a solution
region becomes ``# TODO`` + ``raise NotImplementedError(...)`` naming the enclosing function; hidden-test
regions disappear from both releases; the solution release keeps the code and drops the marker lines.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
_MARKER_WORDS = re.compile(r"(BEGIN|END) (SOLUTION|HIDDEN TESTS)")


class MarkerError(ValueError):
    """A marker is unclosed, nested, misplaced or inside a string; ``str()`` names file and line."""


@dataclass(frozen=True)
class Region:
    kind: str  # "solution" | "hidden"
    begin: int  # 1-based line of the BEGIN marker
    end: int  # 1-based line of the END marker
    indent: str


def _comment_lines(text: str) -> set[int]:
    """Line numbers holding a comment token (markers must be comments, never string contents)."""
    lines = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                lines.add(tok.start[0])
    except (tokenize.TokenError, SyntaxError) as exc:
        raise MarkerError(f"cannot tokenize: {exc}") from exc
    return lines


def find_regions(text: str, name: str = "<source>") -> list[Region]:
    """All marker regions of ``text``; raises :class:`MarkerError` for any malformed marker."""
    comments = _comment_lines(text)
    regions: list[Region] = []
    open_kind, open_line, open_indent = None, 0, ""
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not _MARKER_WORDS.search(line):
            continue
        stripped = line.strip()
        if lineno not in comments or not stripped.startswith("#"):
            raise MarkerError(f"{name}:{lineno}: marker text inside code or a string: {stripped[:60]!r}")
        if stripped not in (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN):
            raise MarkerError(f"{name}:{lineno}: malformed marker {stripped!r} (write it alone on its line)")
        kind = "solution" if "SOLUTION" in stripped else "hidden"
        if stripped.startswith("### BEGIN"):
            if open_kind is not None:
                raise MarkerError(f"{name}:{lineno}: nested marker; the region opened on line {open_line} "
                                  f"is not closed")
            open_kind, open_line, open_indent = kind, lineno, line[: len(line) - len(line.lstrip())]
        else:
            if open_kind is None:
                raise MarkerError(f"{name}:{lineno}: {stripped!r} without a matching BEGIN")
            if open_kind != kind:
                raise MarkerError(f"{name}:{lineno}: {stripped!r} closes a {open_kind} region "
                                  f"opened on line {open_line}")
            regions.append(Region(kind, open_line, lineno, open_indent))
            open_kind = None
    if open_kind is not None:
        raise MarkerError(f"{name}:{open_line}: region is never closed")
    return regions


def _enclosing_functions(text: str) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function, innermost last."""
    out: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qual = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    out.append((child.lineno, child.end_lineno or child.lineno, qual))
                visit(child, qual + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(text), "")
    return out


def make_stub(text: str, name: str = "<source>", module: str | None = None) -> str:
    """The student version: solution regions become TODO + ``raise NotImplementedError``; hidden tests go."""
    regions = find_regions(text, name)
    functions = _enclosing_functions(text)
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    i = 1
    for region in regions:
        out.extend(lines[i - 1 : region.begin - 1])
        if region.kind == "solution":
            inside = [f for f in functions if f[0] < region.begin <= f[1]]
            if inside:
                qual = inside[-1][2]
                where = f" ({module})" if module else ""
                out.append(f"{region.indent}# TODO: implement {qual} as its docstring describes.\n")
                out.append(f'{region.indent}raise NotImplementedError("{qual}{where} is not implemented yet: '
                           f'see its docstring")\n')
            else:  # module or notebook level
                out.append(f"{region.indent}# TODO: your code here\n")
                out.append(f'{region.indent}raise NotImplementedError("your code here")\n')
        i = region.end + 1
    out.extend(lines[i - 1 :])
    return "".join(out)


def make_solution(text: str, name: str = "<source>") -> str:
    """The solution version: marker lines dropped, solution code kept, hidden-test regions dropped."""
    regions = find_regions(text, name)
    drop: set[int] = set()
    for region in regions:
        if region.kind == "hidden":
            drop.update(range(region.begin, region.end + 1))
        else:
            drop.update((region.begin, region.end))
    return "".join(line for n, line in enumerate(text.splitlines(keepends=True), 1) if n not in drop)


def _statement_dumps(tree: ast.AST) -> list[tuple[int, str]]:
    return [(node.lineno, ast.dump(node, annotate_fields=False)) for node in ast.walk(tree)
            if isinstance(node, ast.stmt)]


def solution_leaks(master: str, stub: str, name: str = "<stub>") -> list[str]:
    """Statements of ``stub`` that appear in a solution region of ``master`` but nowhere in its given code.

    Compared at AST level (formatting, comments and renamed whitespace do not hide a leak).
    """
    regions = [r for r in find_regions(master, name) if r.kind == "solution"]
    inside = set()
    for r in regions:
        inside.update(range(r.begin, r.end + 1))
    solution_only, given = set(), set()
    for lineno, dump in _statement_dumps(ast.parse(master)):
        (solution_only if lineno in inside else given).add(dump)
    solution_only -= given
    try:
        stub_tree = ast.parse(stub)
    except SyntaxError as exc:
        return [f"{name}:{exc.lineno}: stub does not parse: {exc.msg}"]
    return [f"{name}:{lineno}: stub contains solution code" for lineno, dump in _statement_dumps(stub_tree)
            if dump in solution_only]
