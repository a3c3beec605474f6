#!/usr/bin/env bash
# End to end: real failing messages through the real lab (ESP relay with two pools, a
# receiver with policies, bounces read over IMAP) must give the verdicts of DESIGN.md's table.
source "$(dirname "$0")/lib.sh"
need_root
work=$(mktemp -d)
lab_start

# run_case NAME SCENARIO SPEC -> leaves JSON in $work/NAME.json, exit code in $work/NAME.rc
run_case() {
  lab_scenario "$2"
  local rc=0
  "$MAILBISECT" run "$MB_SOURCE_DIR/experiments/$3" --json --quiet --db "$work/store.db" \
    >"$work/$1.json" 2>"$work/$1.err" || rc=$?
  echo "$rc" >"$work/$1.rc"
  if [ "$rc" -ne 0 ]; then
    echo "--- $1 stderr:"
    cat "$work/$1.err"
  fi
}

# A receiver that blocks pool A's address: every primary-pool variant refused with the
# Outlook-style S3150 text, the alternate pool delivered.
run_case ip block-pool-a demo-s3150.json
check "ip: exit code" "$(cat "$work/ip.rc")" 0
check "ip: verdict" "$(jget "$work/ip.json" 'd["verdict"]["fault"]')" ip
check "ip: original bounced" "$(jget "$work/ip.json" '[s["state"] for s in d["sends"] if s["variant"]=="original"][0]')" bounced
check "ip: S3150 text quoted raw" \
  "$(jget "$work/ip.json" '[s["diagnostic"] for s in d["sends"] if s["variant"]=="original"][0]')" \
  "550 5.7.1 Messages from [127.0.0.2] weren't sent. Part of their network is on our block list (S3150)"
check "ip: refused at RCPT" "$(jget "$work/ip.json" '[s["stage"] for s in d["sends"] if s["variant"]=="original"][0]')" rcpt
check "ip: alternate pool delivered (success DSN)" \
  "$(jget "$work/ip.json" '[s["state"] for s in d["sends"] if s["variant"]=="alternate-pool"][0]')" delivered
check "ip: every send has a message id" \
  "$(jget "$work/ip.json" 'all(s["message_id"].startswith("<mailbisect.") for s in d["sends"])')" True

# A receiver that refuses a link domain in the decoded text: plain-text keeps the URLs and is
# refused, links-stripped passes.
run_case links block-link block-link.json
check "links: verdict" "$(jget "$work/links.json" 'd["verdict"]["fault"]')" content
check "links: detail" "$(jget "$work/links.json" 'd["verdict"]["detail"]')" links
check "links: links-stripped delivered" \
  "$(jget "$work/links.json" '[s["state"] for s in d["sends"] if s["variant"]=="links-stripped"][0]')" delivered
# Which link: bisection over the four link domains of the newsletter (cdn.sender.example,
# click.tracker.example, open.tracker.example, www.sender.example) names the refused one in two
# sends: without the first half it passes, without cdn.sender.example alone it is refused.
check "links: bisection names the refused link domain" \
  "$(jget "$work/links.json" 'd["verdict"]["link_domain"]')" click.tracker.example
check "links: two bisection sends, stripping half and then a quarter" \
  "$(jget "$work/links.json" '[(s["without_links_to"], s["state"]) for s in d["sends"] if "without_links_to" in s]')" \
  '[[["cdn.sender.example", "click.tracker.example"], "delivered"], [["cdn.sender.example"], "bounced"]]'
check "links: plain-text refused with the receiver's words" \
  "$(jget "$work/links.json" '[s["diagnostic"] for s in d["sends"] if s["variant"]=="plain-text"][0]')" \
  "554 5.7.1 Email rejected due to security policies"

# A receiver that refuses the From domain (DMARC): every variant refused.
run_case domain block-from-domain block-from-domain.json
check "domain: verdict" "$(jget "$work/domain.json" 'd["verdict"]["fault"]')" domain
# Four refusals also fit "pool or links", "pool or template" and "links or template". `bare`
# (no links, no template) through the alternate pool passes under every one of those; refused,
# it leaves the domain as the one explanation, and one follow-up is all it takes.
check "domain: the follow-up was bare through pool B" \
  "$(jget "$work/domain.json" '[(s["variant"], s["pool"]) for s in d["sends"][4:]]')" '[["bare", "pool-b"]]'
check "domain: confirmed by the follow-up" "$(jget "$work/domain.json" 'd["verdict"]["unconfirmed"]')" False
check "domain: all five bounced" \
  "$(jget "$work/domain.json" '[len(d["sends"])] + sorted(set(s["state"] for s in d["sends"]))')" '[5, "bounced"]'
check "domain: classified as DMARC authfailure" \
  "$(jget "$work/domain.json" 'd["sends"][0]["reason"]')" authfailure

