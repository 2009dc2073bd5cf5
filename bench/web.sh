#!/usr/bin/env bash
# Web UI rendering: home, search and every view of a pack as large as real charts (README,
# 2,000+ lines of values, a large schema, templates, versions; p50/p99 at concurrency 1 and
# 16), the bytes each page ships, CSS + JS in total. Saves the table under bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sherpack-registry/target}"
cargo build --release -q -p sherpack-registry
cargo build --release -q -p sherpack-test-support --example web_bench
out="bench/results/web-$(date -u +%Y%m%d-%H%M%S).md"
{
  echo "# Web UI benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${BENCH_SECONDS:-5} s per load point"
  echo
  "$CARGO_TARGET_DIR/release/examples/web_bench"
} | tee "$out"
echo "saved $out"
