#!/usr/bin/env bash
# The autograder image in a Docker container at given --memory values, as a Gradescope assignment runs it
# (Gradescope's default is 768 MB): per value the exit code of /autograder/run_autograder, the score in
# /autograder/results/results.json, the container cgroup's peak memory, OOM kills and the wall time.
#
#   bash scripts/otter_grade_docker.sh                      # once: dockerd, base image, otter-grade:lab3
#   bash benchmarks/bench_container_memory.sh [M ...]       # as root; M: none | 1g | 768m | ... (default:
#                                                           # none 1g 768m 704m)
# The latest output is kept in benchmarks/bench_container_memory.out.txt (the script tees into it).
#
# It reuses what scripts/otter_grade_docker.sh leaves in WORK (default /var/tmp/lab3-otter-docker): the
# private dockerd on $WORK/docker.sock (started here from $WORK/docker when it is not running, and stopped
# again at the end unless KEEP_DOCKERD=1) and the image otter grade built (IMAGE, default otter-grade:lab3:
# the zip's files in /autograder/source, setup.sh already run, /autograder/run_autograder). When the
# engine or the image is missing it says so and exits 2.
#
# Per value: ONE container, `--network none`, `--memory M --memory-swap M` (no flag for none), the
# submission (SUBMISSION, default examples/submissions/solution, a folder or a zip) zipped and unpacked into
# /autograder/submission as Gradescope does with an upload, then `/autograder/run_autograder` (direct mode:
# no otter results.pkl, nothing set in the environment; LAB3_MIN_MEMORY_MB is passed on when set here,
# e.g. LAB3_MIN_MEMORY_MB=0 to go below the grader's own minimum). Peak memory: the container's memory
# cgroup, read inside it when run_autograder returns (cgroup v1 memory.max_usage_in_bytes: every process,
# page cache included, what the kernel compares with the limit; cgroup v2 memory.peak), and the largest
# anonymous memory (total_rss / anon of memory.stat) polled from the host every 0.5 s. OOM: the kernel's
# oom_kill count of that cgroup (memory.oom_control / memory.events), memory.failcnt (times the limit was
# hit; stays 0 on some kernels, e.g. 6.18 with cgroup v1) and docker's State.OOMKilled; major faults
# (memory.stat pgmajfault: file pages read back from disk, the sign of thrashing under the limit). A score
# is only a score when the exit code is 0. A peak equal to the limit means the kernel reclaimed there.
# Page cache: a file page counts against the cgroup that first reads it, so a container whose torch
# libraries are already cached (read by an earlier run) is charged less than one on a fresh grading
# machine. By default the host's page cache is dropped before each run (sync; drop_caches: every run
# starts cold, in any order); DROP_CACHES=0 keeps it.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_TXT="$REPO/benchmarks/bench_container_memory.out.txt"
if [ -z "${LAB3_BENCH_TEE:-}" ]; then
  export LAB3_BENCH_TEE=1
  set +e
  # (addresses in tool output are masked: no package index host names in the repository)
  bash "${BASH_SOURCE[0]}" "$@" 2>&1 | sed -u -E "s#[a-zA-Z][a-zA-Z0-9+.-]*://[^ ]+#<url>#g" | tee "$OUT_TXT"
  exit "${PIPESTATUS[0]}"
fi

