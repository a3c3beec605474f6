#!/usr/bin/env bash
# End to end: starting from the bounce in hand. A real non-delivery report from the lab (the
# receiver refusing pool A) becomes an experiment with an ESP config: the refused message from
# the report, the domain and recipient from its failed recipient. Headers-only reports, configs
# that try to set what the bounce gives, and messages that are not reports are refused clearly.
source "$(dirname "$0")/lib.sh"
need_root
work=$(mktemp -d)
export XDG_STATE_HOME="$work/state" # where a run without --save-spec keeps the returned message
lab_start "$MB_SOURCE_DIR/tests/lab/scenarios/block-pool-a.conf"
. "$MB_LAB_DIR/lab.env"

# send_refused TAG RET -> the lab's failure report for it in $work/TAG.eml (RET=FULL returns the
# whole message, RET=HDRS only its headers)
send_refused() {
  python3 - "$1" "$2" "$MB_SOURCE_DIR/examples/newsletter.eml" <<'PY'
import smtplib, sys
tag, ret, path = sys.argv[1], sys.argv[2], sys.argv[3]
with smtplib.SMTP("127.0.0.1", 2525, timeout=10) as s:
    s.ehlo("ndr-test.sender.example")
    s.sendmail("bounces+%s@bounces.sender.example" % tag, ["alice@victim.example"],
               open(path, "rb").read(), mail_options=["RET=%s" % ret, "ENVID=%s" % tag])
PY
  local i f
  for i in $(seq 1 100); do
    f=$(grep -l "^Original-Envelope-Id: $1" "$MB_LAB_BOUNCE_MAILDIR"/new/* 2>/dev/null | head -1 || true)
    [ -n "$f" ] && { cp "$f" "$work/$1.eml"; return 0; }
    sleep 0.1
  done
  echo "no report for $1"
  return 1
}
send_refused ndrfull FULL
send_refused ndrhdrs HDRS

# The ESP config: the demo spec without what the bounce gives.
derive_spec demo-s3150.json "$work/esp.json" \
  '{"name": null, "message": null, "domain": null, "recipients": null}'

# 1. Dry run: the spec it would run, and the message taken out of the report. --save-spec's
# folder must exist: a mistyped path creates nothing.
rc=0
"$MAILBISECT" run --from-bounce "$work/ndrfull.eml" --config "$work/esp.json" --dry-run \
  --save-spec "$work/saved/spec.json" >/dev/null 2>"$work/nofolder.err" || rc=$?
check "save-spec into a missing folder: exit code 74" "$rc" 74
check_contains "save-spec into a missing folder: says so" "$(cat "$work/nofolder.err")" \
  "the folder $work/saved does not exist"
check "save-spec into a missing folder: nothing created" "$([ -e "$work/saved" ] && echo yes || echo no)" no
mkdir "$work/saved"
rc=0
"$MAILBISECT" run --from-bounce "$work/ndrfull.eml" --config "$work/esp.json" --dry-run --json \
  --save-spec "$work/saved/spec.json" >"$work/dry.json" 2>"$work/dry.err" || rc=$?
check "dry run: exit code" "$rc" 0
check "dry run: affected domain from the report" "$(jget "$work/dry.json" 'd["spec"]["domain"]')" victim.example
check "dry run: recipient from the report" "$(jget "$work/dry.json" 'd["spec"]["recipients"]')" '["alice@victim.example"]'
check "dry run: pools from the config" "$(jget "$work/dry.json" 'd["spec"]["pools"]["primary"]["port"]')" 2525
msg=$(jget "$work/dry.json" 'd["spec"]["message"]')
check "dry run: the returned message is kept beside the saved spec" "$(dirname "$msg")" "$work/saved"
check_contains "dry run: it is the refused newsletter" "$(cat "$msg" 2>/dev/null)" \
  "$(grep -m1 '^Subject:' "$MB_SOURCE_DIR/examples/newsletter.eml")"
check "dry run: the saved spec is the one shown" \
  "$(jget "$work/saved/spec.json" 'd["message"]')" "$msg"
check_contains "dry run: the receiver's words as prior evidence" "$(cat "$work/dry.err")" \
  "Part of their network is on our block list (S3150)"

# A dry run without --save-spec keeps nothing: the message lives in a temporary file meanwhile.
mkdir -p "$work/tmp"
rc=0
TMPDIR="$work/tmp" "$MAILBISECT" run --from-bounce "$work/ndrfull.eml" --config "$work/esp.json" \
  --dry-run --json >"$work/dry2.json" 2>/dev/null || rc=$?
check "dry run without --save-spec: exit code" "$rc" 0
check "dry run without --save-spec: the plan was built from the returned message" \
  "$(jget "$work/dry2.json" 'len(d["plan"]) > 0')" True
check "dry run without --save-spec: nothing in the state directory" \
  "$(find "$work/state" -type f 2>/dev/null | wc -l)" 0
check "dry run without --save-spec: its temporary message is gone" "$(ls -A "$work/tmp" | wc -l)" 0

# 2. The real run from the saved spec's sources: the verdict of the incident.
rc=0
"$MAILBISECT" run --from-bounce "$work/ndrfull.eml" --config "$work/esp.json" --json --quiet \
  --db "$work/store.db" >"$work/run.json" 2>"$work/run.err" || rc=$?
check "run: exit code" "$rc" 0
check "run: verdict" "$(jget "$work/run.json" 'd["verdict"]["fault"]')" ip
check "run: the returned message kept in the state directory" \
  "$(ls "$work/state/mailbisect/messages/" | grep -c '^bounce-victim.example-.*\.eml$')" 1

# 3. Only the headers came back: a clear error asks for the original; with it, it works.
rc=0
"$MAILBISECT" run --from-bounce "$work/ndrhdrs.eml" --config "$work/esp.json" --dry-run \
  >/dev/null 2>"$work/hdrs.err" || rc=$?
check "headers only: exit code 65" "$rc" 65
check_contains "headers only: asks for the original" "$(cat "$work/hdrs.err")" \
  "only the headers of the refused message came back; give the original message with --message FILE"
rc=0
"$MAILBISECT" run --from-bounce "$work/ndrhdrs.eml" --config "$work/esp.json" --dry-run --json \
  --message "$MB_SOURCE_DIR/examples/newsletter.eml" >"$work/hdrs.json" 2>/dev/null || rc=$?
check "headers only with --message: exit code" "$rc" 0
check "headers only with --message: that message" "$(jget "$work/hdrs.json" 'd["spec"]["message"]')" \
  "$MB_SOURCE_DIR/examples/newsletter.eml"
# --message is relative to where the command runs, not to the config's folder.
rc=0
(cd "$MB_SOURCE_DIR" && "$MAILBISECT" run --from-bounce "$work/ndrhdrs.eml" --config "$work/esp.json" \
  --dry-run --json --message examples/newsletter.eml >"$work/rel.json" 2>/dev/null) || rc=$?
check "relative --message: exit code" "$rc" 0
check "relative --message: resolved from the working directory" \
  "$(jget "$work/rel.json" 'd["spec"]["message"]')" "$MB_SOURCE_DIR/examples/newsletter.eml"

# 4. A config that sets what the bounce gives, a file that is not a report, a missing --config.
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["domain"]="other.example"; json.dump(d, open(sys.argv[2],"w"))' \
  "$work/esp.json" "$work/bad-esp.json"
rc=0
TMPDIR="$work/tmp" "$MAILBISECT" run --from-bounce "$work/ndrfull.eml" --config "$work/bad-esp.json" \
  --dry-run >/dev/null 2>"$work/badcfg.err" || rc=$?
check "config with domain: exit code 65" "$rc" 65
check "config with domain: the dry run's temporary message is gone" "$(ls -A "$work/tmp" | wc -l)" 0
check_contains "config with domain: names the field" "$(cat "$work/badcfg.err")" \
  "bad-esp.json: domain: comes from the bounce"
rc=0
"$MAILBISECT" run --from-bounce "$MB_SOURCE_DIR/examples/newsletter.eml" --config "$work/esp.json" \
  --dry-run >/dev/null 2>"$work/notndr.err" || rc=$?
check "not a report: exit code 65" "$rc" 65
check_contains "not a report: says so" "$(cat "$work/notndr.err")" "no failed recipient found"
rc=0
"$MAILBISECT" run --from-bounce "$work/ndrfull.eml" >/dev/null 2>"$work/nocfg.err" || rc=$?
check "no --config: exit code 64" "$rc" 64

rm -rf "$work"
finish
