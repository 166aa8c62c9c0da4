"""``autograder/dist/autograder.zip``: one zip for Gradescope, ``otter run`` and ``otter grade``.

Layout of the zip (Gradescope unpacks it into ``/autograder/source``)::

    setup.sh  run_autograder             Gradescope's two scripts (run_autograder also serves otter grade)
    requirements.txt                     what grading needs besides torch (setup.sh installs the CPU build)
    requirements.otter.txt               otter's grading stack (installed only for otter grade's image)
    requirements.torch.txt               the torch / torchvision pin (autograder/torch_pins.txt)
    lab3_settings.env                    LAB3_* settings read by setup.sh and run_autograder (only when given:
                                         LAB3_TORCH_INDEX_URL from the build's environment, or ``settings``)
    wheelhouse/*.whl                     only when LAB3_WHEELHOUSE is set at build time (offline images)
    otter_config.json  run_otter.py  environment.yml   what otter's runner and Dockerfile expect
    tests/ex1.py ex2.py ex3.py           otter test files: one test_case per hidden grader (look-ups)
    files/Lab3.ipynb                     what otter executes instead of a student's notebook (one cell, no student code)
    files/lab3_autograder/               the payload: the engine's "repository root"
        autograder/                      engine, graders, probes, reports, manifest.json (no dist/)
        assignments/                     the official student release (the engine's default release)

The payload sits under ``files/`` because ``otter grade``'s Dockerfile copies only ``files*`` and ``tests``
(besides the scripts) into its image. The zip is deterministic: sorted entries, fixed timestamps and modes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from autograder.packaging.otter_build import ENTRY_NOTEBOOK, PAYLOAD_DIR, entry_notebook, otter_config, otter_test_files
from autograder.settings import TORCH_PINS_FILE, raw, value

TEMPLATES = Path(__file__).resolve().parent / "templates"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
EXECUTABLE = {"setup.sh", "run_autograder"}
SKIP_DIRS = {"__pycache__", "dist", ".pytest_cache", ".ruff_cache"}


def _tree(folder: Path, prefix: str) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        rel_dir = Path(dirpath).relative_to(folder)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")) or name.startswith("."):
                continue
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            files[f"{prefix}/{(rel_dir / name).as_posix()}"] = path.read_bytes()
    return files


def autograder_files(root: Path, settings: dict[str, str] | None = None) -> dict[str, bytes]:
    """Every file of the zip, ``{zip path: bytes}``; ``settings`` go to lab3_settings.env (LAB3_* keys)."""
    root = Path(root)
    release = root / "assignments"
    if not (release / "lab3" / "__init__.py").exists():
        raise FileNotFoundError(f"{release}/lab3 is missing: build the student release first (lab3 build)")
    manifest_path = root / "autograder" / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    files: dict[str, bytes] = {}
    for name in ("setup.sh", "run_autograder", "requirements.txt", "requirements.otter.txt", "run_otter.py",
                 "environment.yml"):
        files[name] = (TEMPLATES / name).read_bytes()
    files["requirements.torch.txt"] = TORCH_PINS_FILE.read_bytes()
    files["otter_config.json"] = otter_config().encode()
    for rel, text in otter_test_files(manifest).items():
        files[rel] = text.encode()
    files[f"files/{ENTRY_NOTEBOOK}"] = entry_notebook().encode()
    payload = f"files/{PAYLOAD_DIR}"
    files.update(_tree(root / "autograder", f"{payload}/autograder"))
    files.update(_tree(release, f"{payload}/assignments"))
    # the solution's graded modules, for the self-test of the image build (root-only there, and hidden
    # from the sandbox like the graders)
    from autograder.layout import GRADED_MODULES

    for module in GRADED_MODULES:
        solution = root / "solutions" / "lab3" / f"{module}.py"
        if solution.exists():
            files[f"{payload}/solutions/lab3/{module}.py"] = solution.read_bytes()
    values = {key: raw(key) for key in ("LAB3_TORCH_INDEX_URL",) if raw(key)}
    values.update(settings or {})
    if values:
        bad = [k for k, v in values.items() if not k.startswith("LAB3_") or "\n" in v or "=" in k]
        if bad:
            raise ValueError(f"settings must be LAB3_* keys with one-line values: {bad}")
        text = "# Lab 3 autograder settings (written by lab3 build); the environment wins\n"
        text += "".join(f"{k}={v}\n" for k, v in sorted(values.items()))
        files["lab3_settings.env"] = text.encode()
    wheelhouse = value("LAB3_WHEELHOUSE")
    if wheelhouse:
        for whl in sorted(wheelhouse.glob("*.whl")):
            files[f"wheelhouse/{whl.name}"] = whl.read_bytes()
    return files


def write_zip(files: dict[str, bytes], dest: Path) -> Path:
    """Write ``files`` as a deterministic zip (same input, same bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".whl") else zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the modes below are honoured by unzip
            mode = 0o755 if name in EXECUTABLE else 0o644
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, files[name])
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, dest)
    return dest


def manifest_problems(root: Path) -> str:
    """Empty when ``autograder/manifest.json`` matches the graders (collected in a subprocess), else why."""
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run([sys.executable, "-m", "autograder.engine.manifest", "--check"], capture_output=True,
                         text=True, cwd=str(root), env=env, timeout=600)
    if res.returncode == 0:
        return ""
    lines = (res.stdout + res.stderr).splitlines()
    differs = [ln.removeprefix("differs: ") for ln in lines if ln.startswith("differs: ")]
    if not differs:
        return "\n".join(lines[-20:])
    more = f" (+{len(differs) - 10} more)" if len(differs) > 10 else ""
    return f"{len(differs)} test(s) differ: " + ", ".join(differs[:10]) + more


def build_autograder_zip(root: Path, *, check_manifest: bool = True) -> Path:
    """Write ``root/autograder/dist/autograder.zip`` (called by ``lab3 build``); return its path.

    Raises ``RuntimeError`` (and writes nothing) when the manifest is stale: the zip scores from it.
    """
    root = Path(root)
    if check_manifest:
        problems = manifest_problems(root)
        if problems:
            raise RuntimeError("autograder/manifest.json does not match the graders; run "
                               f"`python -m autograder.engine.manifest --write` first:\n{problems}")
    return write_zip(autograder_files(root), root / "autograder" / "dist" / "autograder.zip")
