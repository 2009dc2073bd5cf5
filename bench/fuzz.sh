#!/usr/bin/env bash
# Long fuzzing run of the untrusted-input parsers (names, references and digests, OCI paths,
# manifests, pack archives and their metadata files): FUZZ_TOTAL_SECONDS (default 600) split
# across the properties FUZZ_FILTER selects (all by default), in release mode, with the peak
# memory of the process. Saves the report under bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sherpack-registry/target}"
TOTAL="${FUZZ_TOTAL_SECONDS:-600}"
# FUZZ_FILTER picks properties by name (e.g. `pack`); the time is split evenly among them.
FILTER="${FUZZ_FILTER:-}"
count=$(cargo test --release -q -p sherpack-registry --test fuzz_parsers -- --list "$FILTER" 2>/dev/null | grep -c ': test$')
export FUZZ_SECONDS=$((TOTAL / count))
out="bench/results/fuzz-$(date -u +%Y%m%d-%H%M%S).md"
started=$(date +%s)
log="$(mktemp)"
status=0
cargo test --release -q -p sherpack-registry --test fuzz_parsers -- --test-threads=1 --nocapture "$FILTER" >"$log" 2>&1 || status=$?
{
  echo "# Parser fuzzing${FILTER:+ ($FILTER)}, $(date -u +%Y-%m-%dT%H:%MZ), ${TOTAL} s total over $count properties, exit status $status"
  echo
  echo '```'
  grep -oE 'fuzz [a-z_ -]+: [0-9]+ cases in [0-9]+ s, no failure(, peak memory [0-9]+ kB)?|test result.*|panicked.*' "$log"
  echo "wall time: $(( $(date +%s) - started )) s"
  echo '```'
} | tee "$out"
rm -f "$log"
exit "$status"
