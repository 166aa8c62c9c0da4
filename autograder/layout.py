"""Facts about the product's layout that several parts of the grader need, each defined once here.

The student package keeps its own copy of :data:`GRADED_MODULES` (``lab3.GRADED_MODULES``: it never
imports the grader); ``tests/engine/test_layout.py`` checks that the two agree.
"""

from __future__ import annotations

from pathlib import Path

# the modules a submission is graded on; every other module comes from the official release
GRADED_MODULES = ("attention", "positional", "transformer", "vit", "transfer", "training", "optim")

# the folder that holds the ``autograder`` package: the repository root in a checkout, the payload folder
# (files/lab3_autograder) inside the Gradescope / otter zip
PACKAGE_PARENT = Path(__file__).resolve().parent.parent

# the hidden graders and the manifest of their test ids and points (autograder.engine.manifest writes it)
GRADERS_DIR = PACKAGE_PARENT / "autograder" / "graders"
MANIFEST_PATH = PACKAGE_PARENT / "autograder" / "manifest.json"
