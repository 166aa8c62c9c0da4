#!/usr/bin/env bash
# Lab 3 autograder set-up: Gradescope runs it once when it builds the grading image (Ubuntu 22.04, root);
# `otter grade` runs it while building its Docker image (there only this file and requirements.* exist yet).
#
# Makes a virtual environment $LAB3_HOME/venv (default /opt/lab3/venv, outside /autograder/source so the
# unprivileged sandbox user can run it) with the CPU build of torch and the grading requirements, then
# fetches CIFAR-10 into $LAB3_HOME/data (readable by root only: the graders hold the test labels).
#
# Options: environment variables, or KEY=VALUE lines in lab3_settings.env next to this file (written by
# `lab3 build` from the same variables; the environment wins):
#   LAB3_TORCH_INDEX_URL  a pip index serving CPU builds of torch (recommended: the default index
#                         gives the CUDA build on Linux, ~5 GB and slow to import)
#   LAB3_WHEELHOUSE       a folder of wheels: install offline from it (default: ./wheelhouse when present)
#   LAB3_PIP_ARGS         extra pip arguments (e.g. --index-url for a local mirror)
#   LAB3_HOME             where venv/ and data/ go (default /opt/lab3)
#   LAB3_WITH_OTTER       1: also install otter-grader (default: 1 only in otter grade's image build)
#   LAB3_SKIP_DATA=1      do not fetch CIFAR-10 now
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { echo "[lab3 setup] $*"; }

if [ -f "$HERE/lab3_settings.env" ]; then
  while IFS='=' read -r key value; do
    case "$key" in LAB3_*) ;; *) continue ;; esac
    if [ -z "${!key:-}" ]; then export "$key=$value"; fi
  done <"$HERE/lab3_settings.env"
fi

LAB3_HOME="${LAB3_HOME:-/opt/lab3}"
VENV="$LAB3_HOME/venv"
TORCH_PINS=(-r "$HERE/requirements.torch.txt")  # the torch / torchvision pin (lab3 build writes it)
WHEELHOUSE="${LAB3_WHEELHOUSE:-}"
if [ -z "$WHEELHOUSE" ] && [ -d "$HERE/wheelhouse" ]; then WHEELHOUSE="$HERE/wheelhouse"; fi
if [ -z "${LAB3_WITH_OTTER:-}" ]; then
  # otter grade's Dockerfile adds only setup.sh and requirements* before running this script
  if [ -d "$HERE/files" ]; then LAB3_WITH_OTTER=0; else LAB3_WITH_OTTER=1; fi
fi
read -r -a EXTRA <<<"${LAB3_PIP_ARGS:-}"
PIP_SRC=()
if [ -n "$WHEELHOUSE" ]; then PIP_SRC=(--no-index --find-links "$WHEELHOUSE"); fi

py_ok() {  # a Python >= 3.10 with the venv module
  "$1" -c 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null
}

# 1. Python and the virtual environment
NEW_VENV=0
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  log "reusing $VENV ($("$VENV/bin/python" --version))"
else
  PY=""
  for cand in python3.13 python3.12 python3.11; do
    if command -v "$cand" >/dev/null && py_ok "$cand"; then PY="$(command -v "$cand")"; break; fi
  done
  if [ -z "$PY" ] && command -v apt-get >/dev/null; then
    log "installing Python 3.11 with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    if apt-get install -y -qq python3.11 python3.11-venv >/dev/null; then PY="$(command -v python3.11)"
    else apt-get install -y -qq python3 python3-venv python3-pip >/dev/null || true; fi
  fi
  if [ -z "$PY" ] && command -v python3 >/dev/null && py_ok python3; then PY="$(command -v python3)"; fi
  if [ -z "$PY" ]; then echo "[lab3 setup] ERROR: no Python >= 3.10 with the venv module found" >&2; exit 1; fi
  log "creating $VENV with $("$PY" --version)"
  mkdir -p "$LAB3_HOME"
  "$PY" -m venv "$VENV"
  NEW_VENV=1
  if [ -z "$WHEELHOUSE" ]; then "$VENV/bin/python" -m pip install -q --upgrade pip "${EXTRA[@]}" || true; fi
fi
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)

