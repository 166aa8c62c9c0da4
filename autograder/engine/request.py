"""What a grading is asked to do: one typed, frozen :class:`GradeRequest`, built and validated once at each door.

The doors are ``lab3 grade`` (:meth:`GradeRequest.from_args`), the Python API
(:func:`autograder.engine.grade.grade_submission`, :func:`autograder.engine.batch.grade_batch`), the Gradescope
entry and the otter bridge (:mod:`autograder.packaging.gradescope_entry`, which the bridge runs). Every path
is made absolute here, once (against the caller's folder, ``~`` expanded); the engine takes the request as
it is. A request that breaks a rule raises :class:`RequestError` whose text is the usage message (``lab3 grade``
prints it and exits 2).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from autograder.engine.options import DEFAULT_TIMEOUT_SCALE, absolute


class RequestError(ValueError):
    """The request breaks a rule (unknown tag, non-positive scale, a bad shard): a usage error, never a grade."""


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` -> ``(i, n)`` with ``1 <= i <= n``; None for no shard."""
    if not text:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise RequestError(f"--shard must look like i/n with 1 <= i <= n (got {text!r})")
    return int(m.group(1)), int(m.group(2))


def _path(value: Path | str | None) -> Path | None:
    return absolute(value) if value is not None else None


def _known_tags() -> frozenset[str]:
    from autograder.engine.manifest import ALLOWED_TAGS

    return frozenset(ALLOWED_TAGS)


@dataclass(frozen=True)
class GradeRequest:
    """One grading: a submission (``submission``) or a class (``batch``) into ``out``; every path absolute."""

    out: Path  # the output folder (autograder.outdir.SubmissionOut / OutDir)
    submission: Path | None = None  # one submission: a folder or a .zip
    batch: Path | None = None  # a folder of submissions, one per entry
    only_tags: tuple[str, ...] = ()  # grade only the tests carrying one of these tags (empty: all)
    timeout_scale: float = DEFAULT_TIMEOUT_SCALE  # multiplies every deadline
    session_timeout: float | None = None  # seconds for one whole session (None: 600 x timeout_scale)
    release: Path | None = None  # the official release the other modules come from (None: the default one)
    graders: Path | None = None  # the hidden graders (None: autograder/graders)
    manifest: Path | None = None  # the manifest of test ids and points (None: autograder/manifest.json)
    threads: int | None = None  # CPU threads of one grading (None: every CPU)
    limits: dict[str, Any] = field(default_factory=dict)  # overrides of the sandbox's Limits fields
    # the batch only
    jobs: int = 1  # submissions graded at once
    shard: tuple[int, int] | None = None  # grade only every n-th entry from the i-th (1-based)
    force: bool = False  # grade again even when a result exists
    regrade: tuple[str, ...] = ()  # grade these ids again, keep the others
    reason: str | None = None  # why this run regrades (kept in OUT/history/)
    roster: Path | None = None  # submission -> student (copied to OUT/roster.csv)

    def __post_init__(self) -> None:
        fix = object.__setattr__
        if (self.submission is None) == (self.batch is None):
            raise RequestError("give either SUBMISSION or --batch DIR (not both)")
        for name in ("out", "submission", "batch", "release", "graders", "manifest", "roster"):
            fix(self, name, _path(getattr(self, name)))
        fix(self, "only_tags", tuple(self.only_tags or ()))
        fix(self, "regrade", tuple(self.regrade or ()))
        fix(self, "limits", dict(self.limits or {}))
        bad = [t for t in self.only_tags if t not in _known_tags()]
        if bad:
            raise RequestError(f"unknown tag(s) {bad}; known tags: {', '.join(sorted(_known_tags()))}")
        if not float(self.timeout_scale) > 0:
            raise RequestError("--timeout-scale must be positive")
        if self.session_timeout is not None and not float(self.session_timeout) > 0:
            raise RequestError(f"the session timeout must be positive (got {self.session_timeout!r})")
        if self.threads is not None and int(self.threads) < 1:
            raise RequestError(f"threads must be >= 1 (got {self.threads!r})")
        fix(self, "jobs", max(1, int(self.jobs)))  # -j 0 grades one at a time, as it always did
        if self.shard is not None and not (len(self.shard) == 2 and 1 <= self.shard[0] <= self.shard[1]):
            raise RequestError(f"--shard must be i/n with 1 <= i <= n (got {self.shard!r})")

    @property
    def is_batch(self) -> bool:
        return self.batch is not None

    def batch_only_options(self) -> list[str]:
        """The batch's options that a request for one submission was given (they do nothing there)."""
        given = {"-j": self.jobs != 1, "--shard": self.shard is not None, "--force": self.force,
                 "--regrade": bool(self.regrade), "--roster": self.roster is not None, "--reason": bool(self.reason)}
        return [name for name, on in given.items() if on]

    def for_entry(self, submission: Path, out: Path, *, threads: int | None = None) -> GradeRequest:
        """The request of one submission of this batch (graded into ``out``, with ``threads`` CPU threads)."""
        return replace(self, submission=submission, batch=None, out=out, jobs=1, shard=None, force=False,
                       regrade=(), reason=None, roster=None, threads=threads or self.threads)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> GradeRequest:
        """The request of ``lab3 grade`` (see :func:`autograder.grade_cli.add_grade_arguments`)."""
        def get(name: str, default: Any = None) -> Any:
            return getattr(args, name, default)

        shard = get("shard")
        return cls(
            out=args.out,
            submission=get("submission"),
            batch=get("batch"),
            only_tags=tuple(get("only") or ()),
            timeout_scale=get("timeout_scale", DEFAULT_TIMEOUT_SCALE),
            release=get("release"),
            jobs=get("jobs", 1),
            shard=parse_shard(shard) if isinstance(shard, str) else shard,
            force=bool(get("force", False)),
            regrade=tuple(get("regrade") or ()),
            reason=get("reason"),
            roster=get("roster"),
        )
