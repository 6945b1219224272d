#!/usr/bin/env bash
# Runs every libFuzzer target built in BUILD_DIR (make fuzz) for SECONDS each,
# one after the other, each on a scratch copy of its seed corpus
# (tests/fuzz/corpus/<name>/ stays as committed). Prints one line per fuzzer;
# exits non-zero if any fuzzer found a crash, a sanitizer report, a timeout or
# an out-of-memory (the input is left in BUILD_DIR/runs/<name>/).
# FUZZ_SEED fixes libFuzzer's random seed (the test command does, so that a
# landing does not depend on luck); unset, every run explores anew.
#   scripts/run_fuzzers.sh build/fuzz 60
set -uo pipefail

BUILD_DIR=${1:-build/fuzz}
SECONDS_EACH=${2:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

failed=0
for fuzzer in "$BUILD_DIR"/*_fuzzer; do
  [[ -x "$fuzzer" ]] || continue
  name=$(basename "$fuzzer")
  run="$BUILD_DIR/runs/$name"
  rm -rf "$run" && mkdir -p "$run/corpus"
  cp "$ROOT/tests/fuzz/corpus/$name/"* "$run/corpus/" 2>/dev/null
  before=$(ls "$run/corpus" | wc -l)
  seed=()
  [[ -n "${FUZZ_SEED:-}" ]] && seed=(-seed="$FUZZ_SEED")
  dict=()
  [[ -f "$ROOT/tests/fuzz/$name.dict" ]] && dict=(-dict="$ROOT/tests/fuzz/$name.dict")
  "$fuzzer" "$run/corpus" "${dict[@]}" "${seed[@]}" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$run/" -print_final_stats=1 >"$run/log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$run/log" | tail -1 | grep -o '[0-9]*$')
  secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$run/log" | tail -1 | grep -o 'in [0-9]*' | grep -o '[0-9]*')
  after=$(ls "$run/corpus" | wc -l)
  artifacts=$(ls "$run" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' | tr '\n' ' ')
  if [[ $rc -eq 0 && -z "$artifacts" ]]; then
    result=ok
  else
    result="FAILED (exit $rc): ${artifacts:-see $run/log}"
    failed=1
  fi
  printf '%-26s %10s execs %6ss  corpus %4s -> %4s  %s\n' \
    "$name" "${execs:-?}" "${secs:-?}" "$before" "$after" "$result"
done
exit $failed
