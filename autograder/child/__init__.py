"""The code that runs in a student's process, and nothing else.

``main`` locks the child down and serves the trusted side's requests; ``probes`` are the small functions
the graders call by name (``student.call("attention.sdpa", ...)``) to run student code and return plain
data; ``wire`` is the format both sides speak (JSON + raw tensor bytes, never pickle); ``memtrim`` gives
freed memory back after each call. The sandbox copies this whole package into the child's file tree
(``autograder.engine.staging``); the trusted side may import it (the wire decoder, the reference's
threading helpers), but nothing here
imports the trusted side (``autograder.engine``, the graders, the reports), which
``tests/engine/test_import_graph.py`` checks.
"""
