#!/usr/bin/env bash
# The sherpack CLI against helm 4 on the same work, against our server: push and pull of the
# same chart file (small and 8 MiB), and dependency resolution for a chart with 20
# dependencies in a namespace of 10,000 packs (CLI_PACKS, CLI_RUNS to change). Saves the table
# under bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sherpack-registry/target}"
export SHERPACK_TOOLS_DIR="${SHERPACK_TOOLS_DIR:-$HOME/.cache/sherpack-registry/tools}"
./scripts/install-clients.sh "$SHERPACK_TOOLS_DIR" >/dev/null
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
cargo build --release -q -p sherpack-registry -p sherpack
cargo build --release -q -p sherpack-test-support --example cli_bench
out="bench/results/cli-$(date -u +%Y%m%d-%H%M%S).md"
{
  echo "# sherpack CLI vs helm, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $("$SHERPACK_TOOLS_DIR/bin/helm" version --short)"
  echo
  "$CARGO_TARGET_DIR/release/examples/cli_bench"
} | tee "$out"
echo "saved $out"
