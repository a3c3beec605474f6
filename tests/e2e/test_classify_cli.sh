#!/usr/bin/env bash
# `mailbisect classify` on bounces written as files: a Postfix DSN, a Maildir, LF/CRLF/CR
# mbox files, standard input, garbage, missing and oversize inputs, single replies with their
# stage, --json records and --rules files. Output and exit codes are checked against the
# fixtures' real values. Needs no lab (and no root).
source "$(dirname "$0")/lib.sh"
fixtures="$MB_SOURCE_DIR/tests/fixtures/classify"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# run NAME ARGS... : runs the binary, keeps stdout/stderr in $work/out and $work/err, and the
# exit code in $rc
run() {
  rc=0
  "$MAILBISECT" "$@" >"$work/out" 2>"$work/err" </dev/null || rc=$?
}

# jl EXPRESSION : evaluates a Python expression on L, the list of JSON objects in $work/out
# (one per line); every line must be a JSON object
jl() {
  python3 -c 'import json,sys
L=[json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
assert all(isinstance(o, dict) for o in L)
try:
    v=eval(sys.argv[2])
except (IndexError, KeyError, TypeError) as e:
    v="(no such value: %r)" % e
print("null" if v is None else (json.dumps(v) if isinstance(v,(list,dict,bool)) else v))' "$work/out" "$1"
}

keys='["action","diagnostic","diagnostic_type","envid","fault","feedback_type","file","hard","index","kind","message","original_message_id","provider","reason","recipient","remote_mta","replycode","stage","status"]'

# ---- A Postfix DSN: two recipients refused at RCPT ---------------------------------------
dsn="$fixtures/postfix-s3150.eml"
run classify "$dsn"
check "dsn text: exit code" "$rc" 0
check "dsn text: one line per recipient" "$(wc -l <"$work/out")" 2
line1=$(sed -n 1p "$work/out")
for want in "postfix-s3150.eml" "alice@victim.example" " dsn " " failed " " 5.7.1 " " 550 " " rcpt " " blocked " " ip " " hard " "block list (S3150)"; do
  check_contains "dsn text: line 1 has '$want'" "$line1" "$want"
done
check_contains "dsn text: line 2" "$(sed -n 2p "$work/out")" "bob@victim.example"
check_contains "dsn text: line 2 reason" "$(sed -n 2p "$work/out")" " userunknown "
check "dsn text: summary on stderr" "$(cat "$work/err")" \
  "mailbisect: messages 1, bounces 1 (records 2), not bounces 0, errors 0"

run classify --json --quiet "$dsn"
check "dsn json: exit code" "$rc" 0
check "dsn json: --quiet leaves out the summary" "$(cat "$work/err")" ""
check "dsn json: two records" "$(jl 'len(L)')" 2
check "dsn json: every key on every line" "$(jl 'all(sorted(o) == '"$keys"' for o in L)')" true
check "dsn json: file" "$(jl 'L[0]["file"]')" "$dsn"
check "dsn json: message" "$(jl 'L[0]["message"]')" 1
check "dsn json: index" "$(jl '[o["index"] for o in L]')" "[1, 2]"
check "dsn json: recipient" "$(jl 'L[0]["recipient"]')" alice@victim.example
check "dsn json: action" "$(jl 'L[0]["action"]')" failed
check "dsn json: status" "$(jl 'L[0]["status"]')" 5.7.1
check "dsn json: replycode is a number" "$(jl 'L[0]["replycode"] == 550')" true
check "dsn json: diagnostic unfolded and whole" "$(jl 'L[0]["diagnostic"]')" \
  "550 5.7.1 Messages from [198.51.100.7] weren't sent. Part of their network is on our block list (S3150)"
check "dsn json: remote_mta" "$(jl 'L[0]["remote_mta"]')" mx1.victim.example
check "dsn json: stage" "$(jl 'L[0]["stage"]')" rcpt
check "dsn json: reason" "$(jl 'L[0]["reason"]')" blocked
check "dsn json: fault" "$(jl 'L[0]["fault"]')" ip
check "dsn json: hard" "$(jl 'L[0]["hard"]')" true
check "dsn json: kind" "$(jl 'L[0]["kind"]')" dsn
check "dsn json: feedback_type" "$(jl 'L[0]["feedback_type"]')" null
check "dsn json: envid" "$(jl 'L[0]["envid"]')" k7q2-1
check "dsn json: second recipient" "$(jl '[L[1][k] for k in ("recipient","status","reason","fault")]')" \
  '["bob@victim.example", "5.1.1", "userunknown", "recipient"]'

# Bytes that are not UTF-8 (a Latin-1 reply): JSON stays valid, the text form escapes them.
python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); open(sys.argv[2],"wb").write(d.replace(b"weren\x27t sent", b"n\xe9 sent"))' \
  "$dsn" "$work/latin1.eml"
