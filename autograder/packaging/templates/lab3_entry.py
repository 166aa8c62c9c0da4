"""Lab 3 autograder entry for otter-grader (``otter run`` / ``otter grade``); added by the autograder zip.

Otter executes exactly one top-level ``.py`` file of a submission: this one. It never imports the
student's code. The otter test files (``tests/ex*.py``) look up the results of the Lab 3 grading engine,
which grades the submission's ``lab3/`` modules once, in a separate sandboxed process.
"""

LAB3_OTTER_ENTRY = True
