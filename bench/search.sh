#!/usr/bin/env bash
# Search at scale: 10,000 packs × 10 versions (SEARCH_PACKS, SEARCH_VERSIONS to change it):
# index build from scratch, size on disk, query latency at c=1 and c=16 for one-word,
# several-word, prefix and typo queries, push-to-searchable time, server memory. Saves the
# table under bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sherpack-registry/target}"
cargo build --release -q -p sherpack-registry
cargo build --release -q -p sherpack-test-support --example search_bench
out="bench/results/search-$(date -u +%Y%m%d-%H%M%S).md"
{
  echo "# Search benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${BENCH_SECONDS:-5} s per load point"
  echo
  "$CARGO_TARGET_DIR/release/examples/search_bench"
} | tee "$out"
echo "saved $out"
