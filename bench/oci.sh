#!/usr/bin/env bash
# OCI benchmark against CNCF distribution 2.8 (Debian's docker-registry), same machine, same
# run: manifest GETs at concurrency 1/16/64, 100 MiB blob GET and upload, 500 small uploads,
# helm push + pull, peak RSS (and while 1 GiB goes through), start-up time. Both servers log at
# warn/error. Saves the table under bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sherpack-registry/target}"
export SHERPACK_TOOLS_DIR="${SHERPACK_TOOLS_DIR:-$HOME/.cache/sherpack-registry/tools}"
./scripts/install-clients.sh "$SHERPACK_TOOLS_DIR" >/dev/null
cargo build --release -q -p sherpack-registry
cargo build --release -q -p sherpack-test-support --example oci_bench
out="bench/results/oci-$(date -u +%Y%m%d-%H%M%S).md"
{
  echo "# OCI benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${BENCH_SECONDS:-5} s per load point"
  echo
  "$CARGO_TARGET_DIR/release/examples/oci_bench"
} | tee "$out"
echo "saved $out"
