#!/usr/bin/env bash
# Sets up and runs every test: installs what is missing, then builds and runs the whole ctest
# suite twice, once plain and once with AddressSanitizer + UndefinedBehaviorSanitizer.
# Usage: tests/run.sh [--shared DIR]   (default: ../shared beside the source tree)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared="$here/../shared"
if [ "${1:-}" = "--shared" ]; then shared=$2; fi

bash "$here/tests/install-deps.sh"

jobs=$(nproc)
status=0
for flavour in plain sanitize; do
  build="$here/build-test-$flavour"
  opts=(-DMB_WERROR=ON -DMB_SHARED_DIR="$shared" -DCMAKE_BUILD_TYPE=Debug)
  [ "$flavour" = sanitize ] && opts+=(-DMB_SANITIZE=ON)
  echo "== $flavour build"
  cmake -S "$here" -B "$build" "${opts[@]}" >/dev/null
  cmake --build "$build" -j "$jobs"
  echo "== $flavour tests"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
    ctest --test-dir "$build" --output-on-failure -j 1 || status=1
done
exit $status
