#!/usr/bin/env bash
# Peak RSS while a 1 GiB blob is streamed into the blob store and read back (target: < 64 MiB),
# on the local filesystem and on a real S3-compatible server (moto). Prints a Markdown table and
# saves it under bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sherpack-registry/target}"
SIZE_MIB="${SIZE_MIB:-1024}"
WORK="$(mktemp -d)"; MOTO=""
trap '[ -n "$MOTO" ] && kill $MOTO 2>/dev/null; rm -rf "$WORK"' EXIT

cargo build --release -q -p registry-store --example blob_rss
BIN="$CARGO_TARGET_DIR/release/examples/blob_rss"

out="bench/results/blob-rss-$(date -u +%Y%m%d-%H%M%S).md"
{
  echo "# Blob store peak RSS, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
  echo
  echo "| storage | blob | write | read | RSS before | peak RSS |"
  echo "|---|---|---|---|---|---|"
  "$BIN" "file://$WORK/blobs" "$SIZE_MIB"
  VENV="${SHERPACK_TOOLS_DIR:-${SHERPACK_CACHE_DIR:-$HOME/.cache/sherpack-registry}/tools}/venv"
  if [ -x "$VENV/bin/moto_server" ]; then
    PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >/dev/null 2>&1 & MOTO=$!
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
    python3 -c "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:$PORT/bench', method='PUT'))"
    SHERPACK_REGISTRY_S3__ENDPOINT="http://127.0.0.1:$PORT" SHERPACK_REGISTRY_S3__REGION=us-east-1 \
    SHERPACK_REGISTRY_S3__ACCESS_KEY_ID=test SHERPACK_REGISTRY_S3__SECRET_ACCESS_KEY=test \
    SHERPACK_REGISTRY_S3__PATH_STYLE=true "$BIN" "s3://bench/registry" "$SIZE_MIB"
  fi
} | tee "$out"
echo "saved $out"
