"""The public checks catch the common mistakes: the student release's own ``pytest tests/`` fails on at
least 8 in 10 of the corpus' realistic single mistakes (and in every area on at least half), and passes
on the solution and on every correct alternative implementation of the corpus."""

from __future__ import annotations

import pytest
from corpus import load_corpus
from public_flags import by_area, flag_mistakes, solution_passes

pytestmark = [pytest.mark.slow]


def test_public_checks_pass_on_the_solution(tmp_path):
    assert solution_passes(tmp_path) == 0


def test_public_checks_pass_on_correct_alternatives(tmp_path):
    results = flag_mistakes(tmp_path, load_corpus().alternatives)
    flagged = [f"{r.mistake.name}: exit {r.exit_code}" for r in results if r.exit_code != 0]
    assert not flagged, f"public checks fail on correct alternative implementations: {flagged}"


def test_public_checks_flag_most_mistakes(tmp_path):
    results = flag_mistakes(tmp_path)
    broken = [f"{r.mistake.name}: exit {r.exit_code}" for r in results if r.exit_code not in (0, 1)]
    assert not broken, broken
    rate = sum(r.flagged for r in results) / len(results)
    table = by_area(results)
    print(f"public checks flag {rate:.0%} of {len(results)} mistakes: {table}")
    missed = [r.mistake.name for r in results if not r.flagged]
    assert rate >= 0.8, f"public checks flag only {rate:.0%}: missed {missed}"
    weak = {area: f"{f}/{n}" for area, (f, n) in table.items() if f < n / 2}
    assert not weak, f"areas whose public checks flag fewer than half of the mistakes: {weak}"
