#!/usr/bin/env bash
# End-to-end proof of the mail lab with swaks and raw SMTP only (no mailbisect code): starts a
# fresh lab, runs each scenario, checks the DSNs in the bounce Maildir and over IMAP, the
# receiver's mailboxes, the AUTH port, and that stop.sh leaves nothing running.
# Prints one PASS/FAIL line per check; exit 0 only when all pass, 77 when not root.
# Usage: tests/lab/selftest.sh [-v]     (MB_LAB_DIR as for start.sh; the lab is stopped at the end)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_need_root
HERE=$MB_LAB_HERE
VERBOSE=0
[ "${1:-}" = "-v" ] && VERBOSE=1
command -v swaks >/dev/null || { echo "FAIL swaks not installed"; exit 1; }
command -v curl >/dev/null || { echo "FAIL curl not installed"; exit 1; }

npass=0
nfail=0
t_start=$(date +%s.%N)
WORK=$(mktemp -d /tmp/mailbisect-lab-selftest.XXXXXX)
RUN=$(date +%s)-$$

pass() { npass=$((npass + 1)); echo "PASS $*"; }
fail() { nfail=$((nfail + 1)); echo "FAIL $*"; }
check() { # description, then a command
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }

finish() {
  local rc=$1
  if [ "$rc" -ne 0 ] && [ -d "$MB_LAB_DIR/log" ]; then
    for f in "$MB_LAB_DIR"/log/*.log; do
      [ -s "$f" ] || continue
      echo "---- tail $f"
      tail -n 20 "$f"
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}

# --- raw SMTP client (bash /dev/tcp): swaks 20201014 cannot send DSN parameters ---------------
REPLY_CODE=
REPLY_TEXT=
smtp_reply() {
  local line
  REPLY_TEXT=
  while IFS= read -r -t 10 line <&3; do
    line=${line%$'\r'}
    REPLY_TEXT+="$line"$'\n'
    [ "$VERBOSE" = 1 ] && echo "   S: $line"
    if [[ $line =~ ^[0-9]{3}(\ |$) ]]; then REPLY_CODE=${line:0:3}; return 0; fi
  done
  REPLY_CODE=000
  return 1
}
smtp_cmd() {
  [ "$VERBOSE" = 1 ] && echo "   C: $1"
  printf '%s\r\n' "$1" >&3
  smtp_reply
}
# smtp_send PORT FROM MAIL-PARAMS RCPT RCPT-PARAMS FILE: 0 when the message was accepted (250
# after DATA); otherwise 1, with the refusing reply in REPLY_CODE/REPLY_TEXT.
smtp_send() {
  local port=$1 from=$2 mp=$3 rcpt=$4 rp=$5 file=$6 rc=1
  exec 3<>"/dev/tcp/127.0.0.1/$port" || { REPLY_CODE=000; REPLY_TEXT="connect failed"; return 1; }
  if smtp_reply && [ "$REPLY_CODE" = 220 ] &&
    smtp_cmd "EHLO selftest.sender.example" && [ "$REPLY_CODE" = 250 ] &&
    smtp_cmd "MAIL FROM:<$from>${mp:+ $mp}" && [ "$REPLY_CODE" = 250 ] &&
    smtp_cmd "RCPT TO:<$rcpt>${rp:+ $rp}" && [ "$REPLY_CODE" = 250 ] &&
    smtp_cmd "DATA" && [ "$REPLY_CODE" = 354 ]; then
    sed -e 's/\r$//' -e 's/^\./../' -e 's/$/\r/' "$file" >&3
    printf '.\r\n' >&3
    smtp_reply && [ "$REPLY_CODE" = 250 ] && rc=0
  fi
  local code=$REPLY_CODE text=$REPLY_TEXT
  smtp_cmd QUIT >/dev/null 2>&1
  exec 3<&- 3>&-
  REPLY_CODE=$code
  REPLY_TEXT=$text
  return $rc
}
# dsn_send PORT ENVID RCPT FILE: a send with the DSN requests mailbisect makes.
dsn_send() {
  smtp_send "$1" "bounces+$2@bounces.sender.example" "RET=HDRS ENVID=$2" "$3" \
    "NOTIFY=SUCCESS,FAILURE,DELAY" "$4"
}

# --- mailbox helpers ----------------------------------------------------------------------------
# unfolded FILE: header/field continuation lines joined, whitespace runs collapsed (Postfix folds
# long Diagnostic-Code lines in DSNs).
unfolded() {
  sed -e 's/\r$//' "$1" | awk '
    /^[ \t]/ { sub(/^[ \t]+/, " "); buf = buf $0; next }
    { if (NR > 1) print buf; buf = $0 }
    END { print buf }' | tr -s ' \t' ' '
}
# wait_dsn ENVID ACTION SECONDS: prints the path of the DSN for ENVID with "Action: ACTION"
wait_dsn() {
  local envid=$1 action=$2 secs=$3 end f
  end=$(($(date +%s%N) / 1000000 + secs * 1000))
  while :; do
    for f in "$MB_LAB_BOUNCE_MAILDIR"/new/* "$MB_LAB_BOUNCE_MAILDIR"/cur/*; do
      [ -f "$f" ] || continue
      # Maildir files may carry CRLF or LF line ends; compare without the CR.
      if tr -d '\r' <"$f" | grep -qxF "Original-Envelope-Id: $envid" &&
        tr -d '\r' <"$f" | grep -qixF "Action: $action"; then
        echo "$f"
        return 0
      fi
    done
    [ $(($(date +%s%N) / 1000000)) -ge "$end" ] && return 1
    sleep 0.05
  done
}
# wait_delivered USER MESSAGE-ID SECONDS: the message is in USER@victim.example's Maildir
wait_delivered() {
  local user=$1 mid=$2 secs=$3 end
  end=$(($(date +%s%N) / 1000000 + secs * 1000))
  while :; do
    grep -rqiF "Message-ID: <$mid>" "$MB_LAB_RECEIVER_MAILDIRS/$user/Maildir/new" \
      "$MB_LAB_RECEIVER_MAILDIRS/$user/Maildir/cur" 2>/dev/null && return 0
    [ $(($(date +%s%N) / 1000000)) -ge "$end" ] && return 1
    sleep 0.05
  done
}
has_text() { # FILE TEXT: TEXT in the unfolded file
  unfolded "$1" | grep -qF -- "$2"
}

# --- test messages ------------------------------------------------------------------------------
msg_plain() { # id from to -> file
  local f="$WORK/$1.eml"
  cat >"$f" <<EOF
From: News <$2>
To: <$3>
Subject: lab selftest $1
Date: $(date -R)
Message-ID: <$1.$RUN@sender.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Plain test message $1.
EOF
  echo "$f"
}
msg_html() { # id link(yes|no) -> file; quoted-printable HTML, the link split by a soft line break
  local f="$WORK/$1.eml" a
  if [ "$2" = yes ]; then
    a='<a href=3D"http://click.tracker=
.example/x?u=3D1">Read the news</a>'
  else
    a='Read the news'
  fi
  cat >"$f" <<EOF
From: News <news@news.example>
To: <alice@victim.example>
Subject: lab selftest $1
Date: $(date -R)
Message-ID: <$1.$RUN@sender.example>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Read the news.

--b1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<html><body><p>Caf=C3=A9 news: $a</p></body></html>

--b1--
EOF
  echo "$f"
}
msg_pdf() { # id -> file with a PDF attachment
  local f="$WORK/$1.eml"
  cat >"$f" <<EOF
From: News <news@news.example>
To: <alice@victim.example>
Subject: lab selftest $1
Date: $(date -R)
Message-ID: <$1.$RUN@sender.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b2"

--b2
Content-Type: text/plain; charset=utf-8

Invoice attached.

--b2
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="invoice.PDF"
Content-Transfer-Encoding: base64

$(printf '%%PDF-1.4\n%%lab\n' | base64)

--b2--
EOF
  echo "$f"
}

# ================================================================================================
echo "== starting the lab in $MB_LAB_DIR"
t=$(date +%s.%N)
if ! bash "$HERE/start.sh" accept-all; then
  fail "start.sh"
  finish 1
fi
pass "start.sh ($(elapsed "$t") s)"
# shellcheck disable=SC1091
. "$MB_LAB_DIR/lab.env"
check "lab.env has the documented keys" bash -c '
  . "$1"; for k in MB_LAB_DIR MB_LAB_POOL_A_PORT MB_LAB_POOL_B_PORT MB_LAB_AUTH_PORT MB_LAB_IMAP_URL \
    MB_LAB_IMAP_USER MB_LAB_IMAP_PASSWORD_FILE MB_LAB_SMTP_USER MB_LAB_SMTP_PASSWORD_FILE \
    MB_LAB_RECEIVER MB_LAB_SCENARIO MB_LAB_BOUNCE_MAILDIR MB_LAB_RECEIVER_MAILDIRS; do
    [ -n "${!k:-}" ] || { echo "missing $k"; exit 1; }; done' _ "$MB_LAB_DIR/lab.env"
check "secret files are mode 0600" bash -c \
  '[ "$(stat -c %a "$1")" = 600 ] && [ "$(stat -c %a "$2")" = 600 ]' _ \
  "$MB_LAB_IMAP_PASSWORD_FILE" "$MB_LAB_SMTP_PASSWORD_FILE"

# --- accept-all ---------------------------------------------------------------------------------
f=$(msg_plain t1 news@sender.example alice@victim.example)
t=$(date +%s.%N)
if dsn_send "$MB_LAB_POOL_A_PORT" t1 alice@victim.example "$f"; then
  pass "accept-all: pool A accepts t1 (250)"
  if dsn=$(wait_dsn t1 delivered 5); then
    pass "accept-all: success DSN (Action: delivered, Original-Envelope-Id: t1) in $(elapsed "$t") s"
    cp "$dsn" "$WORK/success-dsn.eml"
  else
    fail "accept-all: no success DSN for t1 within 5 s"
  fi
  check "accept-all: t1 is in alice's Maildir" wait_delivered alice "t1.$RUN@sender.example" 5
else
  fail "accept-all: pool A refused t1: $REPLY_TEXT"
fi

# --- block-pool-a -------------------------------------------------------------------------------
bash "$HERE/scenario.sh" block-pool-a >/dev/null
S3150_A="550 5.7.1 Messages from [127.0.0.2] weren't sent. Part of their network is on our block list (S3150)"
f=$(msg_plain t2 news@sender.example alice@victim.example)
if dsn_send "$MB_LAB_POOL_A_PORT" t2 alice@victim.example "$f"; then
  if dsn=$(wait_dsn t2 failed 5); then
    check "block-pool-a: pool A failure DSN carries the S3150 text with [127.0.0.2]" has_text "$dsn" "$S3150_A"
    check "block-pool-a: failure DSN has Original-Envelope-Id: t2 and Status: 5.7.1" \
      bash -c 'grep -q "^Original-Envelope-Id: t2" "$1" && grep -q "^Status: 5.7.1" "$1"' _ "$dsn"
    cp "$dsn" "$WORK/failure-dsn.eml"
  else
    fail "block-pool-a: no failure DSN for t2 within 5 s"
  fi
else
  fail "block-pool-a: ESP refused t2 at submission: $REPLY_TEXT"
fi
f=$(msg_plain t3 news@sender.example alice@victim.example)
if dsn_send "$MB_LAB_POOL_B_PORT" t3 alice@victim.example "$f" && wait_dsn t3 delivered 5 >/dev/null &&
  wait_delivered alice "t3.$RUN@sender.example" 5; then
  pass "block-pool-a: pool B delivers (success DSN + alice's Maildir)"
else
  fail "block-pool-a: pool B did not deliver t3 ($REPLY_TEXT)"
fi

# --- block-link ---------------------------------------------------------------------------------
bash "$HERE/scenario.sh" block-link >/dev/null
f=$(msg_html t4 yes)
if dsn_send "$MB_LAB_POOL_B_PORT" t4 alice@victim.example "$f" && dsn=$(wait_dsn t4 failed 5); then
  check "block-link: quoted-printable HTML link -> 554 5.7.1 security policies DSN" \
    has_text "$dsn" "554 5.7.1 Email rejected due to security policies"
else
  fail "block-link: no failure DSN for t4 ($REPLY_TEXT)"
fi
f=$(msg_html t5 no)
if dsn_send "$MB_LAB_POOL_B_PORT" t5 alice@victim.example "$f" && wait_dsn t5 delivered 5 >/dev/null &&
  wait_delivered alice "t5.$RUN@sender.example" 5; then
  pass "block-link: the same message without the link is delivered"
else
  fail "block-link: t5 without the link was not delivered ($REPLY_TEXT)"
fi

# --- block-from-domain --------------------------------------------------------------------------
bash "$HERE/scenario.sh" block-from-domain >/dev/null
f=$(msg_plain t6 news@sender.example alice@victim.example)
DMARC="550 5.7.26 Unauthenticated email from sender.example is not accepted due to domain's DMARC policy. Please contact the administrator of sender.example domain if this was a legitimate mail."
if dsn_send "$MB_LAB_POOL_B_PORT" t6 alice@victim.example "$f" && dsn=$(wait_dsn t6 failed 5); then
  check "block-from-domain: From news@sender.example -> 5.7.26 DMARC DSN" has_text "$dsn" "$DMARC"
else
  fail "block-from-domain: no failure DSN for t6 ($REPLY_TEXT)"
fi

# --- unknown-user -------------------------------------------------------------------------------
bash "$HERE/scenario.sh" unknown-user >/dev/null
f=$(msg_plain t7 news@sender.example nobody@victim.example)
if dsn_send "$MB_LAB_POOL_A_PORT" t7 nobody@victim.example "$f" && dsn=$(wait_dsn t7 failed 5); then
  check "unknown-user: nobody@victim.example -> 5.1.1 DSN" has_text "$dsn" \
    "550 5.1.1 <nobody@victim.example>: Recipient address rejected: User unknown"
else
  fail "unknown-user: no failure DSN for t7 ($REPLY_TEXT)"
fi

# --- block-pdf ----------------------------------------------------------------------------------
bash "$HERE/scenario.sh" block-pdf >/dev/null
f=$(msg_pdf t8)
if dsn_send "$MB_LAB_POOL_A_PORT" t8 alice@victim.example "$f" && dsn=$(wait_dsn t8 failed 5); then
  check "block-pdf: .PDF attachment -> 552 5.7.0 DSN" has_text "$dsn" \
    "552 5.7.0 This message was blocked because its content presents a potential security issue."
else
  fail "block-pdf: no failure DSN for t8 ($REPLY_TEXT)"
fi

# --- mailbox-full (accepted, then bounced by the receiver) --------------------------------------
bash "$HERE/scenario.sh" mailbox-full >/dev/null
f=$(msg_plain t9 news@sender.example full@victim.example)
if dsn_send "$MB_LAB_POOL_A_PORT" t9 full@victim.example "$f" && dsn=$(wait_dsn t9 failed 5); then
  check "mailbox-full: async failure DSN from mx.victim.example, Status 5.2.2" bash -c \
    'grep -q "^Reporting-MTA: dns; mx.victim.example" "$1" && grep -q "^Status: 5.2.2" "$1"' _ "$dsn"
else
  fail "mailbox-full: no failure DSN for t9 ($REPLY_TEXT)"
fi

# --- random-half --------------------------------------------------------------------------------
bash "$HERE/scenario.sh" random-half >/dev/null
ok=0 bad=0
for i in 1 2 3 4 5 6 7 8; do
  f=$(msg_plain "r$i" news@sender.example alice@victim.example)
  dsn_send "$MB_LAB_POOL_B_PORT" "r$i" alice@victim.example "$f" || true
done
for i in 1 2 3 4 5 6 7 8; do
  if wait_dsn "r$i" delivered 0 >/dev/null || wait_dsn "r$i" delivered 3 >/dev/null; then ok=$((ok + 1))
  elif wait_dsn "r$i" failed 2 >/dev/null; then bad=$((bad + 1)); fi
done
check "random-half: 8 sends resolved, some delivered ($ok) and some blocked ($bad)" \
  test $((ok + bad)) -eq 8 -a "$ok" -gt 0 -a "$bad" -gt 0

# --- defer-pool-a: 451 at RCPT, the ESP retries and sends a "delayed" DSN ------------------------
bash "$HERE/scenario.sh" defer-pool-a >/dev/null
f=$(msg_plain t10 news@sender.example alice@victim.example)
t=$(date +%s.%N)
if dsn_send "$MB_LAB_POOL_A_PORT" t10 alice@victim.example "$f" && dsn=$(wait_dsn t10 delayed 10); then
  check "defer-pool-a: delayed DSN with the 451 4.7.1 text after $(elapsed "$t") s" \
    has_text "$dsn" "451 4.7.1 Temporarily deferred, try again later"
else
  fail "defer-pool-a: no delayed DSN for t10 within 10 s ($REPLY_TEXT)"
fi
bash "$HERE/scenario.sh" accept-all >/dev/null
if wait_dsn t10 delivered 10 >/dev/null; then
  pass "defer-pool-a: after the scenario switch the retry delivers t10"
else
  fail "defer-pool-a: t10 not delivered after switching to accept-all"
fi

# --- AUTH port ----------------------------------------------------------------------------------
sw() { swaks --server 127.0.0.1 --port "$MB_LAB_AUTH_PORT" --from sender@sender.example \
  --to alice@victim.example --helo selftest.sender.example "$@"; }
out=$(sw --quit-after MAIL 2>&1)
if echo "$out" | grep -qE '^<~?\** *5[0-9][0-9] '; then
  pass "AUTH port: MAIL without STARTTLS/AUTH refused ($(echo "$out" | grep -m1 -E '^<~?\** *5' | tr -d '\r'))"
else
  fail "AUTH port: MAIL without STARTTLS/AUTH not refused: $out"
fi
out=$(sw --tls --quit-after MAIL 2>&1)
if echo "$out" | grep -qE '^<~?\** *5[0-9][0-9] '; then
  pass "AUTH port: MAIL over STARTTLS without AUTH refused ($(echo "$out" | grep -m1 -E '^<~?\** *5' | tr -d '\r'))"
else
  fail "AUTH port: MAIL over STARTTLS without AUTH not refused: $out"
fi
out=$(SWAKS_OPT_auth_password=wrong-password sw --tls --auth PLAIN --auth-user "$MB_LAB_SMTP_USER" 2>&1)
if echo "$out" | grep -qE '^<~?\** *535 '; then
  pass "AUTH port: a wrong password is refused (535)"
else
  fail "AUTH port: wrong password not refused: $out"
fi
out=$(SWAKS_OPT_auth_password=$(cat "$MB_LAB_SMTP_PASSWORD_FILE") sw --tls --auth PLAIN \
  --auth-user "$MB_LAB_SMTP_USER" --header "Message-ID: <auth.$RUN@sender.example>" 2>&1)
if echo "$out" | grep -qE '^<~?\** *235 ' && echo "$out" | grep -qE '^<~?\** *250 .*queued'; then
  pass "AUTH port: STARTTLS + AUTH PLAIN with the password file accepted"
  check "AUTH port: the authenticated message reaches alice's Maildir" \
    wait_delivered alice "auth.$RUN@sender.example" 5
else
  fail "AUTH port: authenticated submission failed: $out"
fi

# --- IMAP ---------------------------------------------------------------------------------------
ndsn=$(grep -l '^Original-Envelope-Id: ' "$MB_LAB_BOUNCE_MAILDIR"/new/* "$MB_LAB_BOUNCE_MAILDIR"/cur/* 2>/dev/null | wc -l)
imap_pw=$(cat "$MB_LAB_IMAP_PASSWORD_FILE")
out=$(curl -s --max-time 10 --user "$MB_LAB_IMAP_USER:$imap_pw" "$MB_LAB_IMAP_URL" -X 'UID SEARCH ALL' 2>&1)
uids=$(echo "$out" | tr -d '\r' | sed -n 's/^\* SEARCH//p' | wc -w)
check "IMAP: UID SEARCH ALL lists the $ndsn DSNs of the bounce Maildir (got $uids UIDs)" \
  test "$uids" -ge "$ndsn" -a "$ndsn" -ge 14
first=$(echo "$out" | tr -d '\r' | sed -n 's/^\* SEARCH //p' | awk '{print $1}')
out=$(curl -s --max-time 10 --user "$MB_LAB_IMAP_USER:$imap_pw" "${MB_LAB_IMAP_URL};UID=${first:-1}" 2>&1)
check "IMAP: ;UID=$first fetches a DSN (multipart/report with Original-Envelope-Id)" \
  bash -c 'grep -q "report-type=delivery-status" <<<"$1" && grep -q "^Original-Envelope-Id: " <<<"$1"' _ "$out"
out=$(curl -s --max-time 10 --user "$MB_LAB_IMAP_USER:wrong" "$MB_LAB_IMAP_URL" -X 'UID SEARCH ALL' 2>&1; echo "rc=$?")
check "IMAP: a wrong password is refused" bash -c '! grep -q "^\* SEARCH" <<<"$1" && ! grep -q "rc=0$" <<<"$1"' _ "$out"
out=$(curl -s --max-time 10 --user "alice@victim.example:$imap_pw" "$MB_LAB_IMAP_URL" -X 'UID SEARCH ALL' 2>&1)
check "IMAP: seed mailbox alice@victim.example lists its messages" \
  test "$(echo "$out" | tr -d '\r' | sed -n 's/^\* SEARCH//p' | wc -w)" -ge 4

# --- samples for the curious ---------------------------------------------------------------------
if [ "$VERBOSE" = 1 ]; then
  for s in failure-dsn success-dsn; do
    [ -f "$WORK/$s.eml" ] && { echo "==== $s"; cat "$WORK/$s.eml"; }
  done
fi

# --- no leaks: nothing sent outside, nothing left running --------------------------------------
check "no delivery attempt left loopback (no error: transport use in the logs)" \
  bash -c '! grep -h "no route beyond the lab\|no local delivery" "$1"/log/esp.log "$1"/log/receiver.log' _ "$MB_LAB_DIR"
# the tail of the logs is needed if something fails, so this is the last check before stop
[ "$nfail" -gt 0 ] && MB_LAB_KEEP=1 || MB_LAB_KEEP=0
if [ "$nfail" -gt 0 ]; then
  for f in "$MB_LAB_DIR"/log/*.log; do [ -s "$f" ] && { echo "---- tail $f"; tail -n 20 "$f"; }; done
fi
t=$(date +%s.%N)
if MB_LAB_KEEP=$MB_LAB_KEEP bash "$HERE/stop.sh" >/dev/null; then
  pass "stop.sh ($(elapsed "$t") s)"
else
  fail "stop.sh"
fi
left=$(lab_pids)
check "stop.sh leaves no postfix/dovecot/milter process of the lab${left:+ (left: $(echo $left))}" test -z "$left"
busy=$(ss -Hltn 2>/dev/null | awk '{print $4}' | grep -E '^127\.0\.0\.1:(2525|2526|2527|2587|1143)$|^127\.0\.0\.10:2500$' || true)
check "stop.sh closes every lab port${busy:+ (still open: $(echo $busy))}" test -z "$busy"
check "stop.sh is idempotent" bash "$HERE/stop.sh"

echo "== $npass passed, $nfail failed, $(elapsed "$t_start") s"
rm -rf "$WORK"
[ "$nfail" -eq 0 ] && exit 0
exit 1
