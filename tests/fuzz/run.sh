#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -DMB_FUZZ=ON) and runs each for SECONDS, one after the
# other, with seeds made at run time from the repository's fixtures and the shared corpus.
#
# Usage: tests/fuzz/run.sh [SECONDS] [TARGET...]     (default 60 s; every target)
#   targets: bounce spec message rules
# Environment:
#   MB_FUZZ_OUT    work folder outside the repository (default /tmp/mailbisect-fuzz): seeds/,
#                  corpus/ (kept between runs, grows), crashes/<target>/ (what was found)
#   MB_FUZZ_BUILD  build folder (default build-fuzz in the source tree)
#   MB_SHARED_DIR  shared data with corpus/bounces (default ../shared beside the source tree)
#   MB_FUZZ_JOBS   parallel build jobs (default 1)
# Each target runs in libFuzzer's fork mode (one job at a time), so a crash is saved and the
# run goes on. Exit status 1 when a target found a crash, a leak or a timeout (crashes/).
# A crash input is minimised with:
#   build-fuzz/tests/fuzz_TARGET -minimize_crash=1 -runs=20000 -exact_artifact_path=OUT CRASH
# and kept as a regression in tests/fuzz/regressions/TARGET/ (replayed by
# tests/unit/test_fuzz_regressions.c).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(bounce spec message rules)
case $seconds in '' | *[!0-9]*)
  echo "usage: $0 [SECONDS] [bounce|spec|message|rules ...]" >&2
  exit 64
  ;;
esac

out=${MB_FUZZ_OUT:-/tmp/mailbisect-fuzz}
build=${MB_FUZZ_BUILD:-$here/build-fuzz}
shared=${MB_SHARED_DIR:-$here/../shared}
case $out/ in "$here"/*)
  echo "$0: MB_FUZZ_OUT must be outside the repository" >&2
  exit 64
  ;;
esac

echo "== build ($build)"
CC=clang cmake -S "$here" -B "$build" -DMB_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug \
  -DMB_SHARED_DIR="$shared" >/dev/null
cmake --build "$build" -j "${MB_FUZZ_JOBS:-1}" --target fuzz >/dev/null

# Copies the files matching the patterns into seed folder $1 (missing patterns are skipped).
seed() {
  local dir=$out/seeds/$1 f
  shift
  rm -rf "$dir"
  mkdir -p "$dir"
  for f in "$@"; do
    [ -f "$f" ] && cp "$f" "$dir/"
  done
  return 0
}

shopt -s nullglob
seed bounce "$here"/tests/fixtures/dsn/* "$here"/tests/fixtures/messages/* \
  "$here"/examples/*.eml "$shared"/corpus/bounces/*.eml
seed message "$here"/tests/fixtures/messages/* "$here"/examples/*.eml \
  "$here"/tests/fixtures/dsn/* "$shared"/corpus/bounces/lhost-*.eml
seed spec "$here"/experiments/*.json "$here"/tests/fixtures/specs/*.json
seed rules "$here"/tests/fuzz/seeds/rules/*.json
shopt -u nullglob

# Longest input tried, and the dictionary, per target.
max_len() {
  case $1 in
  bounce | message) echo 131072 ;;
  *) echo 16384 ;;
  esac
}
dictionary() {
  case $1 in
  bounce | message) echo "$here/tests/fuzz/dict/mail.dict" ;;
  *) echo "$here/tests/fuzz/dict/json.dict" ;;
  esac
}

export LSAN_OPTIONS="suppressions=$here/tests/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export G_SLICE=always-malloc # GLib's slice allocator would hide its blocks from ASan

status=0
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz_$t
  if [ ! -x "$bin" ]; then
    echo "$0: no fuzz target $t" >&2
    exit 64
  fi
  mkdir -p "$out/corpus/$t" "$out/crashes/$t" "$out/logs"
  log=$out/logs/$t-$(date +%Y%m%d-%H%M%S).log
  echo "== $t: ${seconds}s, log $log"
  before=$(find "$out/crashes/$t" -type f | wc -l)
  "$bin" -max_total_time="$seconds" -max_len="$(max_len "$t")" -rss_limit_mb=2048 \
    -timeout=20 -dict="$(dictionary "$t")" -print_final_stats=1 \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -artifact_prefix="$out/crashes/$t/" "$out/corpus/$t" "$out/seeds/$t" >"$log" 2>&1 ||
    true
  grep -E '^#[0-9]+: cov:' "$log" | tail -1 || true
  after=$(find "$out/crashes/$t" -type f | wc -l)
  if [ "$after" -gt "$before" ]; then
    echo "$t: $((after - before)) new crash/leak/timeout input(s) in $out/crashes/$t:"
    find "$out/crashes/$t" -type f -newer "$out/seeds/$t" | sed 's/^/  /'
    status=1
  fi
done
exit $status
