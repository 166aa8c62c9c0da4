"""The graders' own test corpus: realistic mistakes (each must lose points with the right message)
and alternative correct implementations (each must keep full marks).

Each area keeps its cases in ``tests/graders/cases_<area>.py`` as two lists, ``MISTAKES`` and
``ALTERNATIVES``; this module collects them and grades the variants through the real engine
(``lab3 grade --only TAG`` semantics), two at a time.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pkgutil
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from autograder import REPO_ROOT
from autograder.build.mutants import Mutation, apply, write_submission
from autograder.build.release import build_releases
from autograder.layout import MANIFEST_PATH

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Mistake:
    """One typical mistake: the solution with ``changes`` applied, graded on ``tags``.

    ``fails``: test ids (substrings) that must lose points; ``message``: regex that the output of at
    least one failing test must match (the student-facing diagnosis).
    """

    name: str
    changes: tuple[Mutation, ...]
    tags: tuple[str, ...]
    fails: tuple[str, ...]
    message: str
    passes: tuple[str, ...] = ()  # tests that must keep full marks (the rest of the area is unaffected)


@dataclass(frozen=True)
class Alternative:
    """A correct implementation written differently: full marks on ``tags``."""

    name: str
    changes: tuple[Mutation, ...]
    tags: tuple[str, ...]
    notes: str = ""


def change(module: str, old: str, new: str) -> Mutation:
    return Mutation(name=f"{module}:{old[:30]}", module=module, old=old, new=new)


@dataclass
class Corpus:
    mistakes: list[Mistake] = field(default_factory=list)
    alternatives: list[Alternative] = field(default_factory=list)


def load_corpus() -> Corpus:
    corpus = Corpus()
    for info in pkgutil.iter_modules([str(HERE)]):
        if info.name.startswith("cases_"):
            mod = _load(info.name)
            corpus.mistakes += getattr(mod, "MISTAKES", [])
            corpus.alternatives += getattr(mod, "ALTERNATIVES", [])
    return corpus


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_lab3_corpus_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def solution_modules() -> dict[str, str]:
    """Graded modules of the solution, built fresh from source/ (never a stale copy)."""
    built = build_releases(REPO_ROOT).solutions
    return {rel[len("lab3/"):-3]: data.decode() for rel, data in built.items()
            if rel.startswith("lab3/") and rel[len("lab3/"):-3] in
            ("attention", "positional", "transformer", "vit", "transfer", "training", "optim")}


def grade_variants(variants: dict[str, tuple[dict[str, str], tuple[str, ...]]], workdir: Path, jobs: int = 2):
    """Grade ``{name: (modules, tags)}`` with the engine, ``jobs`` at a time, each with its share of the CPUs
    (as ``lab3 grade --batch -j`` splits them); returns ``{name: GradeResult}``."""
    from autograder.engine import grade_submission

    threads = max(1, (os.cpu_count() or 1) // jobs)

    def one(item):
        name, (modules, tags) = item
        sub = write_submission(modules, workdir / "submissions" / name)
        return name, grade_submission(sub, workdir / "out" / name, only_tags=list(tags), threads=threads)

    # the longest first (those selecting the most tests), so that no long grading starts last on its own
    order = sorted(variants.items(), key=lambda item: -_selected(item[1][1]))
    with ThreadPoolExecutor(jobs) as pool:
        return dict(pool.map(one, order))


def _selected(tags: tuple[str, ...]) -> int:
    """How many tests of the manifest ``--only tags`` selects."""
    manifest = json.loads(MANIFEST_PATH.read_text())
    return sum(bool(set(tags) & set(t["tags"])) for t in manifest["tests"])


def failing(result) -> dict[str, str]:
    """``{test id: output}`` of the tests that lost points."""
    return {t.id: t.output for t in result.tests if t.score < t.max_score}


def lost_outside(result, areas) -> list[str]:
    """Ids of the tests that lost points although none of their tags is one of ``areas``."""
    tags = {t.id: set(t.tags) for t in result.tests}
    return [tid for tid in failing(result) if not tags[tid] & set(areas)]


def matches(pattern: str, text: str) -> bool:
    return re.search(pattern, text, flags=re.IGNORECASE | re.DOTALL) is not None


__all__ = ["Alternative", "Mistake", "apply", "change", "failing", "grade_variants", "load_corpus", "lost_outside",
           "matches", "solution_modules"]
