#!/usr/bin/env bash
# End to end: what the relay or the bounce mailbox does wrong is never taken for a receiver
# decision. A real STARTTLS + AUTH submission port of the lab ESP, a wrong password, an
# unverifiable certificate, an IMAP server that is not there or refuses the login.
source "$(dirname "$0")/lib.sh"
need_root
work=$(mktemp -d)
lab_start
. "$MB_LAB_DIR/lab.env"

# spec NAME PRIMARY-POOL-JSON [MAILBOX-JSON] -> writes $work/NAME.json (two variants, one pool)
spec() {
  local mailbox=${3:-"{\"url\": \"$MB_LAB_IMAP_URL\", \"user\": \"$MB_LAB_IMAP_USER\", \"password_file\": \"$MB_LAB_IMAP_PASSWORD_FILE\", \"poll_interval_ms\": 300}"}
  cat >"$work/$1.json" <<JSON
{
  "name": "$1",
  "message": "$MB_SOURCE_DIR/examples/newsletter.eml",
  "domain": "victim.example",
  "recipients": ["alice@victim.example"],
  "envelope_sender": "bounces+{send}@bounces.sender.example",
  "variants": ["original", "plain-text"],
  "pools": {"primary": $2},
  "mailbox": $mailbox,
  "window_seconds": 20,
  "pacing_ms": 100,
  "max_messages": 4
}
JSON
}

# run NAME -> JSON in $work/NAME.out, stderr in $work/NAME.err, exit code in $work/NAME.rc
run() {
  local rc=0
  "$MAILBISECT" run "$work/$1.json" --json --quiet --db "$work/store.db" \
    >"$work/$1.out" 2>"$work/$1.err" || rc=$?
  echo "$rc" >"$work/$1.rc"
}

# How many messages the ESP's submission ports have taken in (its own log, not ours): Postfix
# logs "QUEUEID: client=" once a MAIL FROM is accepted. (The relay probe before a run only
# connects; it never starts a mail transaction.)
esp_sessions() { grep -c 'postfix-lab-esp/\(pool-a\|pool-b\|submission\)/smtpd\[[0-9]*\]: [0-9A-F]*: client=' \
  "$MB_LAB_LOG_DIR/esp.log" || true; }

auth_pool() { # PASSWORD-FILE [EXTRA-JSON]
  echo "{\"name\": \"submission\", \"host\": \"127.0.0.1\", \"port\": $MB_LAB_AUTH_PORT, \"tls\": \"starttls\",
    \"ca_file\": \"$MB_LAB_TLS_CERT\", \"auth\": {\"user\": \"$MB_LAB_SMTP_USER\", \"password_file\": \"$1\"}${2:-}}"
}

# 1. STARTTLS, certificate verified against the lab's CA, AUTH PLAIN with the right password:
#    the receiver accepts everything, so the run is a confirmed not-reproduced.
spec auth-ok "$(auth_pool "$MB_LAB_SMTP_PASSWORD_FILE")"
before=$(esp_sessions)
run auth-ok
check "auth ok: the ESP took in two messages" "$(esp_sessions)" "$((before + 2))"
check "auth ok: exit code" "$(cat "$work/auth-ok.rc")" 0
check "auth ok: verdict" "$(jget "$work/auth-ok.out" 'd["verdict"]["fault"]')" not-reproduced
check "auth ok: both delivered" \
  "$(jget "$work/auth-ok.out" 'sorted(s["state"] for s in d["sends"])')" '["delivered", "delivered"]'

# 2. A wrong password: the relay refuses us (535). That is submit-refused, the run incomplete
#    (exit 75), and the relay's reply is recorded as said.
umask 077
printf 'not-the-password\n' >"$work/wrong-password"
spec auth-wrong "$(auth_pool "$work/wrong-password")"
run auth-wrong
check "wrong password: exit code 75" "$(cat "$work/auth-wrong.rc")" 75
check "wrong password: verdict incomplete" "$(jget "$work/auth-wrong.out" 'd["verdict"]["fault"]')" incomplete
check "wrong password: every send submit-refused" \
  "$(jget "$work/auth-wrong.out" 'sorted(set(s["state"] for s in d["sends"]))')" '["submit-refused"]'
check "wrong password: relay's 535 recorded" \
  "$(jget "$work/auth-wrong.out" 'd["sends"][0]["smtp_code"]')" 535
check "wrong password: no receiver reply invented" \
  "$(jget "$work/auth-wrong.out" 'd["sends"][0]["stage"]')" auth
check_contains "wrong password: the credentials are named as the cause" \
  "$(jget "$work/auth-wrong.out" 'd["verdict"]["next_steps"]')" "credentials problem on your side, not a receiver block"
# One refused login is enough: the second send is not tried (no lockout from retries).
check "wrong password: the ESP saw one failed login" \
  "$(grep -c 'submission/smtpd.*authentication failed' "$MB_LAB_LOG_DIR/esp.log" || true)" 1
check_contains "wrong password: the second send says why it was not sent" \
  "$(jget "$work/auth-wrong.out" 'd["sends"][1]["diagnostic"]')" "not sent: pool submission failed earlier"

# 3. STARTTLS with certificate verification and no CA for the lab's self-signed certificate:
#    a TLS failure is an error, not a refusal, and nothing is submitted.
before=$(esp_sessions)
spec tls-unverified "{\"name\": \"submission\", \"host\": \"127.0.0.1\", \"port\": $MB_LAB_AUTH_PORT,
  \"tls\": \"starttls\", \"auth\": {\"user\": \"$MB_LAB_SMTP_USER\", \"password_file\": \"$MB_LAB_SMTP_PASSWORD_FILE\"}}"
run tls-unverified
check "unverified TLS: exit code 75" "$(cat "$work/tls-unverified.rc")" 75
check "unverified TLS: sends are errors" \
  "$(jget "$work/tls-unverified.out" 'sorted(set(s["state"] for s in d["sends"]))')" '["error"]'
check "unverified TLS: the relay queued nothing" \
  "$(esp_sessions)" "$before"

# 4. The bounce mailbox cannot be reached: the run stops before the first send (exit 69).
pool_a="{\"name\": \"pool-a\", \"host\": \"127.0.0.1\", \"port\": $MB_LAB_POOL_A_PORT}"
before=$(esp_sessions)
spec imap-down "$pool_a" "{\"url\": \"imap://127.0.0.1:1/INBOX\", \"user\": \"bounces\", \"password_file\": \"$MB_LAB_IMAP_PASSWORD_FILE\"}"
run imap-down
check "IMAP unreachable: exit code 69" "$(cat "$work/imap-down.rc")" 69
check_contains "IMAP unreachable: says so" "$(cat "$work/imap-down.err")" "127.0.0.1:1"
check "IMAP unreachable: nothing sent" "$(esp_sessions)" "$before"

# 5. The bounce mailbox refuses the login: also before the first send.
spec imap-badlogin "$pool_a" "{\"url\": \"$MB_LAB_IMAP_URL\", \"user\": \"bounces\", \"password_file\": \"$work/wrong-password\"}"
run imap-badlogin
check "IMAP login refused: exit code 78" "$(cat "$work/imap-badlogin.rc")" 78
check_contains "IMAP login refused: says so" "$(cat "$work/imap-badlogin.err")" "login"
check "IMAP login refused: nothing sent" "$(esp_sessions)" "$before"

for f in "$work"/*.err; do [ -s "$f" ] && { echo "--- $(basename "$f")"; cat "$f"; }; done
rm -rf "$work"
finish
