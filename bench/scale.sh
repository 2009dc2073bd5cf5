#!/usr/bin/env bash
# The registry as it grows (SCALE_SIZES pack versions, default 10000,100000; 1000000 needs
# about 9 GiB of Postgres and half an hour): each size generated through the store's own
# write path into a fresh Postgres database, then start time (from the database alone and on
# the server's persisted state), memory, every view's latency, push → visible, and garbage
# collection of GC_BLOBS unreferenced blobs on S3 (moto) with pushes going on. Needs
# SHERPACK_TEST_POSTGRES_URL and SHERPACK_TEST_S3_ENDPOINT (scripts/test.sh sets them up).
# Databases and data directories are removed afterwards. Saves the table under bench/results/.
# On a shared machine, HEAVY_LOCK names a lock file (flock) that builds and every measured
# phase hold; generation runs outside it, beside other work, and the table says so.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sherpack-registry/target}"
locked=()
if [ -n "${HEAVY_LOCK:-}" ]; then locked=(flock "$HEAVY_LOCK"); fi
"${locked[@]}" cargo build --release -q -p sherpack-registry
"${locked[@]}" cargo build --release -q -p sherpack-test-support --example scale_bench
out="bench/results/scale-$(date -u +%Y%m%d-%H%M%S).md"
{
  echo "# Scale benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, Postgres + filesystem storage"
  echo
  "$CARGO_TARGET_DIR/release/examples/scale_bench"
} | tee "$out"
echo "saved $out"
