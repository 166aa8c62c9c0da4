"""``python -m lab3 check`` (public tests as a rubric table) and ``python -m lab3 submit`` (submission.zip)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from lab3 import GRADED_MODULES


def run_check(path: Path = Path(".")) -> int:
    """Run ``path/tests`` against ``path/lab3`` and print one line per test with a hint on failure."""
    path = path.resolve()
    if not (path / "lab3").is_dir() or not (path / "tests").is_dir():
        print(f"{path} must hold lab3/ and tests/ (run from the folder of the lab)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        cmd = [sys.executable, "-m", "pytest", str(path / "tests"), "-q", "-p", "no:cacheprovider",
               f"--junitxml={report}", "--rootdir", str(path)]
        env_path = str(path)
        proc = subprocess.run(cmd, cwd=path, capture_output=True, text=True,
                              env={**__import__("os").environ, "PYTHONPATH": env_path})
        if not report.exists():
            print(proc.stdout[-3000:] + proc.stderr[-3000:])
            return 1
        rows = []
        for case in ET.parse(report).getroot().iter("testcase"):
            name = f"{case.get('classname', '').split('.')[-1]}::{case.get('name')}"
            failure = case.find("failure")
            if failure is None:
                failure = case.find("error")
            skipped = case.find("skipped")
            if failure is not None:
                hint = (failure.get("message") or "failed").splitlines()[0][:100]
                rows.append((name, "FAIL", hint))
            elif skipped is not None:
                rows.append((name, "skip", (skipped.get("message") or "")[:100]))
            else:
                rows.append((name, "ok", ""))
    width = max((len(r[0]) for r in rows), default=10)
    print(f"{'test':<{width}}  result  hint")
    for name, status, hint in rows:
        print(f"{name:<{width}}  {status:<6}  {hint}")
    passed = sum(r[1] == "ok" for r in rows)
    print(f"\n{passed}/{len(rows)} public checks pass. The hidden tests check much more (see the README).")
    return 0 if passed == len(rows) else 1


def make_submission(path: Path = Path("."), output: Path = Path("submission.zip")) -> int:
    """Zip exactly the graded modules of ``path/lab3`` into ``output``."""
    missing = [m for m in GRADED_MODULES if not (path / "lab3" / f"{m}.py").is_file()]
    if missing:
        print("missing: " + ", ".join(f"lab3/{m}.py" for m in missing), file=sys.stderr)
        return 1
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as zf:
        for m in GRADED_MODULES:
            zf.write(path / "lab3" / f"{m}.py", f"lab3/{m}.py")
    print(f"wrote {output} with {len(GRADED_MODULES)} modules: upload it to Gradescope")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab3")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="run the public tests and print a rubric table")
    p.add_argument("path", nargs="?", default=".")
    p = sub.add_parser("submit", help="zip the graded modules into submission.zip")
    p.add_argument("path", nargs="?", default=".")
    p.add_argument("-o", "--output", default="submission.zip")
    args = parser.parse_args(argv)
    if args.command == "check":
        return run_check(Path(args.path))
    return make_submission(Path(args.path), Path(args.output))


if __name__ == "__main__":
    sys.exit(main())