WORK="${WORK:-/var/tmp/lab3-otter-docker}"
IMAGE="${IMAGE:-otter-grade:lab3}"
SUBMISSION="${SUBMISSION:-$REPO/examples/submissions/solution}"
PY="$REPO/.venv/bin/python"
DROP_CACHES="${DROP_CACHES:-1}"
KEEP="$WORK/bench_container_memory"  # per value: results.json and run_autograder's output (bench_run.log)
export DOCKER_HOST="unix://$WORK/docker.sock"
export DOCKER_CONFIG="$WORK/docker-config"
MEMS=("$@")
[ ${#MEMS[@]} -gt 0 ] || MEMS=(none 1g 768m 704m)
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
[ "$(id -u)" = 0 ] || { echo "run as root (the private dockerd, cgroups)" >&2; exit 1; }

# the engine and the image --------------------------------------------------------------------------
STARTED_DOCKERD=""
if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null || [ ! -d "$WORK/docker" ]; then
    echo "no Docker engine on $DOCKER_HOST and none prepared in $WORK: run" \
         "'KEEP_DOCKERD=1 bash scripts/otter_grade_docker.sh' first" >&2
    exit 2
  fi
  log "starting the private dockerd of scripts/otter_grade_docker.sh ($WORK)"
  dockerd --storage-driver=overlay2 --iptables=false --ip6tables=false --bridge=none \
    --data-root "$WORK/docker" --exec-root "$WORK/docker-exec" --pidfile "$WORK/dockerd.pid" \
    --host "$DOCKER_HOST" >>"$WORK/dockerd.log" 2>&1 &
  STARTED_DOCKERD=1
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 "$WORK/dockerd.log"; exit 2; }
fi
TMP="$(mktemp -d)"
CONTAINER=""
cleanup() {
  [ -n "$CONTAINER" ] && docker rm -f "$CONTAINER" >/dev/null 2>&1
  rm -rf "$TMP"
  if [ -n "$STARTED_DOCKERD" ] && [ -z "${KEEP_DOCKERD:-}" ] && [ -f "$WORK/dockerd.pid" ]; then
    kill "$(cat "$WORK/dockerd.pid")" 2>/dev/null || true
  fi
}
trap cleanup EXIT
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "image $IMAGE not found: run 'KEEP_DOCKERD=1 bash scripts/otter_grade_docker.sh' first" >&2
  exit 2
fi
[ -e "$SUBMISSION" ] || { echo "submission $SUBMISSION not found" >&2; exit 2; }
CGV=$([ -f /sys/fs/cgroup/cgroup.controllers ] && echo v2 || echo v1)
log "image $IMAGE ($(docker image inspect "$IMAGE" --format '{{.Created}}' | cut -c1-19)), docker server" \
    "$(docker version --format '{{.Server.Version}}'), cgroup $CGV, kernel $(uname -r), $(nproc) CPUs," \
    "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM"

# the submission as Gradescope gives it: the upload (a zip) unpacked into /autograder/submission -------
mkdir -p "$TMP/submission"
"$PY" - "$SUBMISSION" "$TMP/upload.zip" "$TMP/submission" <<'PYEOF'
import sys, zipfile
from pathlib import Path
src, upload, dest = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
if src.is_dir():
    with zipfile.ZipFile(upload, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                zf.write(p, p.relative_to(src).as_posix())
else:
    upload = src
with zipfile.ZipFile(upload) as zf:
    zf.extractall(dest)
    print("submission:", sys.argv[1], "->", ", ".join(zf.namelist()))
PYEOF

# inside the container: run_autograder, then the cgroup's own counters (its shell survives an OOM kill of
# the grader: the kernel picks the largest process)
# shellcheck disable=SC2016
INNER='/autograder/run_autograder > /autograder/results/bench_run.log 2>&1; rc=$?
if [ -f /sys/fs/cgroup/memory.peak ]; then
  peak=$(cat /sys/fs/cgroup/memory.peak); fail=$(awk "/^max /{print \$2}" /sys/fs/cgroup/memory.events)
  oom=$(awk "/^oom_kill /{print \$2}" /sys/fs/cgroup/memory.events)
  majf=$(awk "/^pgmajfault /{print \$2}" /sys/fs/cgroup/memory.stat)
else
  cg=/sys/fs/cgroup/memory; peak=$(cat $cg/memory.max_usage_in_bytes); fail=$(cat $cg/memory.failcnt)
  oom=$(awk "/^oom_kill /{print \$2}" $cg/memory.oom_control)
  majf=$(awk "/^total_pgmajfault /{print \$2}" $cg/memory.stat)
fi
echo "BENCH rc=$rc peak=$peak failcnt=$fail oom_kill=${oom:-?} majfault=${majf:-?}"
exit $rc'

# host side: the container's cgroup, polled for its largest anonymous memory and peak (a fallback for the
# in-container read) until the container stops
poll() {
  local pid="$1" out="$2" rel dir anon maxanon=0 peak=0 v
  if [ "$CGV" = v2 ]; then rel=$(awk -F: '$1 == "0" {print $3}' "/proc/$pid/cgroup"); dir="/sys/fs/cgroup$rel"
  else
    rel=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' "/proc/$pid/cgroup"); dir="/sys/fs/cgroup/memory$rel"
  fi
  echo "cgroup $dir" >"$out.dir"
  while [ -d "/proc/$pid" ] && [ -d "$dir" ]; do
    if [ "$CGV" = v2 ]; then
      anon=$(awk '$1 == "anon" {print $2}' "$dir/memory.stat" 2>/dev/null || true)
      v=$(cat "$dir/memory.peak" 2>/dev/null || true)
    else
      anon=$(awk '$1 == "total_rss" {print $2}' "$dir/memory.stat" 2>/dev/null || true)
      v=$(cat "$dir/memory.max_usage_in_bytes" 2>/dev/null || true)
    fi
    [ -n "$anon" ] && [ "$anon" -gt "$maxanon" ] && maxanon=$anon
    [ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
    echo "$maxanon $peak" >"$out"
    sleep 0.5
  done
}

mib() { if [[ "${1:-}" =~ ^[0-9]+$ ]]; then echo "$(( $1 / 1048576 ))"; else echo "?"; fi; }
ROWS=()
i=0
for M in "${MEMS[@]}"; do
  i=$((i + 1))
  limit=()
  [ "$M" = none ] || limit=(--memory "$M" --memory-swap "$M")
  envs=()
  [ -z "${LAB3_MIN_MEMORY_MB:-}" ] || envs=(-e "LAB3_MIN_MEMORY_MB=$LAB3_MIN_MEMORY_MB")
  CONTAINER="lab3-bench-mem-$$-$i"
  docker create --name "$CONTAINER" --network none "${limit[@]}" "${envs[@]}" "$IMAGE" \
    bash -c "$INNER" >/dev/null
  docker cp "$TMP/submission/." "$CONTAINER:/autograder/submission/"
  log "--memory $M: running /autograder/run_autograder in $CONTAINER"
  if [ "$DROP_CACHES" = 1 ]; then sync; echo 3 >/proc/sys/vm/drop_caches; fi
  t0=$(date +%s.%N)
  docker start "$CONTAINER" >/dev/null
  pid=$(docker inspect --format '{{.State.Pid}}' "$CONTAINER")
  poll_out="$TMP/poll.$i"
  echo "0 0" >"$poll_out"
  if [ "$pid" != 0 ]; then poll "$pid" "$poll_out" & poll_pid=$!; else poll_pid=""; fi
  rc=$(docker wait "$CONTAINER")
  wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}')
  [ -z "$poll_pid" ] || wait "$poll_pid" || true
  read -r anon_peak host_peak <"$poll_out"
  bench=$(docker logs "$CONTAINER" 2>&1 | grep '^BENCH ' | tail -1 || true)
  inner_peak=$(sed -n 's/.* peak=\([0-9]*\).*/\1/p' <<<"$bench")
  failcnt=$(sed -n 's/.* failcnt=\([0-9?]*\).*/\1/p' <<<"$bench")
  oomk=$(sed -n 's/.* oom_kill=\([0-9?]*\).*/\1/p' <<<"$bench")
  majf=$(sed -n 's/.* majfault=\([0-9?]*\).*/\1/p' <<<"$bench")
  oomd=$(docker inspect --format '{{.State.OOMKilled}}' "$CONTAINER")
  rm -f "$TMP/results.json" "$TMP/bench_run.log"
  docker cp "$CONTAINER:/autograder/results/bench_run.log" "$TMP/bench_run.log" >/dev/null 2>&1 || true
  if docker cp "$CONTAINER:/autograder/results/results.json" "$TMP/results.json" >/dev/null 2>&1; then
    score=$("$PY" - "$TMP/results.json" 2>"$TMP/lost.txt" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
tests = r.get("tests", [])
got = r.get("score", sum(t.get("score", 0) for t in tests))
print(f"{got:g}/{sum(t.get('max_score', 0) for t in tests):g}")
for t in tests:  # points lost: on stderr, shown below the run's line
    if t.get("score", 0) < t.get("max_score", 0):
        out = " ".join(str(t.get("output", "")).split())[:300]
        print(f"    lost {t['max_score'] - t['score']:g}: {t.get('name')}: {out}", file=sys.stderr)
PYEOF
)
  else
    score="no results.json"
  fi
  rm -rf "${KEEP:?}/$M" && mkdir -p "$KEEP/$M"
  cp "$TMP/results.json" "$TMP/bench_run.log" "$KEEP/$M/" 2>/dev/null || true
  peak=${inner_peak:-$host_peak}
  src=$([ -n "$inner_peak" ] && echo in || echo host)
  echo "  exit $rc, score $score, peak $(mib "$peak") MiB ($src), anon peak $(mib "$anon_peak") MiB," \
       "failcnt ${failcnt:-?}, oom_kill ${oomk:-?}, OOMKilled $oomd, major faults ${majf:-?}, ${wall} s;" \
       "$(cat "$poll_out.dir" 2>/dev/null)"
  cat "$TMP/lost.txt" 2>/dev/null || true
  rm -f "$TMP/lost.txt"
  if [ "$rc" != 0 ] && [ -f "$TMP/bench_run.log" ]; then
    echo "  run_autograder's output (last 15 lines):"
    tail -15 "$TMP/bench_run.log" | sed 's/^/    /'
  fi
  ROWS+=("$(printf '%-7s %4s  %-16s %9s %9s %8s %8s %9s %9s %6s' "$M" "$rc" "$score" "$(mib "$peak")" \
    "$(mib "$anon_peak")" "${failcnt:-?}" "${oomk:-?}" "$oomd" "${majf:-?}" "$wall")")
  docker rm -f "$CONTAINER" >/dev/null
  CONTAINER=""
done

echo
echo "autograder image $IMAGE, submission $(basename "$SUBMISSION"), --network none, --memory-swap = --memory"
printf '%-7s %4s  %-16s %9s %9s %8s %8s %9s %9s %6s\n' memory exit score "peak MiB" "anon MiB" failcnt \
  oom_kill OOMKilled majfault "wall s"
printf '%s\n' "${ROWS[@]}"
echo "(peak: the container cgroup's max usage, page cache included; anon: largest total_rss polled every" \
     "0.5 s; oom_kill: the cgroup's kernel OOM kills; OOMKilled: docker's flag;" \
     "majfault: the cgroup's major page faults, pages read back from disk, e.g. library code reclaimed" \
     "under the limit)"
