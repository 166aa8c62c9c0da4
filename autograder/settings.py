"""The register of the course's settings and pins: every ``LAB3_*`` environment setting declared once
(name, kind, default, one line of meaning), and the torch / torchvision pin.

Two registers, because of the trust boundary. The lab's own package declares the settings it reads in
``lab3/settings.py`` (students run it; it knows nothing of the grader); this module declares the rest
(grading, the Gradescope / otter image, the build, development) and reads the lab's declarations as data:
parsed, never imported (the grader never imports the ``lab3`` package into its own process). So
:func:`all_settings` lists them all and :func:`value` reads any of them. Shell scripts (``setup.sh``,
``run_autograder``, the Makefile, ``scripts/``, ``benchmarks/``) read their settings themselves; each one
is still declared here, and ``tests/build/test_settings_register.py`` checks that every ``LAB3_*`` name
in the repository is.

The pin lives in ``autograder/torch_pins.txt`` (pip requirements format): :func:`torch_pins` reads it and
:func:`fill_pins` writes it into the templates that name it (``@torch@``, ``@torchvision@``).

    python -m autograder.settings --markdown    print the settings table (docs/settings.md)
    python -m autograder.settings --write       write docs/settings.md
    python -m autograder.settings --check       exit 1 when docs/settings.md is stale
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from autograder.layout import PACKAGE_PARENT

KINDS = ("path", "flag", "text", "choice", "tags", "int", "float")
GROUPS = {
    "lab": "The lab's own package (`lab3/settings.py`): students, the experiments, `lab3 data`",
    "grading": "Grading (`lab3 grade`, the Gradescope entry, the otter bridge)",
    "image": "The Gradescope / otter image (`setup.sh`, `run_autograder`; also KEY=VALUE lines of the zip's "
             "`lab3_settings.env`, where the environment wins)",
    "build": "Building the autograder zip (`lab3 build`)",
    "development": "Development (tests, scripts, benchmarks)",
}


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str  # one of KINDS; "flag": 1 / true / yes / on, "tags": separated by spaces or commas
    default: str  # "" : no default (the value is None when unset)
    meaning: str  # one line
    group: str  # one of GROUPS


def _s(group: str, name: str, kind: str, default: str, meaning: str) -> Setting:
    return Setting(name, kind, default, meaning, group)


GRADER_SETTINGS = (
    _s("grading", "LAB3_GRADE_ONLY", "tags", "",
       "grade only the tests carrying one of these tags (Gradescope entry, run_autograder, the zip's settings)"),
    _s("grading", "LAB3_SESSION_TIMEOUT", "float", "",
       "seconds for the whole grading session (default: the engine's budget from the manifest)"),
    _s("grading", "LAB3_TIMEOUT_SCALE", "float", "", "multiplies every deadline of a grading (default 1)"),
    _s("grading", "LAB3_MIN_MEMORY_MB", "int", "768",
       "the least memory (MB) grading starts with; below it the grader refuses with a message (0: no check)"),
    _s("grading", "LAB3_SANDBOX", "choice", "",
       "weak: sandbox as a non-root user would (tests); plain: also without user namespaces"),
    _s("grading", "LAB3_SANDBOX_SPAWN", "choice", "",
       "exec: start each sandbox child as a fresh `python -I` instead of forking it from the zygote"),
    _s("grading", "LAB3_AUTOGRADER_ROOT", "path", "/autograder",
       "the Gradescope tree (submission/, results/, source/) that run_autograder and the entry grade in"),
    _s("grading", "LAB3_PYTHON", "path", "",
       "the interpreter that grades (run_autograder: $LAB3_HOME/venv/bin/python; the otter bridge: its own)"),
    _s("grading", "LAB3_OTTER_TIMEOUT", "float", "1800",
       "seconds the otter bridge waits for the grading engine"),
    _s("grading", "LAB3_OTTER_PAYLOAD", "path", "",
       "the payload folder the otter test files import the bridge from (default: next to otter's tests)"),
    _s("image", "LAB3_HOME", "path", "/opt/lab3", "where setup.sh makes venv/ and data/ (the grading image)"),
    _s("image", "LAB3_AUTOGRADER_MODE", "choice", "",
       "direct or otter (default: otter when otter copied its results.pkl in first)"),
    _s("image", "LAB3_SKIP_DATA", "flag", "", "1: setup.sh and run_autograder do not fetch CIFAR-10"),
    _s("image", "LAB3_SKIP_SELFTEST", "flag", "", "1: setup.sh skips grading the solution on the new image"),
    _s("image", "LAB3_WITH_OTTER", "flag", "",
       "1: setup.sh also installs otter-grader (default: only in otter grade's image build)"),
    _s("image", "LAB3_PIP_ARGS", "text", "", "extra pip arguments for setup.sh (e.g. an index of a local mirror)"),
    _s("build", "LAB3_TORCH_INDEX_URL", "text", "",
       "a pip index serving CPU builds of torch: baked into the zip at build time, used by setup.sh"),
    _s("build", "LAB3_WHEELHOUSE", "path", "",
       "a folder of wheels: put into the zip at build time; setup.sh installs offline from it"),
    _s("development", "LAB3_CORPUS_ONLY", "text", "",
       "grade only the mistake-corpus cases whose names contain one of these comma-separated parts (tests)"),
    _s("development", "LAB3_TEE", "flag", "",
       "internal: set by scripts/otter_grade_docker.sh when it re-runs itself under tee"),
    _s("development", "LAB3_BENCH_TEE", "flag", "",
       "internal: set by benchmarks/bench_container_memory.sh when it re-runs itself under tee"),
)

# the lab's declarations: the source master in a checkout, the release copy inside the zip's payload
LAB_SETTINGS_FILES = (PACKAGE_PARENT / "source" / "lab3" / "settings.py",
                      PACKAGE_PARENT / "assignments" / "lab3" / "settings.py")


def parse_lab_settings(path: Path) -> tuple[Setting, ...]:
    """The ``Setting(name, kind, default, meaning)`` entries of ``lab3/settings.py``'s ``SETTINGS``, read
    from its source (literal arguments only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Setting":
            args = [ast.literal_eval(a) for a in node.args]
            found.append(Setting(*args, group="lab"))
    if not found:
        raise ValueError(f"{path}: no Setting(...) declarations")
    return tuple(found)


@lru_cache(maxsize=1)
def all_settings() -> dict[str, Setting]:
    """Every declared setting by name: the lab's (parsed) and the grader's."""
    lab_file = next((p for p in LAB_SETTINGS_FILES if p.is_file()), None)
    lab = parse_lab_settings(lab_file) if lab_file else ()
    register: dict[str, Setting] = {}
    for setting in (*lab, *GRADER_SETTINGS):
        if setting.name in register:
            raise ValueError(f"{setting.name} is declared twice")
        if setting.kind not in KINDS or setting.group not in GROUPS:
            raise ValueError(f"{setting.name}: unknown kind {setting.kind!r} or group {setting.group!r}")
        register[setting.name] = setting
    return register


def raw(name: str) -> str | None:
    """What the environment holds for setting ``name`` (None when unset or empty; no default)."""
    all_settings()[name]  # a KeyError for an undeclared name
    return os.environ.get(name) or None


def value(name: str) -> str | bool | int | float | list[str] | Path | None:
    """Setting ``name`` from the environment (its default when unset or empty), typed by its kind: a
    ``ValueError`` when a number does not parse."""
    setting = all_settings()[name]
    return _typed(setting, os.environ.get(name) or setting.default)


def default(name: str) -> str | bool | int | float | list[str] | Path | None:
    """Setting ``name``'s declared default, typed by its kind."""
    setting = all_settings()[name]
    return _typed(setting, setting.default)


def _typed(setting: Setting, text: str) -> str | bool | int | float | list[str] | Path | None:
    if setting.kind == "flag":
        return text.strip().lower() in {"1", "true", "yes", "on"}
    if setting.kind == "tags":
        return [t for t in text.replace(",", " ").split() if t]
    if not text:
        return None
    if setting.kind in ("int", "float"):
        return int(text) if setting.kind == "int" else float(text)
    return Path(text).expanduser() if setting.kind == "path" else text


# -- the torch / torchvision pin -------------------------------------------------------------------------
TORCH_PINS_FILE = Path(__file__).resolve().parent / "torch_pins.txt"
_PLACEHOLDER = re.compile(r"@(torch|torchvision)@")


def torch_pins() -> dict[str, str]:
    """``{"torch": version, "torchvision": version}`` from ``autograder/torch_pins.txt``."""
    pins = {}
    for line in TORCH_PINS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.strip()] = version.strip()
    return pins