# The same DMARC refusal measured directly: the alternate-domain variant (From in a second
# sending domain) passes, so the domain is at fault without follow-ups or elimination.
run_case altdom block-from-domain alternate-domain.json
check "alternate-domain: verdict" "$(jget "$work/altdom.json" 'd["verdict"]["fault"]')" domain
check "alternate-domain: confirmed, no follow-ups" \
  "$(jget "$work/altdom.json" '[d["verdict"]["unconfirmed"], len(d["sends"])]')" '[false, 5]'
check_contains "alternate-domain: next step says it was measured, not to add the variant" \
  "$(jget "$work/altdom.json" 'd["verdict"]["next_steps"]')" "The same message from the alternate sending domain passed"
check "alternate-domain: delivered" \
  "$(jget "$work/altdom.json" '[s["state"] for s in d["sends"] if s["variant"]=="alternate-domain"]')" '["delivered"]'

# Pool A blocked and a link domain refused at once: all four standard variants fail, which a
# fixed table reads as `domain`. The follow-ups (bare through each pool) must find both.
run_case both block-pool-a-and-link block-link.json
check "pool+link: verdict" "$(jget "$work/both.json" 'd["verdict"]["fault"]')" ip+content
check "pool+link: detail" "$(jget "$work/both.json" 'd["verdict"]["detail"]')" links
check "pool+link: relation" "$(jget "$work/both.json" 'd["verdict"]["relation"]')" either-enough
check "pool+link: follow-ups stayed within the cap" \
  "$(jget "$work/both.json" 'len(d["sends"]) <= 8')" True
check "pool+link: bare through pool B delivered" \
  "$(jget "$work/both.json" '[s["state"] for s in d["sends"] if s["variant"]=="bare" and s["pool"]=="pool-b"]')" '["delivered"]'

# A receiver that accepts everything: every pass confirmed by a success DSN.
run_case none accept-all accept-all.json
check "none: verdict" "$(jget "$work/none.json" 'd["verdict"]["fault"]')" not-reproduced
check "none: all delivered" \
  "$(jget "$work/none.json" 'sorted(set(s["state"] for s in d["sends"]))')" '["delivered"]'
check "none: matched by ENVID" \
  "$(jget "$work/none.json" 'sorted(set(s["matched_by"] for s in d["sends"]))')" '["envid"]'

# Every report is what the README's JSON Schema says it is (no undocumented key either).
check "reports match the README's JSON Schema" \
  "$(python3 "$MB_SOURCE_DIR/tests/tools/check_report_schema.py" "$MB_SOURCE_DIR/README.md" \
    "$work/ip.json" "$work/links.json" "$work/domain.json" "$work/altdom.json" "$work/both.json" \
    "$work/none.json" && echo valid)" valid

# `show` prints the same run from the store.
"$MAILBISECT" show "$(jget "$work/ip.json" 'd["run_id"]')" --db "$work/store.db" >"$work/show.txt"
check_contains "show: verdict line" "$(cat "$work/show.txt")" "Verdict: ip"
check_contains "show: S3150 text" "$(cat "$work/show.txt")" "Part of their network is on our block list (S3150)"

# `history` lists every run of this store, newest first; `ticket` writes the evidence bundle.
"$MAILBISECT" history --json --db "$work/store.db" >"$work/history.json"
check "history: newest first" \
  "$(jget "$work/history.json" '[r["name"] for r in d]')" '["accept-all", "block-link", "alternate-domain", "block-from-domain", "block-link", "demo-s3150"]'
check "history: verdicts" \
  "$(jget "$work/history.json" '[r["verdict"]["fault"] for r in d]')" '["not-reproduced", "ip+content", "domain", "domain", "content", "ip"]'
"$MAILBISECT" ticket "$(jget "$work/ip.json" 'd["run_id"]')" --db "$work/store.db" --out "$work/ticket.md" 2>/dev/null
ticket=$(cat "$work/ticket.md")
check_contains "ticket: verdict heading" "$ticket" "# Refused mail to victim.example: verdict ip"
check_contains "ticket: the receiver's text in full" "$ticket" \
  "550 5.7.1 Messages from [127.0.0.2] weren't sent. Part of their network is on our block list (S3150)"
check_contains "ticket: the IP the receiver named" "$ticket" "IP addresses named in the receiver's replies: 127.0.0.2"
check_contains "ticket: From of the message" "$ticket" "- From: \`news@sender.example\`"
check_contains "ticket: link domains of the message" "$ticket" "click.tracker.example"
check_contains "ticket: a Message-ID of a send" "$ticket" \
  "- Message-ID: \`$(jget "$work/ip.json" 'd["sends"][0]["message_id"]')\`"

rm -rf "$work"
finish
