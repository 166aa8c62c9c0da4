"""Entry point of one trusted grading session: ``python -m autograder.engine.session CONFIG.json``.

Runs pytest over the hidden graders with the engine plugin. Started as a subprocess by
:func:`autograder.engine.grade.grade_submission` so that a wedged session can be killed and the
results still written from whatever records exist.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


def pytest_args(
    graders: Path, config_path: Path | None, ini: Path, extra: list[str] | None = None
) -> list[str]:
    args = [
        str(graders),
        "-c",
        str(ini),
        "--rootdir",
        str(graders),
        "--confcutdir",
        str(graders),  # no conftest.py from folders above the graders
        "-p",
        "autograder.engine.plugin",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "-o",
        "addopts=",
        "-o",
        "python_files=test_*.py",
        "--strict-markers",
        "-q",
        "--no-header",
        "-rN",
        "--tb=no",  # the plugin records traces itself (pytest's are slow)
        *(extra or []),
    ]
    if config_path is not None:
        args += ["--lab3-config", str(config_path)]
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    import signal

    def _stop(signum, frame):  # a deadline from grade_submission: end the session, killing the sandbox
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    from autograder.engine.options import SessionOptions
    from autograder.outdir import SubmissionOut

    # no plugin of another package runs beside the graders (ours comes with -p); this also keeps pytest from
    # marking them for rewriting, which warns when one is imported already (anyio, by timm in a session server)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    config_path = Path(argv[0])
    options = SessionOptions.read(config_path)
    ini = options.log_dir / SubmissionOut.PYTEST_INI
    ini.write_text("[pytest]\n")
    code = pytest.main(pytest_args(options.graders, config_path, ini))
    return 0 if int(code) in (0, 1, 5) else int(code)


if __name__ == "__main__":
    sys.exit(main())