run classify --json "$work/latin1.eml"
check "latin-1 json: U+FFFD for the byte" "$(jl 'L[0]["diagnostic"].replace("\ufffd", "<U+FFFD>")')" \
  "550 5.7.1 Messages from [198.51.100.7] n<U+FFFD> sent. Part of their network is on our block list (S3150)"
run classify "$work/latin1.eml"
check_contains "latin-1 text: escaped" "$(sed -n 1p "$work/out")" '[198.51.100.7] n\xE9 sent'

# ---- A Maildir: cur/ then new/, sorted; a message that is not a bounce prints nothing -----
run classify --json "$fixtures/maildir"
check "maildir: exit code" "$rc" 0
check "maildir: files in order" "$(jl '[o["file"].split("/maildir/")[1] for o in L]')" \
  '["cur/1796367700.M101P2001.lab.example:2,S", "new/1796367900.M103P2001.lab.example"]'
check "maildir: delayed record" "$(jl '[L[0][k] for k in ("action","status","replycode","reason","fault","hard")]')" \
  '["delayed", "4.7.0", 421, "expired", "transient", false]'
check "maildir: feedback report" "$(jl '[L[1][k] for k in ("kind","feedback_type","recipient","reason")]')" \
  '["feedback", "abuse", "erin@isp.example", "feedback"]'
check "maildir: summary counts the message that is not a bounce" "$(cat "$work/err")" \
  "mailbisect: messages 3, bounces 2 (records 2), not bounces 1, errors 0"
run classify "$fixtures/maildir/"
check_contains "maildir text: feedback type shown" "$(cat "$work/out")" "feedback-type=abuse"

# ---- mbox files: LF, CRLF and CR line ends give the same records ------------------------
# The bounce reader itself must read a CR-only message (bounce.h: LF, CRLF or CR line ends).
tr '\n' '\r' <"$dsn" >"$work/cr-only.eml"
run classify --json "$work/cr-only.eml"
check "CR-only message: read by the bounce reader" "$(jl '[o["recipient"] for o in L]')" \
  '["alice@victim.example", "bob@victim.example"]'
for box in box box-crlf box-cr; do
  run classify --json "$fixtures/$box.mbox"
  check "$box: exit code" "$rc" 0
  # three messages: the unescaped "From here on" line in message 2 did not split it
  check_contains "$box: split into three messages" "$(cat "$work/err")" "mailbisect: messages 3,"
  check "$box: summary" "$(cat "$work/err")" \
    "mailbisect: messages 3, bounces 2 (records 2), not bounces 1, errors 0"
  check "$box: file names the mbox" "$(jl '[o["file"] for o in L]')" \
    "[\"$fixtures/$box.mbox\", \"$fixtures/$box.mbox\"]"
  check "$box: message numbers" "$(jl '[o["message"] for o in L]')" "[1, 3]"
  check "$box: message 1 (Exim text)" "$(jl '[L[0][k] for k in ("kind","recipient","replycode","status","stage","reason","fault","provider")]')" \
    '["ndr", "frank@victim.example", 554, "5.7.1", "data", "policyviolation", "content", "exim"]'
  check "$box: message 3 (DMARC)" "$(jl '[L[1][k] for k in ("recipient","status","reason","fault","envid")]')" \
    '["grace@victim.example", "5.7.26", "authfailure", "domain", "k7q2-5"]'
  check "$box: diagnostic without line ends" "$(jl 'any(c in o["diagnostic"] for o in L for c in "\r\n")')" false
done
run classify "$fixtures/box-crlf.mbox"
check_contains "mbox text: FILE#N" "$(sed -n 2p "$work/out")" "box-crlf.mbox#3 "

# ---- Standard input: an mbox, a single message, the default when no PATH is given -------
rc=0
"$MAILBISECT" classify --json - <"$fixtures/box.mbox" >"$work/out" 2>"$work/err" || rc=$?
check "stdin mbox: exit code" "$rc" 0
check "stdin mbox: records" "$(jl '[(o["file"], o["message"], o["recipient"]) for o in L]')" \
  '[["-", 1, "frank@victim.example"], ["-", 3, "grace@victim.example"]]'
rc=0
"$MAILBISECT" classify --json <"$dsn" >"$work/out" 2>"$work/err" || rc=$?
check "stdin message: exit code" "$rc" 0
check "stdin message: records" "$(jl '[(o["file"], o["recipient"]) for o in L]')" \
  '[["-", "alice@victim.example"], ["-", "bob@victim.example"]]'

