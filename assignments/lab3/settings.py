"""The lab's settings: the environment variables that this package reads, each declared here once.

A setting that is unset or empty takes its default. Read one with :func:`value`, e.g.
``value("LAB3_QUICK")`` is ``True`` after ``export LAB3_QUICK=1``. (The grader has settings of its own,
declared on its side; the course documentation lists both.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple


class Setting(NamedTuple):
    name: str
    kind: str  # "path" (``~`` expanded), "flag" (1 / true / yes / on) or "text"
    default: str  # "" : no default (the value is None when unset)
    meaning: str  # one line


SETTINGS = (
    Setting("LAB3_DATA_DIR", "path", "~/.cache/lab3",
            "the data home: CIFAR-10 is fetched into its cifar10/ folder (`lab3 data`, first use)"),
    Setting("LAB3_QUICK", "flag", "0",
            "1: quick mode, every experiment shrinks so that the notebook runs in minutes on a laptop CPU"),
    Setting("LAB3_RUNS_DIR", "path", "runs", "where the experiments write their TensorBoard logs"),
    Setting("LAB3_SST2_DIR", "path", "",
            "a local SST-2 copy (stsa.binary.{train,dev,test}), verified and used instead of Hugging Face datasets"),
    Setting("LAB3_SST2_HF", "text", "nyu-mll/glue",
            "the Hugging Face datasets path SST-2 is loaded from (another copy with GLUE's layout, e.g. a folder)"),
)
_BY_NAME = {s.name: s for s in SETTINGS}


def value(name: str) -> str | bool | Path | None:
    """Setting ``name`` from the environment (its default when unset or empty), typed by its kind."""
    setting = _BY_NAME[name]
    raw = os.environ.get(name) or setting.default
    if setting.kind == "flag":
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if not raw:
        return None
    return Path(raw).expanduser() if setting.kind == "path" else raw
