#!/usr/bin/env bash
# Bad input at the command line: each case must give one clear line on stderr naming the
# cause, the documented sysexits code, and send nothing. Needs no lab (and no root).
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'secret\n' >"$work/pw" && chmod 600 "$work/pw"
cp "$MB_SOURCE_DIR/examples/newsletter.eml" "$work/msg.eml"
printf '\x00\x01\x02 binary garbage \xff\xfe' >"$work/garbage.eml"

# A closed port: nothing listens on 127.0.0.1:9 here.
spec() { # spec FILE MESSAGE RECIPIENT PRIMARY_PORT IMAP_URL
  cat >"$1" <<JSON
{"name": "t", "message": "$2", "domain": "victim.example", "recipients": ["$3"],
 "envelope_sender": "bounces+{send}@bounces.sender.example",
 "pools": {"primary": {"host": "127.0.0.1", "port": $4},
           "alternate": {"host": "127.0.0.1", "port": $4}},
 "mailbox": {"url": "$5", "user": "bounces", "password_file": "$work/pw"},
 "window_seconds": 2, "pacing_ms": 0}
JSON
}

# expect NAME WANT_CODE STDERR_FRAGMENT -- ARGS...
expect() {
  local name=$1 want=$2 fragment=$3 rc=0
  shift 4
  "$MAILBISECT" "$@" >"$work/out" 2>"$work/err" || rc=$?
  check "$name: exit code" "$rc" "$want"
  check_contains "$name: message" "$(cat "$work/err")" "$fragment"
}

expect "no arguments" 64 "usage" -- 
expect "unknown command" 64 "unknown command frobnicate" -- frobnicate
expect "unknown option" 64 "unknown option --frob" -- run x.json --frob
expect "missing spec" 66 "$work/none.json" -- run "$work/none.json"
printf '{"name": "t",\n "domain": }' >"$work/syntax.json"
expect "JSON syntax" 65 "syntax.json" -- run "$work/syntax.json"
spec "$work/ok.json" "$work/msg.eml" alice@victim.example 9 imap://127.0.0.1:9/INBOX
sed 's/"window_seconds"/"window_secs"/' "$work/ok.json" >"$work/unknown.json"
expect "unknown key" 65 "window_secs" -- run "$work/unknown.json"
sed 's/"port": 9}/"port": "25"}/' "$work/ok.json" >"$work/type.json"
expect "wrong type" 65 "port" -- run "$work/type.json"
spec "$work/outside.json" "$work/msg.eml" alice@victim.example.evil 9 imap://127.0.0.1:9/INBOX
expect "recipient outside domain" 78 "alice@victim.example.evil" -- run "$work/outside.json"
spec "$work/nomsg.json" "$work/absent.eml" alice@victim.example 9 imap://127.0.0.1:9/INBOX
expect "missing message" 66 "absent.eml" -- run "$work/nomsg.json" --db "$work/s.db"
spec "$work/garbage.json" "$work/garbage.eml" alice@victim.example 9 imap://127.0.0.1:9/INBOX
expect "not MIME" 65 "garbage.eml" -- run "$work/garbage.json" --db "$work/s.db"
expect "unreachable relay" 69 "127.0.0.1:9" -- run "$work/ok.json" --db "$work/s.db"
check "unreachable relay: no run recorded" \
  "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from sends").fetchone()[0])' "$work/s.db")" 0
chmod 644 "$work/pw"
expect "readable secret file" 77 "chmod 600" -- run "$work/ok.json" --db "$work/s.db"
chmod 600 "$work/pw"

# --dry-run and variants send nothing and need no relay.
rc=0
"$MAILBISECT" run "$work/ok.json" --dry-run >"$work/plan.txt" 2>&1 || rc=$?
check "dry run: exit code" "$rc" 0
check_contains "dry run: plan" "$(cat "$work/plan.txt")" "nothing sent"
check "dry run: four sends" "$(grep -c ' to alice@victim.example' "$work/plan.txt")" 4
rc=0
"$MAILBISECT" variants "$work/ok.json" --out "$work/variants" >/dev/null 2>&1 || rc=$?
check "variants: exit code" "$rc" 0
check "variants: files" "$(ls "$work/variants" | tr '\n' ' ')" \
  "alternate-pool.eml links-stripped.eml original.eml plain-text.eml "
# --help, the README and the exit-code table agree: every command --help lists is documented
# with the same usage line, and every exit code --help names is in the README's table.
"$MAILBISECT" --help >"$work/help"
while read -r usage_line; do
  check_contains "README documents: mailbisect $usage_line" "$(cat "$MB_SOURCE_DIR/README.md")" "\`mailbisect $usage_line\`"
done < <(grep -E '^  [a-z]+ ' "$work/help" | sed 's/^  //')
for code in $(grep -oE '\b[0-9]{2}\b' "$work/help" | sort -u); do
  check_contains "README exit code $code" "$(cat "$MB_SOURCE_DIR/README.md")" "| $code |"
done
finish