# 2. torch (CPU build) and torchvision
if "$VENV/bin/python" - "$HERE/requirements.torch.txt" 2>/dev/null <<'PYEOF'
import sys
pins = [line.split("#")[0].strip().split("==") for line in open(sys.argv[1])]
sys.exit(not all(__import__(name).__version__.split("+")[0] == version for name, version in filter(any, pins)))
PYEOF
then
  log "torch already installed: $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
elif [ -n "$WHEELHOUSE" ]; then
  log "installing torch from the wheelhouse $WHEELHOUSE"
  "${PIP[@]}" "${PIP_SRC[@]}" "${EXTRA[@]}" "${TORCH_PINS[@]}"
elif [ -n "${LAB3_TORCH_INDEX_URL:-}" ]; then
  log "installing the CPU build of torch from LAB3_TORCH_INDEX_URL"
  "${PIP[@]}" --index-url "$LAB3_TORCH_INDEX_URL" "${EXTRA[@]}" "${TORCH_PINS[@]}"
else
  log "WARNING: LAB3_TORCH_INDEX_URL not set: installing torch from the default index (on Linux the CUDA build)"
  "${PIP[@]}" "${EXTRA[@]}" "${TORCH_PINS[@]}"
fi

# 3. the grading requirements (torch pins repeated so pip never swaps the build)
"${PIP[@]}" "${PIP_SRC[@]}" "${EXTRA[@]}" -r "$HERE/requirements.txt" "${TORCH_PINS[@]}"
if [ "$LAB3_WITH_OTTER" = 1 ]; then
  log "installing otter-grader (otter grade image)"
  "${PIP[@]}" "${PIP_SRC[@]}" "${EXTRA[@]}" -r "$HERE/requirements.otter.txt" "${TORCH_PINS[@]}"
fi
"$VENV/bin/python" -c 'import torch; print("[lab3 setup] torch", torch.__version__, "CUDA build:", torch.version.cuda)'

# 4. data (the payload holds lab3.data; otter grade's image build has no payload yet: run_autograder
#    then fetches it at the first grading)
export LAB3_DATA_DIR="${LAB3_DATA_DIR:-$LAB3_HOME/data}"
PAYLOAD="$HERE/files/lab3_autograder"
if [ -n "${LAB3_SKIP_DATA:-}" ]; then
  log "LAB3_SKIP_DATA set: CIFAR-10 not fetched"
elif [ -d "$PAYLOAD" ]; then
  (cd "$PAYLOAD" && PYTHONPATH="$PAYLOAD:$PAYLOAD/assignments" "$VENV/bin/python" -m autograder.cli data --dir "$LAB3_DATA_DIR")
else
  log "no payload yet (otter grade image build): CIFAR-10 will be fetched by run_autograder"
fi

# 5. hidden material: root only; the interpreter: everyone (the sandbox user runs it)
if [ "$(id -u)" = 0 ]; then
  chmod -R go-rwx "$HERE"
  # a reused venv is left as it is (no copy-up of a whole image layer)
  if [ "$NEW_VENV" = 1 ]; then chmod a+rx "$LAB3_HOME"; chmod -R a+rX "$VENV"; fi
  if [ -d "$LAB3_DATA_DIR" ]; then chmod 700 "$LAB3_DATA_DIR"; fi
fi

# 6. the self-test, as students will be graded (hidden material locked, sandbox on): the solution must get
#    every point and the blank stubs 0 on this very image, so a broken image (or one with too little
#    memory) fails when the instructor uploads the zip, not on the first student. LAB3_SKIP_SELFTEST=1 skips it.
if [ -z "${LAB3_SKIP_SELFTEST:-}" ] && [ -d "$PAYLOAD/solutions" ] && [ -z "${LAB3_SKIP_DATA:-}" ]; then
  log "self-test: grading the solution and the blank stubs"
  if ! (cd "$PAYLOAD" && PYTHONPATH="$PAYLOAD:$PAYLOAD/assignments" LAB3_DATA_DIR="$LAB3_DATA_DIR" \
        "$VENV/bin/python" -m autograder.cli selftest --solution-only "$PAYLOAD"); then
    log "SELF-TEST FAILED: this image grades the solution wrongly; fix it before students submit"
    exit 1
  fi
fi

log "done"
