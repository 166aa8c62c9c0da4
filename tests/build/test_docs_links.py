"""The documentation holds together: the front door ``README.md``, ``BENCHMARKS.md`` and ``docs/*.md``.

* every relative link leads to a file or folder of the repository, and every ``#anchor`` to a heading of
  its target (GitHub's heading ids);
* every backticked repository path (`autograder/engine/`, `docs/memory.md`, ...) exists, except the
  outputs that are not committed (:data:`NOT_COMMITTED`) and patterns (`tests/<area>`, `autograder/*.py`);
* ``README.md`` stays a front door: at most 120 lines, no line over 200 characters, tables included; in
  ``BENCHMARKS.md`` and ``docs/`` prose stays within 200 characters a line and a table row within 300;
* the README's layout table names every top-level folder and every package under ``autograder/``;
* the other READMEs (engine, packaging, examples, the generated releases and answer key, the graders'
  audit and calibration) have no broken relative link or anchor.

Text only: no torch, no grading.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FRONT = ["README.md", "BENCHMARKS.md", *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md"))]
OTHER = ["autograder/engine/README.md", "autograder/packaging/README.md", "autograder/graders/AUDIT.md",
         "autograder/graders/CALIBRATION.md", "examples/gradebook/README.md", "examples/submissions/README.md",
         "assignments/README.md", "solutions/README.md", "results/README.md"]
#: outputs that commands make and the repository does not hold; backticked paths under them are not checked
NOT_COMMITTED = ("autograder/dist", "results/cuda")
README_LINES, LINE_CHARS, TABLE_ROW_CHARS = 120, 200, 300

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
TICKED = re.compile(r"`([^`\s]+)`")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def text(name: str) -> str:
    return (REPO / name).read_text(encoding="utf-8")


def prose(name: str) -> str:
    """The file without its fenced code blocks (commands there are not links)."""
    return FENCE.sub("", text(name))


def slug(heading: str) -> str:
    """GitHub's id for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(name: str) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in prose(name).splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            s = slug(m.group(1))
            out.add(s if s not in seen else f"{s}-{seen[s]}")
            seen[s] = seen.get(s, 0) + 1
    return out


def ignored(name: str) -> bool:
    """Whether a top-level name is one of the ignored outputs (root patterns of .gitignore, and .git)."""
    patterns = [p.strip().strip("/") for p in text(".gitignore").splitlines() if p.strip() and not p.startswith("#")]
    return name == ".git" or any(fnmatch.fnmatch(name, p) for p in patterns if "/" not in p)


def top_level() -> tuple[set[str], set[str]]:
    """(folders, all names) at the repository's root that the repository holds."""
    names = {p.name for p in REPO.iterdir() if not ignored(p.name)}
    return {n for n in names if (REPO / n).is_dir()}, names


def broken_links(name: str) -> list[str]:
    bad = []
    for target in LINK.findall(prose(name)):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (REPO / name).parent / path if path else REPO / name
        if not dest.exists():
            bad.append(f"{name}: link to {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.relative_to(REPO).as_posix()):
            bad.append(f"{name}: link to {target}: no heading with that anchor")
    return bad


@pytest.mark.parametrize("name", FRONT + OTHER)
def test_relative_links_and_anchors_resolve(name):
    assert not broken_links(name), "\n".join(broken_links(name))


@pytest.mark.parametrize("name", FRONT)
def test_backticked_repository_paths_exist(name):
    _, roots = top_level()
    missing = []
    for token in TICKED.findall(prose(name)):
        path = token.rstrip(".,;:")
        if path.split("/")[0] not in roots or re.search(r"[<>*{}|…]", path):
            continue
        if path.startswith(NOT_COMMITTED) or not (REPO / path).exists():
            if not path.startswith(NOT_COMMITTED):
                missing.append(path)
    assert not missing, f"{name} names paths the repository does not hold: {missing}"


def test_docs_folder_has_pages():
    assert len(FRONT) > 5, "docs/ holds the reference: grading, memory, packaging, data, ..."


@pytest.mark.parametrize("name", FRONT)
def test_lines_stay_readable(name):
    lines = text(name).splitlines()
    if name == "README.md":
        assert len(lines) <= README_LINES, f"README.md has {len(lines)} lines: reference belongs in docs/"
    long = [f"{name}:{i}: {len(line)} characters" for i, line in enumerate(lines, 1)
            if len(line) > (TABLE_ROW_CHARS if line.startswith("|") and name != "README.md" else LINE_CHARS)]
    assert not long, "\n".join(long)


def layout_paths() -> list[str]:
    section = text("README.md").split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [p.rstrip("/") for row in rows for p in TICKED.findall(row.split("|")[1])]


def covered(folder: str, paths: list[str]) -> bool:
    return any(p == folder or p.startswith(folder + "/") for p in paths)


def test_the_layout_table_names_every_folder():
    paths = layout_paths()
    folders, _ = top_level()
    packages = {p.parent.relative_to(REPO).as_posix() for p in (REPO / "autograder").glob("*/__init__.py")}
    missing = sorted(f for f in folders | packages if not covered(f, paths))
    assert not missing, f"the README's layout table does not name: {missing}"
    assert "autograder/manifest.json" in paths, "the manifest lives in autograder/, beside the graders"


def test_the_readme_keeps_the_budget_figures():
    """The performance budgets stay on the front door, each with its figure; the rest is in BENCHMARKS.md."""
    section = text("README.md").split("## Figures", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| budget")]
    for budget in ("hidden suite", "peak PSS", "blank stubs", "`make test`", "quick mode"):
        assert any(budget in row for row in rows), f"the README's figures lack the budget row '{budget}'"
    assert "(BENCHMARKS.md)" in section


def test_the_two_commands_are_the_front_door():
    readme = text("README.md")
    block = readme.split("```bash", 1)[1].split("```", 1)[0]
    assert [line.split()[:2] for line in block.strip().splitlines()] == [["make", "demo"], ["make", "test"]]
    assert "make test" in text(".ci/run"), "CI runs the README's test command"
