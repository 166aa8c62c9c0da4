"""The demo's buggy samples lose points only in the area of their mistake, as recorded in
``examples/expected.json`` (which ``lab3 selftest`` holds every grading to)."""

from __future__ import annotations

import json

import pytest

from autograder import REPO_ROOT
from autograder.build.examples import BUG_AREAS, BUGS, FLAT_ZIP_BUGS

EXPECTED = json.loads((REPO_ROOT / "examples" / "expected.json").read_text())["samples"]
TAGS = {t["id"]: set(t["tags"]) for t in json.loads((REPO_ROOT / "autograder" / "manifest.json").read_text())["tests"]}
POINTS = {t["id"]: t["points"] for t in json.loads((REPO_ROOT / "autograder" / "manifest.json").read_text())["tests"]}


def test_every_buggy_sample_names_its_area():
    samples = {*BUGS, *(name.removesuffix(".zip") for name in FLAT_ZIP_BUGS)}
    assert samples == set(BUG_AREAS)


@pytest.mark.parametrize("sample", sorted(BUG_AREAS))
def test_buggy_sample_loses_points_only_in_its_area(sample):
    tests = EXPECTED[sample]["tests"]
    lost = {tid for tid, score in tests.items() if tid in POINTS and score < POINTS[tid]}
    assert lost, f"{sample} loses nothing"
    elsewhere = sorted(tid for tid in lost if BUG_AREAS[sample] not in TAGS[tid])
    assert not elsewhere, f"{sample} ({BUG_AREAS[sample]}) also loses points in {elsewhere}"
