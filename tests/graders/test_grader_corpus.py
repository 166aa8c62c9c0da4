"""The hidden graders graded: every known mistake loses points with the right message, every
correct alternative keeps full marks. Each variant is graded by the real engine on its own tags."""

from __future__ import annotations

import pytest
from corpus import apply, failing, grade_variants, load_corpus, lost_outside, matches, solution_modules

from autograder.settings import value

CORPUS = load_corpus()
pytestmark = [pytest.mark.slow]


# the areas of train_one_epoch: one function holds them all, so a mistake in it is graded on every one of
# them (the other graded functions each hold one area; test_area_isolation.py proves that no other area's
# test runs them)
TRAIN_ONE_EPOCH = ("train_loop", "amp", "accumulation", "schedule")


def graded_tags(case) -> tuple[str, ...]:
    """The tags a mistake is graded on: its own, plus every area of train_one_epoch when it changes that."""
    extra = TRAIN_ONE_EPOCH if any(c.module == "training" for c in case.changes) else ()
    return tuple(dict.fromkeys((*case.tags, *extra)))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = solution_modules()
    variants = {}
    for case in CORPUS.mistakes:
        variants[f"mistake-{case.name}"] = (apply(base, case.changes), graded_tags(case))
    for case in CORPUS.alternatives:
        variants[f"alternative-{case.name}"] = (apply(base, case.changes), case.tags)
    only = value("LAB3_CORPUS_ONLY")  # dev aid: comma-separated name parts
    if only:
        variants = {k: v for k, v in variants.items() if any(o in k for o in only.split(","))}
    return grade_variants(variants, tmp_path_factory.mktemp("corpus"))


@pytest.mark.parametrize("case", CORPUS.mistakes, ids=lambda c: c.name)
def test_mistake_loses_points_with_message(case, graded):
    result = graded[f"mistake-{case.name}"]
    lost = failing(result)
    assert result.score < result.max_score, f"{case.name}: full marks for a buggy submission"
    for expected in case.fails:
        assert any(expected in test_id for test_id in lost), f"{case.name}: {expected} did not fail; lost: {lost}"
    relevant = [out for tid, out in lost.items() if any(e in tid for e in case.fails)]
    assert any(matches(case.message, out) for out in relevant), (
        f"{case.name}: no failure message matches {case.message!r}: {relevant}")
    for kept in case.passes:
        assert not any(kept in tid for tid in lost), f"{case.name}: unrelated test {kept} lost points"
    elsewhere = lost_outside(result, case.tags)
    assert not elsewhere, f"{case.name} ({', '.join(case.tags)}) also lost points in {elsewhere}"
    for out in lost.values():
        assert "Traceback" not in out and "autograder/" not in out, f"grader internals leaked: {out[:300]}"


@pytest.mark.parametrize("case", CORPUS.alternatives, ids=lambda c: c.name)
def test_alternative_keeps_full_marks(case, graded):
    result = graded[f"alternative-{case.name}"]
    assert result.max_score > 0
    assert result.score == result.max_score, f"{case.name}: lost {failing(result)}"


def test_corpus_is_large_enough():
    assert len(CORPUS.mistakes) >= 40, len(CORPUS.mistakes)
    assert len(CORPUS.alternatives) >= 10, len(CORPUS.alternatives)
