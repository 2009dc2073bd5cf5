#!/usr/bin/env bash
# What authentication costs per request: manifest GETs anonymous (auth off and on), with a
# bearer token, with Basic credentials, and token issuance per second. Saves the table under
# bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sherpack-registry/target}"
cargo build --release -q -p sherpack-registry
cargo build --release -q -p sherpack-test-support --example auth_bench
out="bench/results/auth-$(date -u +%Y%m%d-%H%M%S).md"
{
  echo "# Auth benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${BENCH_SECONDS:-5} s per load point"
  echo
  "$CARGO_TARGET_DIR/release/examples/auth_bench"
} | tee "$out"
echo "saved $out"
