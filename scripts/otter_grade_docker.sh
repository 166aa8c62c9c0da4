#!/usr/bin/env bash
# `otter grade` (Docker) on the Lab 3 autograder zip, on a machine without Docker Hub access, then a
# comparison with `lab3 grade`. Run as root from anywhere:  bash scripts/otter_grade_docker.sh
# The latest output is kept in scripts/otter_grade_docker.out.txt (the script tees into it).
#
# What it prepares (each step is skipped when already done; WORK=/var/tmp/lab3-otter-docker by default):
#   1. docker.io + debootstrap from apt; a private dockerd (overlay2, no iptables, no bridge: containers and
#      builds run with --network none) listening on $WORK/docker.sock;
#   2. a stand-in `docker buildx` CLI plugin (otter builds through python_on_whales, which always calls
#      `docker buildx build --load --iidfile`; Debian's docker.io has no buildx): it answers inspect/ls and
#      forwards `build` to `docker build` (BuildKit, --network none);
#   3. the base image local/lab3-grading-base:bookworm: debootstrap (minbase) + Python 3.11 + /opt/lab3/venv
#      with the pinned torch / torchvision (the zip's requirements.torch.txt; the build on this machine's
#      pip indexes) and the grading and otter requirements installed offline from wheels the host's pip
#      downloads, + CIFAR-10 in /opt/lab3/data. (Containers cannot reach a package index here, so the zip's setup.sh finds
#      everything installed and installs nothing.)
#   4. the autograder zip (as `lab3 build` makes it, plus LAB3_GRADE_ONLY when set) and three submission
#      zips: the solution and the blank stubs in lab3/ layout, the solution without the 1/sqrt(d_k) scale
#      as flat files;
#   5. `otter grade -n lab3 -a autograder.zip --ext zip --image <base> --no-network` on them, and
#      `lab3 grade` on the same submissions: per-question totals must agree.
# Options: LAB3_GRADE_ONLY="tag ..." (default: the full suite), WORK=..., KEEP_DOCKERD=1 (leave it running).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_TXT="$REPO/scripts/otter_grade_docker.out.txt"
if [ -z "${LAB3_TEE:-}" ]; then
  export LAB3_TEE=1
  set +e
  # (addresses in tool output are masked: no package index host names in the repository)
  bash "${BASH_SOURCE[0]}" "$@" 2>&1 | grep --line-buffered -v "is ignored: it is neither a file nor a directory" \
    | sed -u -E "s#[a-zA-Z][a-zA-Z0-9+.-]*://[^ ]+#<url>#g; s#resolving '[^']+'#resolving <host>#g" | tee "$OUT_TXT"
  rc=${PIPESTATUS[0]}
  exit "$rc"
fi

WORK="${WORK:-/var/tmp/lab3-otter-docker}"
PY="$REPO/.venv/bin/python"
OTTER="$REPO/.venv/bin/otter"
BASE_IMAGE="local/lab3-grading-base:bookworm"
export DOCKER_HOST="unix://$WORK/docker.sock"
export DOCKER_CONFIG="$WORK/docker-config"
export PATH="$REPO/.venv/bin:$PATH"
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
t_start=$(date +%s)
mkdir -p "$WORK"
[ "$(id -u)" = 0 ] || { echo "run as root (dockerd, debootstrap, chroot)" >&2; exit 1; }
log "otter grade on Docker: repo $REPO, work $WORK, $(nproc) CPUs"

# 1. Docker engine -----------------------------------------------------------------------------------
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  log "installing docker.io and debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  dockerd --storage-driver=overlay2 --iptables=false --ip6tables=false --bridge=none \
    --data-root "$WORK/docker" --exec-root "$WORK/docker-exec" --pidfile "$WORK/dockerd.pid" \
    --host "$DOCKER_HOST" >"$WORK/dockerd.log" 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 "$WORK/dockerd.log"; exit 1; }
fi
stop_dockerd() {
  if [ -z "${KEEP_DOCKERD:-}" ] && [ -f "$WORK/dockerd.pid" ]; then
    kill "$(cat "$WORK/dockerd.pid")" 2>/dev/null || true
  fi
}
trap stop_dockerd EXIT
log "docker: client $(docker version --format '{{.Client.Version}}'), server $(docker version --format '{{.Server.Version}}')"

