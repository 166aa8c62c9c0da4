"""The code that runs in a student's process, and nothing else.

``main`` locks the child down and serves the trusted side's requests; ``wire`` is the plain-data format
both sides speak (JSON + raw tensor bytes, never pickle); ``memtrim`` gives freed memory back after each
call. The sandbox copies this whole package (and the probes) into the child's file tree; nothing here
imports the trusted side (``autograder.engine``, the graders, the reports), which
``tests/engine/test_import_graph.py`` checks.
"""
