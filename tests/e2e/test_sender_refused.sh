#!/usr/bin/env bash
# End to end: our own relay refuses the envelope sender (an ESP account whose sending domain is
# not verified). That is `submit-refused`, never a receiver decision: the run is `incomplete`
# (exit 75), says to fix the sending side, and stops trying that pool after the first refusal.
source "$(dirname "$0")/lib.sh"
need_root
work=$(mktemp -d)
lab_start
. "$MB_LAB_DIR/lab.env"

derive_spec accept-all.json "$work/spec.json" '{"name": "unverified-sender",
  "envelope_sender": "bounces+{send}@unverified.example", "pacing_ms": 100, "window_seconds": 10}'
# Postfix (smtpd_delay_reject) gives the sender refusal in reply to RCPT TO.
refusals() { grep -c 'NOQUEUE: reject: RCPT from .*Sender domain unverified.example is not verified' \
  "$MB_LAB_LOG_DIR/esp.log" || true; }

rc=0
"$MAILBISECT" run "$work/spec.json" --json --quiet --db "$work/store.db" >"$work/out.json" 2>"$work/err" || rc=$?
check "unverified sender: exit code 75" "$rc" 75
check "unverified sender: verdict incomplete" "$(jget "$work/out.json" 'd["verdict"]["fault"]')" incomplete
check "unverified sender: first send refused by our relay at RCPT" \
  "$(jget "$work/out.json" '[d["sends"][0]["state"], d["sends"][0]["stage"], d["sends"][0]["smtp_code"]]')" \
  '["submit-refused", "rcpt", 554]'
check_contains "unverified sender: the relay's words recorded" \
  "$(jget "$work/out.json" 'd["sends"][0]["diagnostic"]')" "Sender domain unverified.example is not verified"
check_contains "unverified sender: fix the sending side first" \
  "$(jget "$work/out.json" 'd["verdict"]["next_steps"]')" "fix the sending side"
# pool A refused once; pool B (alternate-pool) is its own relay and is tried once too
check "unverified sender: each pool refused us once, no retries" "$(refusals)" 2
check "unverified sender: no receiver reply invented" \
  "$(jget "$work/out.json" 'sorted(set(s["state"] for s in d["sends"]))')" '["submit-refused"]'

rm -rf "$work"
finish