# 2. buildx stand-in ---------------------------------------------------------------------------------
mkdir -p "$DOCKER_CONFIG/cli-plugins"
cat >"$DOCKER_CONFIG/cli-plugins/docker-buildx" <<'PLUGIN'
#!/usr/bin/env bash
# Stand-in for `docker buildx` (what otter's python_on_whales calls): forwards build to `docker build`.
if [ "${1:-}" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion":"0.1.0","Vendor":"lab3 stand-in","Version":"v0.0.0","ShortDescription":"buildx stand-in"}'
  exit 0
fi
shift  # "buildx"
cmd="${1:-}"; shift || true
case "$cmd" in
  inspect) printf 'Name:   default\nDriver: docker\n'; exit 0 ;;
  ls) echo '{"Name":"default","Driver":"docker"}'; exit 0 ;;
  version) echo "buildx stand-in v0.0.0"; exit 0 ;;
  build) ;;
  *) echo "buildx stand-in: '$cmd' is not supported" >&2; exit 1 ;;
esac
args=(); net=0
while [ $# -gt 0 ]; do
  case "$1" in
    --load|--push) shift ;;
    --progress|--builder|--metadata-file|--provenance|--sbom) shift 2 ;;
    --progress=*|--builder=*|--metadata-file=*|--provenance=*|--sbom=*) shift ;;
    --network) net=1; args+=("$1" "$2"); shift 2 ;;
    --network=*) net=1; args+=("$1"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done
[ "$net" = 1 ] || args=(--network none "${args[@]}")
DOCKER_BUILDKIT=1 exec /usr/bin/docker build "${args[@]}"
PLUGIN
chmod +x "$DOCKER_CONFIG/cli-plugins/docker-buildx"

# 4a. the autograder zip (its requirements also define the base image) ---------------------------------
AG_ZIP="$WORK/autograder.zip"
"$PY" - "$REPO" "$AG_ZIP" <<'PYEOF'
import os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from autograder.packaging.gradescope import autograder_files, write_zip
settings = {"LAB3_GRADE_ONLY": os.environ["LAB3_GRADE_ONLY"]} if os.environ.get("LAB3_GRADE_ONLY") else {}
p = write_zip(autograder_files(Path(sys.argv[1]), settings=settings), Path(sys.argv[2]))
print(f"autograder zip: {p} ({p.stat().st_size / 1e3:.0f} kB), settings {settings or 'none (full suite)'}")
PYEOF

# 3. base image --------------------------------------------------------------------------------------
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "base image $BASE_IMAGE exists: reused"
else
  t0=$(date +%s)
  ROOTFS="$WORK/rootfs"
  if [ ! -x "$ROOTFS/usr/bin/python3" ]; then
    log "debootstrap bookworm (minbase + Python 3.11 + what otter's Dockerfile installs)"
    rm -rf "$ROOTFS"
    debootstrap --variant=minbase \
      --include=python3,python3-venv,ca-certificates,curl,wget,unzip,dos2unix,passwd,util-linux \
      bookworm "$ROOTFS" >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log"; exit 1; }
    # package lists for the Dockerfile's `apt-get install` (its `apt-get update` cannot reach a mirror)
    chroot "$ROOTFS" apt-get update -qq >/dev/null 2>&1 || log "note: apt-get update in the rootfs failed"
  fi
  IMAGE_PY="$(chroot "$ROOTFS" /usr/bin/python3 -c 'import platform; print(platform.python_version())')"
  log "downloading wheels with the host's pip for the image's Python $IMAGE_PY"
  WHEELS="$WORK/wheels"
  mkdir -p "$WHEELS"
  unzip -o -q -j "$AG_ZIP" requirements.txt requirements.otter.txt requirements.torch.txt -d "$WHEELS"
  "$PY" -m pip download -q -d "$WHEELS" --only-binary=:all: --python-version "$IMAGE_PY" \
    -r "$WHEELS/requirements.torch.txt" -r "$WHEELS/requirements.txt" -r "$WHEELS/requirements.otter.txt"
  log "installing /opt/lab3/venv in the rootfs, offline"
  mkdir -p "$ROOTFS/wheels" "$ROOTFS/proc"
  mount --bind "$WHEELS" "$ROOTFS/wheels"
  mount -t proc proc "$ROOTFS/proc"
  set +e
  chroot "$ROOTFS" /usr/bin/python3 -m venv /opt/lab3/venv && \
  chroot "$ROOTFS" /opt/lab3/venv/bin/python -m pip install -q --no-index --find-links /wheels \
    -r /wheels/requirements.torch.txt -r /wheels/requirements.txt -r /wheels/requirements.otter.txt
  rc=$?
  set -e
  umount "$ROOTFS/proc" "$ROOTFS/wheels"
  [ "$rc" = 0 ] || exit "$rc"
  chmod -R a+rX "$ROOTFS/opt/lab3/venv"
  log "CIFAR-10 into /opt/lab3/data (root only)"
  DATA_SRC="${LAB3_DATA_DIR:-$HOME/.cache/lab3}/cifar10"
  [ -f "$DATA_SRC/SOURCE.txt" ] || "$REPO/.venv/bin/lab3" data
  mkdir -p "$ROOTFS/opt/lab3/data"
  cp -a "$DATA_SRC" "$ROOTFS/opt/lab3/data/"
  chmod 700 "$ROOTFS/opt/lab3/data"
  log "docker import ($(du -sh "$ROOTFS" | cut -f1))"
  tar -C "$ROOTFS" -c . | docker import - "$BASE_IMAGE" >/dev/null
  log "base image ready in $(( $(date +%s) - t0 )) s"
fi
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | sed 's/^/  image /'

# 4b. submissions ------------------------------------------------------------------------------------
SUBS="$WORK/submissions"
rm -rf "$SUBS" && mkdir -p "$SUBS"
"$PY" - "$REPO" "$SUBS" <<'PYEOF'
import sys, zipfile
from pathlib import Path
repo, subs = Path(sys.argv[1]), Path(sys.argv[2])
graded = ("attention", "positional", "transformer", "vit", "transfer", "training", "optim")
for name, src in (("solution", repo / "solutions" / "lab3"), ("stubs", repo / "assignments" / "lab3"),
                  ("buggy", repo / "solutions" / "lab3")):
    with zipfile.ZipFile(subs / f"{name}.zip", "w") as zf:
        for m in graded:
            text = (src / f"{m}.py").read_text()
            if name == "buggy" and m == "attention":
                scaled = "scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)"
                assert scaled in text
                text = text.replace(scaled, "scores = q @ k.transpose(-2, -1)")
            # the buggy one is a flat upload (run_autograder puts its modules in lab3/ for otter)
            zf.writestr(f"{m}.py" if name == "buggy" else f"lab3/{m}.py", text)
print("submissions:", ", ".join(sorted(p.name for p in subs.iterdir())))
PYEOF

# 5. otter grade, then lab3 grade --------------------------------------------------------------------
OUT="$WORK/otter-out"
rm -rf "$OUT" && mkdir -p "$OUT"
log "otter grade (image build + one container per submission)"
t0=$(date +%s)
"$OTTER" grade -n lab3 -a "$AG_ZIP" --ext zip --image "$BASE_IMAGE" --no-network --containers 1 \
  --timeout 900 --summaries -o "$OUT" "$SUBS"
log "otter grade took $(( $(date +%s) - t0 )) s for 3 submissions"
log "lab3 grade on the same submissions"
REF="$WORK/lab3-out"
rm -rf "$REF" && mkdir -p "$REF"
for name in solution stubs buggy; do
  # shellcheck disable=SC2086
  (cd "$REPO" && "$REPO/.venv/bin/lab3" grade "$SUBS/$name.zip" --out "$REF/$name" \
     ${LAB3_GRADE_ONLY:+--only $LAB3_GRADE_ONLY} >/dev/null)
done
"$PY" - "$OUT/final_grades.csv" "$REF" <<'PYEOF'
import csv, json, sys
from pathlib import Path
rows = {Path(r["file"]).stem: r for r in csv.DictReader(open(sys.argv[1]))}
ok = True
print(f"{'submission':<10} {'question':<8} {'otter grade':>11} {'lab3 grade':>10}")
for name in ("solution", "stubs", "buggy"):
    print(f"{name:<10} otter grading status: {rows[name].get('grading_status')}")
    res = json.loads((Path(sys.argv[2]) / name / "results.json").read_text())
    for q in ("ex1", "ex2", "ex3"):
        want = sum(t["score"] for t in res["tests"] if q in t["tags"])
        if q not in rows[name]:
            continue
        got = float(rows[name][q])
        same = abs(got - want) < 1e-6
        ok &= same
        print(f"{name:<10} {q:<8} {got:>11g} {want:>10g}  {'same' if same else 'DIFFERENT'}")
print("otter grade == lab3 grade:", "yes" if ok else "NO")
sys.exit(0 if ok else 1)
PYEOF
log "done in $(( $(date +%s) - t_start )) s"
