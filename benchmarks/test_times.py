"""Test time per file from pytest's JUnit XML (``pytest --junitxml=FILE``): the table of a closing note.

    python benchmarks/test_times.py RUN.xml                 seconds and test count per test file, slowest first
    python benchmarks/test_times.py BEFORE.xml AFTER.xml    before / after per file, with the change
    python benchmarks/test_times.py --durations RUN.xml     writes tests/durations.json (the order of the run)

Times are the wall seconds pytest records per test (setup, call and teardown together), so a module
fixture's cost lands on the first test that uses it; the total row is their sum, not the run's wall time.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

DURATIONS = Path(__file__).resolve().parents[1] / "tests" / "durations.json"


def per_file(path: Path) -> dict[str, tuple[float, int]]:
    """``{test file: (seconds, tests)}`` of one JUnit XML report."""
    seconds: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("classname", "").replace(".", "/")
        name = (name.rsplit("/", 1)[0] if name.split("/")[-1][:1].isupper() else name) + ".py"
        seconds[name] += float(case.get("time") or 0)
        count[name] += 1
    return {name: (seconds[name], count[name]) for name in seconds}


def table(before: dict[str, tuple[float, int]], after: dict[str, tuple[float, int]] | None = None) -> str:
    """A markdown table, slowest file first (by its ``before`` time)."""
    names = sorted(set(before) | set(after or {}), key=lambda n: -max(before.get(n, (0, 0))[0],
                                                                     (after or {}).get(n, (0, 0))[0]))
    if after is None:
        rows = ["| test file | s | tests |", "|---|---:|---:|"]
        rows += [f"| {n} | {before[n][0]:.1f} | {before[n][1]} |" for n in names]
        rows.append(f"| total | {sum(s for s, _ in before.values()):.1f} | {sum(c for _, c in before.values())} |")
        return "\n".join(rows)
    rows = ["| test file | before s | after s | change | tests before/after |", "|---|---:|---:|---:|---:|"]
    for n in [*names, "total"]:
        if n == "total":
            b = (sum(s for s, _ in before.values()), sum(c for _, c in before.values()))
            a = (sum(s for s, _ in after.values()), sum(c for _, c in after.values()))
        else:
            b, a = before.get(n, (0.0, 0)), after.get(n, (0.0, 0))
        change = f"{(a[0] - b[0]) / b[0]:+.0%}" if b[0] else "new"
        rows.append(f"| {n} | {b[0]:.1f} | {a[0]:.1f} | {change} | {b[1]}/{a[1]} |")
    return "\n".join(rows)


def write_durations(run: dict[str, tuple[float, int]], path: Path = DURATIONS) -> None:
    """``{test file: seconds}`` of the files over a second, slowest first: ``tests/conftest.py`` starts the
    longest files first so that parallel workers finish together."""
    slow = {name: round(s, 1) for name, (s, _) in sorted(run.items(), key=lambda kv: -kv[1][0]) if s >= 1.0}
    path.write_text(json.dumps(slow, indent=1) + "\n")


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--durations":
        write_durations(per_file(Path(argv[1])))
        print(f"wrote {DURATIONS}")
        return 0
    if len(argv) not in (1, 2):
        print("\n".join(__doc__.strip().splitlines()[2:5]), file=sys.stderr)
        return 2
    runs = [per_file(Path(p)) for p in argv]
    print(table(*runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
