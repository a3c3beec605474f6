#!/usr/bin/env bash
# End to end: a run interrupted after its first send (Ctrl-C) resumes from its journal and
# finishes without sending anything twice; a finished run and a changed message file are
# refused. Counted in the lab ESP's own log, not in ours.
source "$(dirname "$0")/lib.sh"
need_root
work=$(mktemp -d)
lab_start "$MB_SOURCE_DIR/tests/lab/scenarios/block-pool-a.conf"
. "$MB_LAB_DIR/lab.env"

cp "$MB_SOURCE_DIR/examples/newsletter.eml" "$work/message.eml"
# Long pacing: the run is still waiting to make its second send when it is interrupted.
python3 - "$MB_SOURCE_DIR/experiments/demo-s3150.json" "$work/spec.json" "$work/message.eml" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec.pop("$schema", None)
spec.update({"name": "resume", "message": sys.argv[3], "pacing_ms": 5000, "window_seconds": 20,
             "followups": 0})
json.dump(spec, open(sys.argv[2], "w"), indent=2)
PY

# Messages the ESP took in whose Message-ID is one of ours (cleanup logs every one).
esp_ids() { grep -o 'message-id=<mailbisect\.[^>]*>' "$MB_LAB_LOG_DIR/esp.log" | grep -v '@mx\.' || true; }

# interrupt_after_first_send SPEC -> run number; the run is left interrupted.
interrupt_after_first_send() {
  local before pid rc=0 i
  before=$(esp_ids | wc -l)
  "$MAILBISECT" run "$1" --json --quiet --db "$work/store.db" >"$work/interrupted.json" 2>"$work/interrupted.err" &
  pid=$!
  for i in $(seq 1 100); do
    [ "$(esp_ids | wc -l)" -gt "$before" ] && break
    sleep 0.1
  done
  kill -INT "$pid"
  wait "$pid" || rc=$?
  echo "$rc" >"$work/interrupted.rc"
}

interrupt_after_first_send "$work/spec.json"
check "interrupted: exit code 75" "$(cat "$work/interrupted.rc")" 75
run=$(jget "$work/interrupted.json" 'd["run_id"]')
check "interrupted: status" "$(jget "$work/interrupted.json" 'd["status"]')" interrupted
check "interrupted: one send left, three still pending" \
  "$(jget "$work/interrupted.json" 'sum(1 for s in d["sends"] if s["sent_at"]), sum(1 for s in d["sends"] if not s["sent_at"])')" "(1, 3)"
check "interrupted: the ESP took in one message" "$(esp_ids | sort -u | wc -l)" 1

rc=0
"$MAILBISECT" resume "$run" --json --quiet --db "$work/store.db" >"$work/resumed.json" 2>"$work/resumed.err" || rc=$?
check "resume: exit code" "$rc" 0
check "resume: verdict" "$(jget "$work/resumed.json" 'd["verdict"]["fault"]')" ip
check "resume: status" "$(jget "$work/resumed.json" 'd["status"]')" finished
check "resume: four sends, each sent once" \
  "$(jget "$work/resumed.json" 'len(d["sends"]), len(set(s["message_id"] for s in d["sends"]))')" "(4, 4)"
check "resume: the ESP took in each Message-ID exactly once" \
  "$(esp_ids | sort | uniq -c | awk '{print $1}' | sort -u | tr '\n' ' ')$(esp_ids | sort -u | wc -l)" "1 4"

rc=0
"$MAILBISECT" resume "$run" --db "$work/store.db" >/dev/null 2>"$work/again.err" || rc=$?
check "resume of a finished run: exit code 65" "$rc" 65
check_contains "resume of a finished run: says so" "$(cat "$work/again.err")" "is finished; nothing to resume"

# A message file changed between the interruption and the resume: refused, nothing sent.
interrupt_after_first_send "$work/spec.json"
run2=$(jget "$work/interrupted.json" 'd["run_id"]')
printf '\n' >>"$work/message.eml"
before=$(esp_ids | wc -l)
rc=0
"$MAILBISECT" resume "$run2" --db "$work/store.db" >/dev/null 2>"$work/changed.err" || rc=$?
check "changed message: exit code 65" "$rc" 65
check_contains "changed message: says so" "$(cat "$work/changed.err")" "changed since run $run2 started"
check "changed message: nothing sent" "$(esp_ids | wc -l)" "$before"

for f in "$work"/*.err; do [ -s "$f" ] && { echo "--- $(basename "$f")"; cat "$f"; }; done
rm -rf "$work"
finish
