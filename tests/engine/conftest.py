"""Engine tests: their helpers (``engine_helpers``) importable; ``ex1_graders`` is in ``tests/conftest.py``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
