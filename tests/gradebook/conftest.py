"""Gradebook tests: the headless browser (npm packages in ``browser/``, installed on first use)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

BROWSER = Path(__file__).resolve().parent / "browser"


def _install() -> None:
    """``npm install`` the pinned packages of ``browser/package.json`` (``make test`` does it first)."""
    if (BROWSER / "node_modules" / "puppeteer-core").is_dir() and (BROWSER / "node_modules" / "@sparticuz").is_dir():
        return
    proc = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-package-lock"], cwd=BROWSER,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"npm install in {BROWSER} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"


@pytest.fixture(scope="session")
def browser():
    """``run(job) -> dict``: drives ``browser/grade_in_browser.mjs`` in headless Chromium. Skips only when
    node or npm is missing on this machine."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed for the browser test of the grading pages (not on this machine)")
    _install()

    def run(job: dict[str, Any]) -> dict[str, Any]:
        proc = subprocess.run([node, str(BROWSER / "grade_in_browser.mjs"), json.dumps(job)], cwd=BROWSER,
                              capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, f"browser script failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return json.loads(proc.stdout.strip().splitlines()[-1])

    return run
