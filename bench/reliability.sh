#!/usr/bin/env bash
# Reliability under failure (not a timed test): two replicas on a private Postgres cluster and
# the S3-compatible server (moto); kill -9 of a replica during 100 concurrent pushes, Postgres
# stopped for 10 s and the S3 server frozen for 10 s under load. Saves the table under
# bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sherpack-registry/target}"
export SHERPACK_TOOLS_DIR="${SHERPACK_TOOLS_DIR:-$HOME/.cache/sherpack-registry/tools}"
./scripts/install-clients.sh "$SHERPACK_TOOLS_DIR" >/dev/null
dpkg -s postgresql >/dev/null 2>&1 || apt-get install -y -qq postgresql >/dev/null
WORK="$(mktemp -d)"
chmod 755 "$WORK"  # the postgres user keeps its cluster in here
PIDS=()
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
export PG_DATA="$WORK/pg" PG_PORT="$(free_port)"
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
install -d -o postgres -g postgres "$PG_DATA"
runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust >/dev/null
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DATA" start >/dev/null
export SHERPACK_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
S3_PORT="$(free_port)"
"$SHERPACK_TOOLS_DIR/venv/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" >"$WORK/moto.log" 2>&1 &
export SHERPACK_TEST_S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
PIDS+=("$!")
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$S3_PORT") 2>/dev/null && break; sleep 0.1; done
cargo build --release -q -p sherpack-registry
cargo build --release -q -p sherpack-test-support --example reliability_bench
out="bench/results/reliability-$(date -u +%Y%m%d-%H%M%S).md"
{
  echo "# Reliability under failure, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, two replicas on Postgres $("$PG_BIN/postgres" --version | awk '{print $3}') + moto (S3)"
  echo
  "$CARGO_TARGET_DIR/release/examples/reliability_bench"
} | tee "$out"
echo "saved $out"
