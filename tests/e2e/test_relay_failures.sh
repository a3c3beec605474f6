#!/usr/bin/env bash
# End to end: what the relay or the bounce mailbox does wrong is never taken for a receiver
# decision, and what can be found before a run stops it before anything is sent. A real
# STARTTLS + AUTH submission port of the lab ESP, a wrong password, an unverifiable certificate,
# an alternate pool that cannot do what its settings ask, an IMAP server that is not there or
# refuses the login.
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
# logs "QUEUEID: client=" once a MAIL FROM is accepted. (The relay check before a run goes as
# far as AUTH; it never starts a mail transaction.)
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

# 2. A wrong password: the check before the run logs in once, the relay refuses (535), and the
#    run stops with a configuration error (exit 78) before anything is journaled or sent.
umask 077
printf 'not-the-password\n' >"$work/wrong-password"
spec auth-wrong "$(auth_pool "$work/wrong-password")"
before=$(esp_sessions)
run auth-wrong
check "wrong password: exit code 78" "$(cat "$work/auth-wrong.rc")" 78
check "wrong password: nothing submitted" "$(esp_sessions)" "$before"
check_contains "wrong password: names the pool" "$(cat "$work/auth-wrong.err")" "pools.primary (submission): "
check_contains "wrong password: the relay's 535 quoted" "$(cat "$work/auth-wrong.err")" ": 535 5.7.8 "
check_contains "wrong password: the credentials are named as the cause" \
  "$(cat "$work/auth-wrong.err")" "credentials problem on your side, not a receiver block; nothing was sent"
check "wrong password: the password is not shown" \
  "$(grep -c 'not-the-password' "$work/auth-wrong.err" "$work/auth-wrong.out" | awk -F: '{n += $2} END {print n}')" 0
# One refused login is enough: no second attempt (no lockout from retries).
check "wrong password: the ESP saw one failed login" \
  "$(grep -c 'submission/smtpd.*authentication failed' "$MB_LAB_LOG_DIR/esp.log" || true)" 1

# 3. STARTTLS with certificate verification and no CA for the lab's self-signed certificate:
#    the check refuses the certificate as a send would (exit 78), nothing is submitted and the
#    password never crosses the connection.
before=$(esp_sessions)
spec tls-unverified "{\"name\": \"submission\", \"host\": \"127.0.0.1\", \"port\": $MB_LAB_AUTH_PORT,
  \"tls\": \"starttls\", \"auth\": {\"user\": \"$MB_LAB_SMTP_USER\", \"password_file\": \"$MB_LAB_SMTP_PASSWORD_FILE\"}}"
run tls-unverified
check "unverified TLS: exit code 78" "$(cat "$work/tls-unverified.rc")" 78
check_contains "unverified TLS: says why" "$(cat "$work/tls-unverified.err")" \
  "pools.primary (submission): certificate of 127.0.0.1:$MB_LAB_AUTH_PORT not accepted: self-signed certificate"
check_contains "unverified TLS: says what to change" "$(cat "$work/tls-unverified.err")" "set ca_file"
check "unverified TLS: the relay queued nothing" "$(esp_sessions)" "$before"
check "unverified TLS: no login tried" \
  "$(grep -c 'submission/smtpd.*authentication failed' "$MB_LAB_LOG_DIR/esp.log" || true)" 1

# 3b. A good primary pool and a bad alternate pool (STARTTLS requested on pool B's port, which
#     does not offer it): the run stops before the primary pool sends anything.
pool_a="{\"name\": \"pool-a\", \"host\": \"127.0.0.1\", \"port\": $MB_LAB_POOL_A_PORT}"
pool_b_tls="{\"name\": \"pool-b\", \"host\": \"127.0.0.1\", \"port\": $MB_LAB_POOL_B_PORT, \"tls\": \"starttls\", \"tls_verify\": false}"
spec alternate-bad "$pool_a, \"alternate\": $pool_b_tls"
sed -i 's/"variants": \["original", "plain-text"\]/"variants": ["original", "plain-text", "alternate-pool"]/; s/"max_messages": 4/"max_messages": 6/' \
  "$work/alternate-bad.json"
before=$(esp_sessions)
run alternate-bad
check "bad alternate pool: exit code 78" "$(cat "$work/alternate-bad.rc")" 78
check_contains "bad alternate pool: names it and the cause" "$(cat "$work/alternate-bad.err")" \
  "pools.alternate (pool-b): 127.0.0.1:$MB_LAB_POOL_B_PORT does not offer STARTTLS"
check "bad alternate pool: nothing sent at all, not even through the primary pool" \
  "$(esp_sessions)" "$before"

# 3c. An alternate pool whose port is not SMTP at all (the lab's IMAP port): a protocol error
#     (exit 76), found before anything is sent.
imap_port=$(sed 's|^imap://[^:/]*:\([0-9]*\)/.*|\1|' <<<"$MB_LAB_IMAP_URL")
pool_b_imap="{\"name\": \"pool-b\", \"host\": \"127.0.0.1\", \"port\": $imap_port}"
spec alternate-imap "$pool_a, \"alternate\": $pool_b_imap"
sed -i 's/"variants": \["original", "plain-text"\]/"variants": ["original", "alternate-pool"]/' \
  "$work/alternate-imap.json"
before=$(esp_sessions)
run alternate-imap
check "alternate pool on the IMAP port: exit code 76" "$(cat "$work/alternate-imap.rc")" 76
check_contains "alternate pool on the IMAP port: says so" "$(cat "$work/alternate-imap.err")" \
  "pools.alternate (pool-b): 127.0.0.1:$imap_port "
check_contains "alternate pool on the IMAP port: not SMTP" "$(cat "$work/alternate-imap.err")" \
  "does not speak SMTP: it greeted with \"* OK"
check "alternate pool on the IMAP port: nothing sent" "$(esp_sessions)" "$before"

# Nothing refused by the check before a run was journaled.
"$MAILBISECT" history --json --db "$work/store.db" >"$work/history.json"
check "refused runs are not in the store" "$(jget "$work/history.json" '[r["name"] for r in d]')" '["auth-ok"]'

# 4. The bounce mailbox cannot be reached: the run stops before the first send (exit 69).
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
