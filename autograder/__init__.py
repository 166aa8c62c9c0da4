"""The Lab 3 grading system: build tool, sandboxed grading engine, hidden graders, reports, packaging."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
