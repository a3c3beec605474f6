# Shared helpers for end-to-end tests: the real mailbisect binary against the real local mail
# lab. Sourced by tests/e2e/test_*.sh; ctest passes MAILBISECT and MB_SOURCE_DIR.
set -euo pipefail

: "${MB_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${MAILBISECT:=$MB_SOURCE_DIR/build/mailbisect}"
export MB_LAB_DIR=/tmp/mailbisect-lab # the example specs read the lab's IMAP password here

failures=0
checks=0

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: the local mail lab needs root (Postfix and Dovecot); run the tests as root"
    exit 77
  fi
}

lab_start() {
  trap lab_stop EXIT
  bash "$MB_SOURCE_DIR/tests/lab/start.sh" "${1:-$MB_SOURCE_DIR/tests/lab/scenarios/accept-all.conf}"
}

lab_stop() {
  bash "$MB_SOURCE_DIR/tests/lab/stop.sh" >/dev/null 2>&1 || true
}

lab_scenario() {
  bash "$MB_SOURCE_DIR/tests/lab/scenario.sh" "$MB_SOURCE_DIR/tests/lab/scenarios/$1.conf"
}

# derive_spec BASE OUT JSON-OBJECT: OUT is the example spec BASE (experiments/NAME.json) with
# the keys of JSON-OBJECT set (null removes a key); its "message" made absolute, "$schema" gone.
derive_spec() {
  python3 - "$MB_SOURCE_DIR/experiments/$1" "$2" "$3" <<'PY'
import json, os, sys
base, out, patch = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
spec = json.load(open(base))
spec.pop("$schema", None)
if "message" in spec:
    spec["message"] = os.path.normpath(os.path.join(os.path.dirname(base), spec["message"]))
for key, value in patch.items():
    if value is None:
        spec.pop(key, None)
    else:
        spec[key] = value
with open(out, "w") as f:
    json.dump(spec, f, indent=2)
PY
}

# check NAME GOT WANT
check() {
  checks=$((checks + 1))
  if [ "$2" = "$3" ]; then
    echo "ok   $1"
  else
    echo "FAIL $1: got '$2', want '$3'"
    failures=$((failures + 1))
  fi
}

# check_contains NAME HAYSTACK NEEDLE
check_contains() {
  checks=$((checks + 1))
  case "$2" in
  *"$3"*) echo "ok   $1" ;;
  *)
    echo "FAIL $1: '$3' not found in: $2"
    failures=$((failures + 1))
    ;;
  esac
}

# jget FILE PYTHON-EXPRESSION-ON-d  -> prints the value (None -> null)
jget() {
  python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
v=eval(sys.argv[2])
print("null" if v is None else (json.dumps(v) if isinstance(v,(list,dict)) else v))' "$1" "$2"
}

finish() {
  echo "$((checks - failures)) passed, $failures failed"
  [ "$failures" -eq 0 ]
}
