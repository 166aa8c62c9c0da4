"""Realistic buggy submissions made from the solution by one textual change each ("mutants").

One mechanism serves the sample submissions of the demo (``examples/submissions/``) and the graders'
mistake corpus (``tests/graders``): a :class:`Mutation` replaces one exact snippet of a solution
module; applying it fails loudly when the snippet is not found exactly once, so a mutant can never
silently turn into the solution after the solution is edited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from autograder.layout import GRADED_MODULES


@dataclass(frozen=True)
class Mutation:
    """Replace ``old`` by ``new`` in ``lab3/<module>.py`` of the solution."""

    name: str
    module: str
    old: str
    new: str
    description: str = ""


class MutationError(ValueError):
    """The snippet to replace is missing or ambiguous in the solution module."""


def solution_modules(solutions: Path) -> dict[str, str]:
    """``{module: text}`` of the graded modules in ``solutions/lab3``."""
    return {m: (solutions / "lab3" / f"{m}.py").read_text(encoding="utf-8") for m in GRADED_MODULES}


def apply(modules: dict[str, str], mutations: Iterable[Mutation]) -> dict[str, str]:
    """A copy of ``modules`` with every mutation applied (each snippet must occur exactly once)."""
    out = dict(modules)
    for m in mutations:
        count = out[m.module].count(m.old)
        if count != 1:
            raise MutationError(f"mutation {m.name!r}: snippet found {count} times in lab3/{m.module}.py "
                                f"(expected once): {m.old[:80]!r}")
        out[m.module] = out[m.module].replace(m.old, m.new)
    return out


def write_submission(modules: dict[str, str], dest: Path) -> Path:
    """Write ``modules`` as a submission folder ``dest/lab3/<module>.py``."""
    (dest / "lab3").mkdir(parents=True, exist_ok=True)
    for name, text in modules.items():
        (dest / "lab3" / f"{name}.py").write_text(text, encoding="utf-8")
    return dest