# ---- Inputs that cannot be read: one line each on stderr, the batch goes on -------------
printf '\x00\x01\x02 binary garbage \xff\xfe' >"$work/garbage.bin"
: >"$work/empty.eml"
run classify "$work/garbage.bin" "$dsn"
check "garbage: exit code 65" "$rc" 65
check_contains "garbage: named" "$(cat "$work/err")" "mailbisect: $work/garbage.bin: not a message"
check "garbage: the good file is still read" "$(grep -c victim.example "$work/out")" 2
run classify "$work/empty.eml"
check "empty file: exit code 65" "$rc" 65
check_contains "empty file: named" "$(cat "$work/err")" "$work/empty.eml: empty file"
run classify --json "$work/missing.eml" "$work/garbage.bin" "$dsn"
check "missing file: exit code 66 wins over 65" "$rc" 66
check_contains "missing file: named" "$(cat "$work/err")" \
  "mailbisect: $work/missing.eml: cannot open: No such file or directory"
check "missing file: one error line per input" "$(grep -c '^mailbisect: /' "$work/err")" 2
check "missing file: summary" "$(tail -1 "$work/err")" \
  "mailbisect: messages 2, bounces 1 (records 2), not bounces 0, errors 2"
check "missing file: the good file is still read" "$(jl 'len(L)')" 2
mkdir "$work/folder"
cp "$dsn" "$work/folder/a.eml"
ln -s "$work/nowhere.eml" "$work/folder/b-dangling.eml"
cp "$fixtures/box.mbox" "$work/folder/c.mbox"
run classify --json "$work/folder"
check "folder: unreadable file gives 66" "$rc" 66
check_contains "folder: unreadable file named" "$(cat "$work/err")" "$work/folder/b-dangling.eml: cannot open"
check "folder: the other files are read" "$(jl '[(o["file"].rsplit("/",1)[1], o["message"]) for o in L]')" \
  '[["a.eml", 1], ["a.eml", 1], ["c.mbox", 1], ["c.mbox", 3]]'

# Over the size limit (MB_MAX_MESSAGE_BYTES, 50 MiB): only that message is skipped.
python3 - "$dsn" "$work/big.mbox" <<'PY'
import sys
dsn = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as f:
    for n in range(3):
        f.write(b"From MAILER-DAEMON Fri Dec  4 07:0%d:00 2026\n" % n)
        f.write(dsn)
        if n == 1:
            line = b"x" * 1023 + b"\n"
            for _ in range(51 * 1024):
                f.write(line)
        f.write(b"\n")
PY
run classify --json "$work/big.mbox"
check "oversize: exit code 65" "$rc" 65
check_contains "oversize: message named" "$(cat "$work/err")" \
  "$work/big.mbox#2: larger than the limit of 52428800 bytes; skipped"
check "oversize: messages 1 and 3 read" "$(jl '[o["message"] for o in L]')" "[1, 1, 3, 3]"

# Standard output that cannot be written stops the batch with 74, said once.
if [ -w /dev/full ]; then
  rc=0
  "$MAILBISECT" classify "$fixtures/maildir" "$dsn" >/dev/full 2>"$work/err" || rc=$?
  check "stdout full: exit code 74" "$rc" 74
  check "stdout full: one line on stderr" "$(grep -c 'standard output' "$work/err")" 1
  check "stdout full: no summary" "$(grep -c 'messages' "$work/err")" 0
fi

# ---- One reply, with its stage ----------------------------------------------------------
s3150="550 5.7.1 Messages from [198.51.100.7] weren't sent. Part of their network is on our block list (S3150)"
run classify --reply "$s3150" --stage rcpt --json
check "reply: exit code" "$rc" 0
check "reply json" "$(jl '[L[0][k] for k in ("reply","stage","replycode","status","reason","fault","hard")]')" \
  "[\"$s3150\", \"rcpt\", 550, \"5.7.1\", \"blocked\", \"ip\", true]"
run classify --reply "554 5.7.1 Email rejected due to security policies" --stage data
check "reply text: exit code" "$rc" 0
check_contains "reply at data: content" "$(cat "$work/out")" "policyviolation  content     hard data    554 5.7.1"
run classify --reply "554 5.7.1 Email rejected due to security policies" --stage mail --json
check "reply at mail: no content fault before DATA" "$(jl 'L[0]["fault"]')" unknown
run classify --reply "421 4.7.0 Try again later, closing connection." --stage connect --json
check "reply 4xx: soft, transient" "$(jl '[L[0]["hard"], L[0]["fault"], L[0]["stage"]]')" '[false, "transient", "connect"]'
run classify --reply "550 5.1.1 <bob@victim.example>: Recipient address rejected: User unknown" --stage rcpt --json
check "reply user unknown" "$(jl '[L[0]["reason"], L[0]["fault"]]')" '["userunknown", "recipient"]'

