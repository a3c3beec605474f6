#!/usr/bin/env bash
# End to end, the cases a fixed table gets wrong or a careless tool gets confidently wrong:
# an attachment type refused (template, not links), and a receiver that refuses at random half
# the time (never a confident wrong verdict), with repeats.
source "$(dirname "$0")/lib.sh"
need_root
work=$(mktemp -d)
lab_start "$MB_SOURCE_DIR/tests/lab/scenarios/block-pdf.conf"

run_spec() { # NAME SPEC -> JSON in $work/NAME.json, exit code in $work/NAME.rc
  local rc=0
  "$MAILBISECT" run "$2" --json --quiet --db "$work/store.db" >"$work/$1.json" 2>"$work/$1.err" || rc=$?
  echo "$rc" >"$work/$1.rc"
  [ "$rc" -eq 0 ] || { echo "--- $1 stderr:"; cat "$work/$1.err"; }
}

# A PDF attachment refused at end of DATA: plain-text (no attachments) passes, links-stripped
# (attachment kept) and the alternate pool fail: the template, not the links or the pool.
run_spec pdf "$MB_SOURCE_DIR/experiments/invoice-pdf.json"
check "pdf: exit code" "$(cat "$work/pdf.rc")" 0
check "pdf: verdict" "$(jget "$work/pdf.json" '[d["verdict"]["fault"], d["verdict"]["detail"]]')" '["content", "template"]'
check "pdf: the receiver's words" \
  "$(jget "$work/pdf.json" '[s["diagnostic"] for s in d["sends"] if s["variant"]=="original"][0]')" \
  "552 5.7.0 This message was blocked because its content presents a potential security issue."
check "pdf: plain-text delivered" \
  "$(jget "$work/pdf.json" '[s["state"] for s in d["sends"] if s["variant"]=="plain-text"]')" '["delivered"]'

# A receiver that refuses half of all messages whatever they are: three rounds of the four
# variants. Whatever the coin gives, the verdict must not be a confident factor.
lab_scenario random-half
derive_spec demo-s3150.json "$work/random-spec.json" \
  '{"name": "random-half", "repeat": 3, "pacing_ms": 100, "window_seconds": 20, "followups": 4}'
run_spec random "$work/random-spec.json"
fault=$(jget "$work/random.json" 'd["verdict"]["fault"]')
confidence=$(jget "$work/random.json" 'd["verdict"]["confidence"]')
outcomes=$(jget "$work/random.json" '"".join("P" if s["state"] in ("delivered","accepted") else "F" for s in d["sends"])')
echo "random-half: outcomes $outcomes -> $fault $confidence ($(jget "$work/random.json" 'd["verdict"]["summary"]'))"
check "random: some refused and some passed" \
  "$(jget "$work/random.json" 'len(set(s["state"] for s in d["sends"])) > 1')" True
unconfirmed=$(jget "$work/random.json" 'd["verdict"]["unconfirmed"]')
check "random: no confident factor verdict (inconclusive, or unconfirmed below 0.75)" \
  "$(python3 -c 'import sys; f,c,u=sys.argv[1],float(sys.argv[2]),sys.argv[3]; print(f == "inconclusive" or (u == "True" and c < 0.75))' "$fault" "$confidence" "$unconfirmed")" True

# A recipient that does not exist: 5.1.1 says nothing about content, IP or domain. The run is
# incomplete (never a `domain` by elimination) and says to use a recipient that exists.
lab_scenario unknown-user
derive_spec demo-s3150.json "$work/unknown-spec.json" \
  '{"name": "unknown-user", "recipients": ["nobody@victim.example"], "pacing_ms": 100, "window_seconds": 20}'
run_spec unknown "$work/unknown-spec.json"
check "unknown user: exit code 75" "$(cat "$work/unknown.rc")" 75
check "unknown user: verdict incomplete" "$(jget "$work/unknown.json" 'd["verdict"]["fault"]')" incomplete
check "unknown user: every send refused as userunknown, fault recipient" \
  "$(jget "$work/unknown.json" 'sorted(set((s["state"], s["reason"], s["fault"]) for s in d["sends"]))')" \
  '[["bounced", "userunknown", "recipient"]]'
check_contains "unknown user: use a recipient that exists" \
  "$(jget "$work/unknown.json" 'd["verdict"]["next_steps"]')" "Use a recipient that exists"

rm -rf "$work"
finish
