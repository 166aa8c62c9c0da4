"""Shipping the autograder: the Gradescope zip (also used by otter-grader) and the otter bridge.

- :mod:`autograder.packaging.gradescope`: ``build_autograder_zip(root)`` -> ``autograder/dist/autograder.zip``
- :mod:`autograder.packaging.entry`: what ``run_autograder`` runs (always writes a valid results.json)
- :mod:`autograder.packaging.otter`: otter test files generated from the manifest (build time)
- :mod:`autograder.packaging.otter_bridge`: otter test cases look up the engine's results (grading time)
"""
