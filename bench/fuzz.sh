#!/usr/bin/env bash
# Long fuzzing run of the untrusted-input parsers (names, references and digests, OCI paths,
# manifests): FUZZ_TOTAL_SECONDS (default 600) split across the four properties, in release
# mode. Saves the report under bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sherpack-registry/target}"
TOTAL="${FUZZ_TOTAL_SECONDS:-600}"
export FUZZ_SECONDS=$((TOTAL / 4))
out="bench/results/fuzz-$(date -u +%Y%m%d-%H%M%S).md"
started=$(date +%s)
log="$(mktemp)"
cargo test --release -q -p sherpack-registry --test fuzz_parsers -- --test-threads=1 --nocapture >"$log" 2>&1
status=$?
{
  echo "# Parser fuzzing, $(date -u +%Y-%m-%dT%H:%MZ), ${TOTAL} s total, exit status $status"
  echo
  echo '```'
  grep -oE 'fuzz [a-z_ -]+: [0-9]+ cases in [0-9]+ s, no failure|test result.*|panicked.*' "$log"
  echo "wall time: $(( $(date +%s) - started )) s"
  echo '```'
} | tee "$out"
rm -f "$log"
exit "$status"
