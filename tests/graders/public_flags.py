"""Which realistic mistakes the *public* checks flag: the student release's ``pytest tests/`` run on the
solution with one corpus mistake applied.

Every mistake gets its own copy of the release (``lab3/`` with the mistake, ``tests/``, ``conftest.py``)
and its own pytest run in a process forked from one that already imported torch and the test
dependencies (a fresh interpreter per mistake would spend most of its time importing torch).

``python tests/graders/public_flags.py`` prints the table per area that the README quotes.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from corpus import Mistake, apply, load_corpus, solution_modules  # noqa: E402

from autograder import REPO_ROOT  # noqa: E402
from autograder.build.release import build_releases  # noqa: E402


@dataclass(frozen=True)
class Flagged:
    mistake: Mistake
    flagged: bool  # at least one public test failed
    exit_code: int


def _write_release(dest: Path, files: dict[str, bytes], modules: dict[str, str]) -> None:
    for rel, data in files.items():
        if rel.startswith(("lab3/", "tests/")) or rel == "conftest.py":
            path = dest / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    for name, text in modules.items():
        (dest / "lab3" / f"{name}.py").write_text(text, encoding="utf-8")


def _start_public_tests(folder: Path) -> int:
    """Fork a child that runs pytest on ``folder/tests`` with ``folder`` first on ``sys.path``; its pid."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 3
        try:
            os.chdir(folder)
            sys.path.insert(0, str(folder))
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            import pytest

            code = int(pytest.main(["-q", "-x", "-p", "no:cacheprovider", "-p", "no:randomly",
                                    "--rootdir", str(folder), str(folder / "tests")]))
        finally:
            os._exit(code)
    return pid


def flag_mistakes(workdir: Path, mistakes: list | None = None, jobs: int = 2) -> list[Flagged]:
    """Run the public tests once per mistake (or alternative), ``jobs`` runs at a time (one torch thread each)."""
    import timm  # noqa: F401  (imported once here, shared by every forked run)
    import torch  # noqa: F401
    import torchvision  # noqa: F401
    import transformers  # noqa: F401

    torch.set_num_threads(1)
    files = build_releases(REPO_ROOT).assignments
    base = solution_modules()
    cases = list(mistakes if mistakes is not None else load_corpus().mistakes)
    running: dict[int, str] = {}  # pid -> case name
    codes: dict[str, int] = {}

    def reap() -> None:
        pid, status = os.wait()
        codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)

    for case in cases:
        if len(running) >= jobs:
            reap()
        folder = workdir / case.name
        _write_release(folder, files, apply(base, case.changes))
        running[_start_public_tests(folder)] = case.name
    while running:
        reap()
    return [Flagged(c, flagged=codes[c.name] == 1, exit_code=codes[c.name]) for c in cases]


def by_area(results: list[Flagged]) -> dict[str, tuple[int, int]]:
    """``{area: (flagged, total)}``, a mistake counted under its first tag."""
    table: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in results:
        row = table[r.mistake.tags[0]]
        row[0] += r.flagged
        row[1] += 1
    return {area: (f, n) for area, (f, n) in sorted(table.items())}


def run_isolated() -> dict[str, list[dict]]:
    """The public tests on the solution, every alternative and every mistake, in one fresh interpreter
    (forking is only safe from a process that has not run torch's thread pools yet, which a pytest session
    may have) and one pool of runs: ``{"solution" | "alternatives" | "mistakes": [{"name", "tags",
    "exit_code"}]}``."""
    import json
    import subprocess

    proc = subprocess.run([sys.executable, __file__, "--json"], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _everything(workdir: Path) -> dict[str, list[dict]]:
    corpus = load_corpus()
    solution = Mistake("solution", (), (), (), "")  # the solution itself: no change
    groups = {"solution": [solution], "alternatives": corpus.alternatives, "mistakes": corpus.mistakes}
    cases = [case for group in groups.values() for case in group]
    assert len({c.name for c in cases}) == len(cases), "a name is used twice (each run has a folder of that name)"
    results = iter(flag_mistakes(workdir, cases))
    return {name: [{"name": r.mistake.name, "tags": list(r.mistake.tags), "exit_code": r.exit_code}
                   for r in (next(results) for _ in group)] for name, group in groups.items()}


def main() -> None:
    import json
    import tempfile

    if sys.argv[1:] == ["--json"]:  # for run_isolated: one JSON line
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(_everything(Path(tmp))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        results = flag_mistakes(Path(tmp))
    flagged = sum(r.flagged for r in results)
    print(f"public checks flag {flagged} of {len(results)} corpus mistakes ({flagged / len(results):.0%})")
    print("| area | flagged | mistakes |\n|---|---|---|")
    for area, (f, n) in by_area(results).items():
        print(f"| {area} | {f} | {n} |")
    missed = [r.mistake.name for r in results if not r.flagged]
    print("not flagged:", ", ".join(missed) or "none")
    errors = [f"{r.mistake.name} (exit {r.exit_code})" for r in results if r.exit_code not in (0, 1)]
    if errors:
        print("runs that did not finish normally:", ", ".join(errors))


if __name__ == "__main__":
    main()
