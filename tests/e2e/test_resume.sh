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
derive_spec demo-s3150.json "$work/spec.json" "{\"name\": \"resume\", \"message\": \"$work/message.eml\",
  \"pacing_ms\": 5000, \"window_seconds\": 20, \"followups\": 0}"

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

# A resume while the run is still being carried out by its own process would send its planned
# sends twice: refused (75), nothing sent by it.
"$MAILBISECT" run "$work/spec.json" --json --quiet --db "$work/store2.db" >"$work/busy.json" 2>/dev/null &
busy_pid=$!
for i in $(seq 1 100); do
  [ -s "$work/store2.db" ] && sqlite3 "$work/store2.db" "SELECT 1 FROM meta WHERE key = 'run.1.owner'" 2>/dev/null | grep -q 1 && break
  sleep 0.1
done
rc=0
"$MAILBISECT" resume 1 --db "$work/store2.db" >/dev/null 2>"$work/busy.err" || rc=$?
check "resume of a run still in progress: exit code 75" "$rc" 75
check_contains "resume of a run still in progress: says who has it" "$(cat "$work/busy.err")" \
  "is being carried out by process $busy_pid"
"$MAILBISECT" history --json --db "$work/store2.db" >"$work/busy-history.json" 2>/dev/null || true
check "history while its process carries the run out: running" \
  "$(jget "$work/busy-history.json" 'd[0]["status"]')" running
# Killed outright (no chance to record anything): shown as interrupted, and resumable.
kill -KILL "$busy_pid"
wait "$busy_pid" || true
"$MAILBISECT" history --json --db "$work/store2.db" >"$work/killed-history.json" 2>/dev/null || true
check "history after its process was killed: interrupted" \
  "$(jget "$work/killed-history.json" 'd[0]["status"]')" interrupted
"$MAILBISECT" show 1 --json --db "$work/store2.db" >"$work/killed-show.json" 2>/dev/null || true
check "show after its process was killed: interrupted" \
  "$(jget "$work/killed-show.json" 'd["status"]')" interrupted
check "resume of a run still in progress: no Message-ID went out twice" "$(esp_ids | sort | uniq -d | wc -l)" 0

rc=0
"$MAILBISECT" resume "$run" --json --quiet --db "$work/store.db" >"$work/resumed.json" 2>"$work/resumed.err" || rc=$?
check "resume: exit code" "$rc" 0
check "resume: verdict" "$(jget "$work/resumed.json" 'd["verdict"]["fault"]')" ip
check "resume: status" "$(jget "$work/resumed.json" 'd["status"]')" finished
check "resume: four sends, each sent once" \
  "$(jget "$work/resumed.json" 'len(d["sends"]), len(set(s["message_id"] for s in d["sends"]))')" "(4, 4)"
token=$(jget "$work/resumed.json" 'd["sends"][0]["envid"].rsplit("-", 1)[0]')
check "resume: the ESP took in each Message-ID of the run exactly once" \
  "$(esp_ids | grep -F "mailbisect.$token-" | sort | uniq -c | awk '{print $1}' | sort -u | tr '\n' ' ')$(esp_ids | grep -F "mailbisect.$token-" | sort -u | wc -l)" "1 4"

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
