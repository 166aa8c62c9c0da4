"""The public checks catch the common mistakes: the student release's own ``pytest tests/`` fails on at
least 8 in 10 of the corpus' realistic single mistakes (and in every area on at least half), and passes
on the solution and on every correct alternative implementation of the corpus."""

from __future__ import annotations

from collections import defaultdict

import pytest
from public_flags import run_isolated

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def runs() -> dict[str, list[dict]]:
    return run_isolated()  # one interpreter, one pool: the solution, the alternatives, the mistakes


def test_public_checks_pass_on_the_solution(runs):
    assert runs["solution"][0]["exit_code"] == 0


def test_public_checks_pass_on_correct_alternatives(runs):
    flagged = [f"{r['name']}: exit {r['exit_code']}" for r in runs["alternatives"] if r["exit_code"] != 0]
    assert not flagged, f"public checks fail on correct alternative implementations: {flagged}"


def test_public_checks_flag_most_mistakes(runs):
    rows = runs["mistakes"]
    broken = [f"{r['name']}: exit {r['exit_code']}" for r in rows if r["exit_code"] not in (0, 1)]
    assert not broken, broken
    table: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        table[r["tags"][0]][0] += r["exit_code"] == 1
        table[r["tags"][0]][1] += 1
    rate = sum(r["exit_code"] == 1 for r in rows) / len(rows)
    print(f"public checks flag {rate:.0%} of {len(rows)} mistakes: {dict(table)}")
    missed = [r["name"] for r in rows if r["exit_code"] != 1]
    assert rate >= 0.8, f"public checks flag only {rate:.0%}: missed {missed}"
    weak = {area: f"{f}/{n}" for area, (f, n) in table.items() if f < n / 2}
    assert not weak, f"areas whose public checks flag fewer than half of the mistakes: {weak}"
