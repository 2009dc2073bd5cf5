#!/usr/bin/env bash
# `sherpack-registry import --from-helm-repo` of 1,000 chart versions (~50 KiB each) from a
# static repository on this machine against `helm pull` + `helm push` in a loop (measured on a
# sample, extrapolated): versions per second and peak RSS (IMPORT_VERSIONS, IMPORT_LOOP_SAMPLE
# to change). Saves the table under bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sherpack-registry/target}"
export SHERPACK_TOOLS_DIR="${SHERPACK_TOOLS_DIR:-$HOME/.cache/sherpack-registry/tools}"
./scripts/install-clients.sh "$SHERPACK_TOOLS_DIR" >/dev/null
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
cargo build --release -q -p sherpack-registry
cargo build --release -q -p sherpack-test-support --example import_bench
out="bench/results/import-$(date -u +%Y%m%d-%H%M%S).md"
{
  echo "# Import benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
  echo
  "$CARGO_TARGET_DIR/release/examples/import_bench"
} | tee "$out"
echo "saved $out"
