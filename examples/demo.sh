#!/usr/bin/env bash
# The demo: installs what is missing, builds mailbisect, starts the local mail lab with a
# receiver that blocks pool A (the S3150 block-list reply), runs experiments/demo-s3150.json,
# prints the verdict and stops the lab. Needs root for the lab (Postfix and Dovecot).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

bash "$here/tests/install-deps.sh"
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: the local mail lab needs root (it runs Postfix and Dovecot); run as root" >&2
  exit 77
fi

build="$here/build-demo"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target mailbisect >/dev/null

export MB_LAB_DIR=/tmp/mailbisect-lab   # the demo spec reads the IMAP password from here
trap 'bash "$here/tests/lab/stop.sh" >/dev/null 2>&1 || true' EXIT
bash "$here/tests/lab/start.sh" "$here/tests/lab/scenarios/block-pool-a.conf"

# The store is kept in the build folder (the lab's folder goes when the lab stops), so the
# run can be looked at again afterwards.
db="$build/demo.db"
echo "== mailbisect run experiments/demo-s3150.json"
status=0
"$build/mailbisect" run "$here/experiments/demo-s3150.json" --db "$db" || status=$?
echo "== exit status $status"
echo "== the binary is $build/mailbisect and this run is kept in $db; for example:"
echo "   $build/mailbisect history --db $db"
echo "   $build/mailbisect ticket RUN --db $db     (RUN: the run number above)"
exit $status
