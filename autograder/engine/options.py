"""What one trusted grading session receives: a typed, frozen, validated options object.

:func:`autograder.engine.grade.grade_submission` builds it once (every path already absolute) and
writes it with :meth:`SessionOptions.write`; the session (:mod:`autograder.engine.session` and its
plugin) reads it back with :meth:`SessionOptions.read`. This module is the only place that knows
the file's keys, so the two sides cannot disagree about them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT_SCALE = 1.0


class OptionsError(ValueError):
    """The session options are invalid (a relative path, a wrong type): a fault of the trusted side."""


def absolute(path: str | Path) -> Path:
    """``path`` made absolute against the current folder, ``~`` expanded (symlinks left as they are)."""
    return Path(path).expanduser().absolute()


@dataclass(frozen=True)
class SessionOptions:
    """Everything the trusted pytest session needs; every path absolute."""

    graders: Path  # folder of the hidden graders
    staging: Path  # the sandbox's file tree (see autograder.engine.staging)
    records: Path  # JSON-lines file the session appends one record per test to
    log_dir: Path  # instructor-only logs of this submission
    graded: tuple[str, ...]  # the graded module names
    missing: tuple[str, ...] = ()  # graded modules absent from the submission
    sources: dict[str, str] = field(default_factory=dict)  # graded module -> submitted text (read once, by the engine)
    only_tags: tuple[str, ...] = ()  # grade only tests carrying one of these tags (empty: all)
    hide: tuple[str, ...] = ()  # paths the sandbox must not see
    timeout_scale: float = DEFAULT_TIMEOUT_SCALE
    limits: dict[str, Any] = field(default_factory=dict)  # overrides of sandbox.Limits fields
    trusted_threads: int = 1  # torch threads of the trusted session
    no_gpu: bool = False  # grade as if no CUDA device were present

    def __post_init__(self) -> None:
        for name in ("graders", "staging", "records", "log_dir"):
            value = getattr(self, name)
            if not isinstance(value, Path):
                object.__setattr__(self, name, value := Path(value))
            if not value.is_absolute():
                raise OptionsError(f"session option {name} must be an absolute path, got {str(value)!r}")
        for name in ("graded", "missing", "only_tags", "hide"):
            value = tuple(getattr(self, name))
            if not all(isinstance(v, str) for v in value):
                raise OptionsError(f"session option {name} must be a list of strings")
            object.__setattr__(self, name, value)
        if not self.graded:
            raise OptionsError("session option graded is empty")
        if not float(self.timeout_scale) > 0:
            raise OptionsError(f"timeout_scale must be positive, got {self.timeout_scale!r}")
        if int(self.trusted_threads) < 1:
            raise OptionsError(f"trusted_threads must be >= 1, got {self.trusted_threads!r}")
        object.__setattr__(self, "limits", dict(self.limits))
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in dict(self.sources).items()):
            raise OptionsError("session option sources must map module names to texts")
        object.__setattr__(self, "sources", dict(self.sources))

    def to_json(self) -> str:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
            elif isinstance(value, tuple):
                data[key] = list(value)
        return json.dumps(data, indent=1, sort_keys=True)

    def write(self, path: Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> SessionOptions:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise OptionsError(f"cannot read session options {path}: {exc}") from exc
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise OptionsError(f"unknown session option(s): {sorted(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise OptionsError(f"invalid session options {path}: {exc}") from exc
