"""Shipping the autograder: the Gradescope zip (also used by otter-grader) and the otter bridge.

- :mod:`autograder.packaging.gradescope`: ``build_autograder_zip(root)`` -> ``autograder/dist/autograder.zip``
- :mod:`autograder.packaging.gradescope_entry`: what ``run_autograder`` runs on Gradescope (a valid
  results.json when grading completed; none and exit 3 when the grader itself failed)
- :mod:`autograder.packaging.otter_build`: otter test files generated from the manifest (build time)
- :mod:`autograder.packaging.otter_runtime`: otter test cases look up the engine's results (grading time)
"""
