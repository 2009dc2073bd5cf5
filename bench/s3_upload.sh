#!/usr/bin/env bash
# A 1 GiB blob uploaded to the registry on S3 (a moto server of its own), monolithic and chunked
# (64 MiB PATCHes), each on a fresh server: MiB/s and the server's peak RSS. Prints a Markdown
# table and saves it under bench/results/ (LABEL, e.g. "before" or "after", goes in its name).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sherpack-registry/target}"
export SHERPACK_TOOLS_DIR="${SHERPACK_TOOLS_DIR:-$HOME/.cache/sherpack-registry/tools}"
LABEL="${LABEL:-}"
# PROFILE=dev measures debug builds (when a release build of two revisions is too costly).
PROFILE="${PROFILE:-release}"
DIR="$([ "$PROFILE" = dev ] && echo debug || echo release)"
MOTO=""
trap '[ -n "$MOTO" ] && kill $MOTO 2>/dev/null' EXIT

cargo build --profile "$PROFILE" -q -p sherpack-registry
cargo build --profile "$PROFILE" -q -p sherpack-test-support --example s3_upload_bench
VENV="$SHERPACK_TOOLS_DIR/venv"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >/dev/null 2>&1 & MOTO=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

out="bench/results/s3-upload-$(date -u +%Y%m%d-%H%M%S)${LABEL:+-$LABEL}.md"
{
  echo "# Upload to S3 (moto), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(git rev-parse --short HEAD)${LABEL:+ ($LABEL)}, $PROFILE build, load average $(cut -d' ' -f1 /proc/loadavg) at start"
  echo
  SHERPACK_TEST_S3_ENDPOINT="http://127.0.0.1:$PORT" "$CARGO_TARGET_DIR/$DIR/examples/s3_upload_bench"
} | tee "$out"
echo "saved $out"
