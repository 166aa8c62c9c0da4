"""One home per fact: the trust boundary forces two copies of the graded module list; they must agree."""

from __future__ import annotations

import lab3

from autograder.layout import GRADED_MODULES, PACKAGE_PARENT


def test_student_package_and_grader_name_the_same_graded_modules():
    assert tuple(lab3.GRADED_MODULES) == GRADED_MODULES


def test_package_parent_holds_the_autograder_package():
    assert (PACKAGE_PARENT / "autograder" / "layout.py").is_file()