def fill_pins(text: str) -> str:
    """``text`` with each ``@torch@`` / ``@torchvision@`` replaced by the pinned version."""
    pins = torch_pins()
    return _PLACEHOLDER.sub(lambda m: pins[m.group(1)], text)


# -- the documentation ------------------------------------------------------------------------------------
DOC_PATH = PACKAGE_PARENT / "docs" / "settings.md"


def markdown() -> str:
    """docs/settings.md: every setting, by group, from the register."""
    lines = ["# Settings", "",
             "<!-- generated by `python -m autograder.settings --write` from the register; do not edit -->", "",
             "Every `LAB3_*` environment variable the course reads, declared once: the lab's own in",
             "`source/lab3/settings.py`, the rest in `autograder/settings.py`. An unset or empty variable takes",
             "its default. Kinds: `flag` is on for 1 / true / yes / on; `tags` are separated by spaces or commas;",
             "`path` expands `~`.", ""]
    register = all_settings().values()
    for group, title in GROUPS.items():
        lines += [f"## {title}", "", "| setting | kind | default | meaning |", "|---|---|---|---|"]
        for s in sorted((s for s in register if s.group == group), key=lambda s: s.name):
            default = f"`{s.default}`" if s.default else "-"
            lines.append(f"| `{s.name}` | {s.kind} | {default} | {s.meaning} |")
        lines.append("")
    pins = " ".join(f"`{name}=={version}`" for name, version in torch_pins().items())
    lines += ["## The torch pin", "",
              f"{pins}: declared once in `autograder/torch_pins.txt`, read by the Makefile and by `lab3 build`",
              "(the student `requirements.txt` and README, the zip's `requirements.torch.txt` that `setup.sh`",
              "installs and `scripts/otter_grade_docker.sh` reuses); `pyproject.toml`'s ranges admit it.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m autograder.settings", description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--markdown", action="store_true", help="print the settings table")
    mode.add_argument("--write", action="store_true", help=f"write {DOC_PATH.relative_to(PACKAGE_PARENT)}")
    mode.add_argument("--check", action="store_true", help="exit 1 when that file is stale")
    args = ap.parse_args(argv)
    text = markdown()
    if args.markdown:
        sys.stdout.write(text)
    elif args.write:
        DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOC_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {DOC_PATH}")
    elif not DOC_PATH.is_file() or DOC_PATH.read_text(encoding="utf-8") != text:
        print(f"{DOC_PATH} is stale: run python -m autograder.settings --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
