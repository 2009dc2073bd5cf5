#!/usr/bin/env bash
# Helm index at scale: 10,000 charts × 10 versions in one namespace (INDEX_CHARTS,
# INDEX_VERSIONS to change it): cached index.yaml/index.json latency, push-to-index time,
# server memory, and `helm repo index` over the same number of files; nginx serves the same
# index bytes as static files beside ours. Saves the table under
# bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sherpack-registry/target}"
export SHERPACK_TOOLS_DIR="${SHERPACK_TOOLS_DIR:-$HOME/.cache/sherpack-registry/tools}"
./scripts/install-clients.sh "$SHERPACK_TOOLS_DIR" >/dev/null
# nginx: the static-file reference the index is served beside.
dpkg -s nginx-light >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null; }
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
cargo build --release -q -p sherpack-registry
cargo build --release -q -p sherpack-test-support --example index_bench
out="bench/results/index-$(date -u +%Y%m%d-%H%M%S).md"
{
  echo "# Helm index benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${BENCH_SECONDS:-5} s per load point"
  echo
  "$CARGO_TARGET_DIR/release/examples/index_bench"
} | tee "$out"
echo "saved $out"
