"""Manifest validation and scoring: fixed ids, missing results score 0, GPU tests out of the maximum."""

from __future__ import annotations

import pytest

from autograder.engine.grade import score
from autograder.engine.manifest import build


def t(id, points, tags, gpu=False, vis="visible"):
    return {"id": id, "name": id, "points": points, "tags": tags, "visibility": vis, "gpu": gpu}


MAN = build([t("a", 2, ["ex1", "sdpa"]), t("b", 3, ["ex1", "mha"]), t("g", 4, ["ex3", "amp"], gpu=True)])


def test_build_totals_and_validation():
    assert MAN["total_cpu"] == 5 and MAN["total_gpu"] == 4
    with pytest.raises(ValueError, match="unknown tags"):
        build([t("x", 1, ["ex1", "nope"])])
    with pytest.raises(ValueError, match="no exercise tag"):
        build([t("x", 1, ["sdpa"])])
    with pytest.raises(ValueError, match="duplicate"):
        build([t("x", 1, ["ex1"]), t("x", 1, ["ex1"])])


def test_missing_result_scores_zero_and_unknown_ids_ignored():
    recs = [
        {"type": "test", "id": "a", "outcome": "passed"},
        {"type": "test", "id": "zzz", "outcome": "passed"},
    ]
    tests = score(MAN, recs, gpu=False, only_tags=None)
    assert [(x.id, x.score, x.max_score, x.status) for x in tests] == [
        ("a", 2, 2, "passed"),
        ("b", 0, 3, "failed"),
        ("g", 0, 0, "skipped"),
    ]
    assert "no result" in tests[1].output


def test_gpu_counts_only_with_gpu_and_only_filters():
    recs = [{"type": "test", "id": x, "outcome": "passed"} for x in "abg"]
    assert sum(x.max_score for x in score(MAN, recs, gpu=True, only_tags=None)) == 9
    only = score(MAN, recs, gpu=False, only_tags=["mha"])
    assert [x.id for x in only] == ["b"]


def test_failed_and_skipped_records_score_zero():
    recs = [
        {"type": "test", "id": "a", "outcome": "skipped", "message": "nope"},
        {"type": "test", "id": "b", "outcome": "failed", "message": "bad"},
    ]
    tests = score(MAN, recs, gpu=False, only_tags=None)
    assert tests[0].score == 0 and tests[0].output.startswith("skipped")
    assert tests[1].score == 0 and tests[1].output == "bad"