# ---- --rules ------------------------------------------------------------------------------
acme="550 5.7.1 Rejected by Acme Shield: poor sender reputation"
run classify --reply "$acme" --stage rcpt --json
check "rules: built-in answer" "$(jl 'L[0]["reason"]')" badreputation
run classify --rules "$fixtures/rules-good.json" --reply "$acme" --stage rcpt --json
check "rules: file rule first" "$(jl 'L[0]["reason"]')" blocked
run classify --rules "$fixtures/rules-good.json" --json "$dsn"
check "rules: used for files too" "$(jl '[o["reason"] for o in L]')" '["badreputation", "userunknown"]'
run classify --rules "$fixtures/rules-unknown-key.json" "$dsn"
check "bad rule: exit code 78" "$rc" 78
check_contains "bad rule: file and rule named" "$(cat "$work/err")" "rules-unknown-key.json: rule 2: unknown key \"colour\""
check "bad rule: nothing classified" "$(cat "$work/out")" ""
run classify --rules "$fixtures/rules-not-array.json" --reply "$acme"
check "rules not an array: exit code 65" "$rc" 65
check_contains "rules not an array: file named" "$(cat "$work/err")" "rules-not-array.json"
run classify --rules "$work/no-rules.json" "$dsn"
check "rules missing: exit code 66" "$rc" 66
check_contains "rules missing: file named" "$(cat "$work/err")" "no-rules.json"

# ---- Usage --------------------------------------------------------------------------------
run classify --stage rcpt "$dsn"
check "--stage without --reply: 64" "$rc" 64
check_contains "--stage without --reply: said" "$(cat "$work/err")" "--stage goes with --reply"
run classify --reply "$acme" --stage body
check "unknown stage: 64" "$rc" 64
check_contains "unknown stage: the stages are listed" "$(cat "$work/err")" "connect, helo, auth, mail, rcpt, data; got body"
run classify --reply "$acme" "$dsn"
check "--reply with a PATH: 64" "$rc" 64
run classify --reply
check "--reply without text: 64" "$rc" 64

# More recipients than the reader takes from one report: said on stderr, never silently.
# many_report FILE N: a delivery report listing N failed recipients
many_report() {
  python3 - "$1" "$2" <<'PY'
import sys
groups = "".join("Final-Recipient: rfc822; u%d@victim.example\nAction: failed\nStatus: 5.1.1\n"
                 "Diagnostic-Code: smtp; 550 5.1.1 User unknown\n\n" % i
                 for i in range(int(sys.argv[2])))
open(sys.argv[1], "w").write(
    "From: MAILER-DAEMON@mx.example\nTo: bounces@sender.example\n"
    "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n"
    "--b\nContent-Type: text/plain\n\nThe mail could not be delivered.\n\n"
    "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\n"
    + groups + "--b--\n")
PY
}
many_report "$work/many.eml" 600
run classify "$work/many.eml"
check "600 recipients: exit code" "$rc" 0
check_contains "600 recipients: the limit is said" "$(cat "$work/err")" \
  "many.eml: only the first 500 recipients are read"
check "600 recipients: 500 records" "$(wc -l <"$work/out")" 500
many_report "$work/many.eml" 500
run classify "$work/many.eml"
check "exactly 500 recipients: all read, no limit line" \
  "$(wc -l <"$work/out") $(grep -c 'only the first' "$work/err" || true)" "500 0"

# A file name holding a terminal escape is shown escaped on stderr, never sent to the terminal.
odd="$work/$(printf 'bad\033[31mname').eml"
: >"$odd"
run classify "$odd"
check_contains "escape in a file name: shown as \\x1B" "$(cat "$work/err")" 'bad\x1B[31mname.eml: empty file'
check "escape in a file name: no ESC byte on stderr" "$(tr -dc '\033' <"$work/err" | wc -c)" 0

# Ctrl-C (SIGINT) stops a batch, also one waiting on a FIFO whose writer says no more: the
# summary says so and the exit code is 75 (not a success: part of the input was not read).
mkfifo "$work/fifo"
(printf 'From: someone@example.org\nSubject: hi\n\n'; sleep 20) >"$work/fifo" &
writer=$!
rc=0
"$MAILBISECT" classify "$work/fifo" "$dsn" >"$work/out" 2>"$work/err" &
reader=$!
sleep 1
kill -INT "$reader"
wait "$reader" || rc=$?
kill "$writer" 2>/dev/null || true
wait "$writer" 2>/dev/null || true
check "interrupted: exit code 75" "$rc" 75
check_contains "interrupted: the summary says so" "$(tail -1 "$work/err")" "; interrupted"
check "interrupted: the files after it were not read" "$(wc -l <"$work/out")" 0
finish
