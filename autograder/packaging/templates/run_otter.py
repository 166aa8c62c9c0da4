"""Runs otter's autograder on this zip (``run_autograder`` calls it in otter mode: ``otter grade``).

Otter executes the entry notebook ``Lab3.ipynb`` (from ``files/``) and the bridge tests in ``tests/``;
their test cases look up the results of the Lab 3 grading engine, which runs once per submission.
"""

from otter.run.run_autograder import main

from autograder.settings import value

if __name__ == "__main__":
    main(str(value("LAB3_AUTOGRADER_ROOT")))
