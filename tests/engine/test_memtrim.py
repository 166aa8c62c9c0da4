"""Memory given back between grading steps: clean library pages are unmapped without changing what runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from autograder.child import memtrim

# run in a fresh interpreter: the pages of the test session itself are left alone
SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from autograder.child import memtrim

    def rss_file_kib():
        for line in open("/proc/self/status"):
            if line.startswith("RssFile:"):
                return int(line.split()[1])

    a = np.arange(1_000_000, dtype=np.float64)
    expected = float(np.sort(a[::-1]).sum() + np.linalg.norm(a[:100]))
    before = rss_file_kib()
    covered = memtrim.unmap_library_pages()
    after = rss_file_kib()
    again = float(np.sort(a[::-1]).sum() + np.linalg.norm(a[:100]))  # the code is mapped back on use
    print(before, after, covered, again == expected)
    """
)


def test_library_pages_are_unmapped_and_the_code_still_runs():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    before, after, covered, same = out.split()
    assert int(covered) > 0
    assert int(after) < int(before), f"file-backed resident memory {before} KiB -> {after} KiB"
    assert same == "True"


def test_only_unwritten_read_only_file_mappings_are_dropped():
    """Writable mappings, relocated (written) read-only pages and anonymous memory keep their contents."""
    with open("/proc/self/maps") as fh:
        maps = {}
        for line in fh:
            head = line.split(maxsplit=5)
            lo = int(head[0].split("-")[0], 16)
            maps[lo] = (head[1], head[5].strip() if len(head) > 5 else "")
    for start, length in memtrim._clean_library_ranges():
        perm, path = maps[start]
        assert perm in ("r--p", "r-xp") and path.startswith("/") and length > 0, (perm, path)
