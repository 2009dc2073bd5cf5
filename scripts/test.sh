#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine with Rust.
#
# - Postgres: uses $DATABASE_URL, or 127.0.0.1:5432 when something answers there; otherwise
#   (or with SHERPACK_TEST_OWN_POSTGRES=1) installs Debian's postgresql if missing and starts
#   a throwaway cluster on a free port.
# - Clients: installs helm 4 and 3, the ORAS SDK, skopeo and docker-registry (install-clients.sh).
# - S3: starts a real S3-compatible server (moto, from PyPI, in the clients' venv) on a free port.
# - Docker: installs Debian's docker.io and starts dockerd when no engine answers, then the
#   Docker tests (the image and the compose stack, tests/tests/container.rs) run; without a
#   usable engine they are skipped, and the run says why and counts them in its closing line.
# - Builds the workspace and runs every test; stops what it started on exit.
#
# Caches (clients, cargo target dir) live under ~/.cache/sherpack-registry, outside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${SHERPACK_CACHE_DIR:-$HOME/.cache/sherpack-registry}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
export DEBIAN_FRONTEND=noninteractive
WORK="$(mktemp -d)"
chmod 755 "$WORK"  # a throwaway Postgres cluster runs as the postgres user inside it
PIDS=()
PG_DATA=""
DOCKERD_MARK="$CACHE/dockerd.pid"  # a dockerd some run of this script started

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$PG_DATA" ]; then runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true; fi
  # dockerd started by a run of this script stops with the last run that uses it (each run
  # holds a shared lock on fd 8 while it does).
  if [ -s "$DOCKERD_MARK" ] && { exec 8>>"$CACHE/dockerd.lock"; flock -xn 8; }; then
    local pid; pid="$(cat "$DOCKERD_MARK")"
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    rm -f "$DOCKERD_MARK"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '==> %s\n' "$*"; }

APT_UPDATED=""
apt_install() {  # installs the Debian packages that are missing
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  if [ -z "$APT_UPDATED" ]; then apt-get update -qq; APT_UPDATED=1; fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_for_port() {  # host port what
  for _ in $(seq 1 300); do port_open "$1" "$2" && return 0; sleep 0.1; done
  echo "error: $3 did not start on $1:$2" >&2; return 1
}

apt_install openssl ca-certificates python3 python3-venv

# --- Postgres -----------------------------------------------------------------------------
if [ -n "${DATABASE_URL:-}" ]; then
  export SHERPACK_TEST_POSTGRES_URL="$DATABASE_URL"
  log "Postgres: using DATABASE_URL"
elif [ -z "${SHERPACK_TEST_OWN_POSTGRES:-}" ] && port_open 127.0.0.1 5432; then
  export SHERPACK_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/postgres"
  log "Postgres: using the server at 127.0.0.1:5432"
else
  apt_install postgresql
  PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  PG_DATA="$WORK/pg"
  PG_PORT="$(free_port)"
  install -d -o postgres -g postgres "$PG_DATA"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust >/dev/null
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DATA -c fsync=off" start >/dev/null
  export SHERPACK_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  log "Postgres: started a throwaway cluster on 127.0.0.1:$PG_PORT"
fi

# --- Clients: helm 4 and 3, ORAS SDK + moto (venv), skopeo, docker-registry ----------------
export SHERPACK_TOOLS_DIR="${SHERPACK_TOOLS_DIR:-$CACHE/tools}"
log "clients: $(./scripts/install-clients.sh "$SHERPACK_TOOLS_DIR" | tail -n 1)"
VENV="$SHERPACK_TOOLS_DIR/venv"

# --- S3-compatible server (moto) ----------------------------------------------------------
S3_PORT="$(free_port)"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
wait_for_port 127.0.0.1 "$S3_PORT" "the S3-compatible server"
export SHERPACK_TEST_S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
log "S3: moto on $SHERPACK_TEST_S3_ENDPOINT"

# --- Docker: the image and compose stack tests ----------------------------------------------
# A client that builds with BuildKit: Docker 23+ clients need the buildx plugin for it; the
# client of Debian's docker.io package has it built in.
DOCKER=docker
if ! docker buildx version >/dev/null 2>&1 && [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; fi
DOCKER_SKIP=""
mkdir -p "$CACHE"
exec 8>>"$CACHE/dockerd.lock"
flock -s 8
if ! "$DOCKER" info >/dev/null 2>&1; then
  if ! apt_install docker.io debootstrap; then
    DOCKER_SKIP="Debian's docker.io package could not be installed"
  else
    [ -x /usr/bin/docker ] && ! docker buildx version >/dev/null 2>&1 && DOCKER=/usr/bin/docker
    log "Docker: starting dockerd"
    dockerd >"$CACHE/dockerd.log" 2>&1 8>&- &  # without the lock: it must not hold it
    echo $! >"$DOCKERD_MARK"
    for _ in $(seq 1 120); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 0.5; done
    if ! "$DOCKER" info >/dev/null 2>&1; then
      DOCKER_SKIP="dockerd did not start: $(tail -n 1 "$CACHE/dockerd.log")"
    fi
  fi
fi
if [ -z "$DOCKER_SKIP" ]; then
  apt_install debootstrap
  export SHERPACK_DOCKER="$DOCKER" DOCKER_BUILDKIT=1
  log "Docker: $("$DOCKER" version --format 'engine {{.Server.Version}}, client {{.Client.Version}}')"
  # Make the base images and build the Dockerfile while the workspace builds, to fill BuildKit's
  # cache: the Docker tests build it again (then in seconds) and tag it, under their own lock,
  # so a run beside this one never swaps the image under them.
  prebuild="sherpack-registry:prebuild-$$"
  (./scripts/docker-bases.sh && "$DOCKER" build -q -t "$prebuild" . >/dev/null && "$DOCKER" rmi "$prebuild" >/dev/null) \
    >"$WORK/docker-build.log" 2>&1 &
  PIDS+=($!)
else
  log "Docker: SKIPPING the Docker tests: $DOCKER_SKIP"
fi

# --- Build and test -----------------------------------------------------------------------
log "building (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
cargo build --workspace --all-targets --locked
log "testing"
set +e
# Only the Docker tests are #[ignore]d: included when an engine is usable.
INCLUDE=()
[ -z "$DOCKER_SKIP" ] && INCLUDE=(-- --include-ignored)
cargo test --workspace --locked --no-fail-fast "${INCLUDE[@]}" 2>&1 | tee "$WORK/test.log"
status=${PIPESTATUS[0]}
set -e
if [ -z "$DOCKER_SKIP" ]; then
  # Keep BuildKit's cache (the compiled dependencies among it) from growing without bound.
  "$DOCKER" builder prune -f --keep-storage 5GB >/dev/null 2>&1 || true
else
  log "skipped: the Docker tests (tests/tests/container.rs): $DOCKER_SKIP"
fi
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$WORK/test.log"
exit "$status"
