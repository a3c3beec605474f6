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

# expect_soon NAME WANT_CODE STDERR_FRAGMENT -- ARGS...: as expect, but a hang fails (124)
expect_soon() {
  local name=$1 want=$2 fragment=$3 rc=0
  shift 4
  timeout 10 "$MAILBISECT" "$@" >"$work/out" 2>"$work/err" || rc=$?
  check "$name: exit code" "$rc" "$want"
  check_contains "$name: message" "$(cat "$work/err")" "$fragment"
}

expect "no arguments" 64 "usage" -- 
expect "unknown command" 64 "unknown command frobnicate" -- frobnicate
expect "unknown option" 64 "unknown option --frob" -- run x.json --frob
expect "an option given twice" 64 "option --db given twice" -- history --db a.db --db b.db
rc=0
"$MAILBISECT" classify --help >"$work/out" 2>"$work/err" || rc=$?
check "command --help: exit code" "$rc" 0
check_contains "command --help: that command's forms" "$(cat "$work/out")" \
  "usage: mailbisect classify --reply TEXT [--stage STAGE] [--rules FILE] [--json]"
check "command --help: only that command" "$(grep -c '^usage: ' "$work/out")" 2
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
# Bad input a newcomer tried. Empty values are usage errors, for every option that takes one
# (an empty --db was a temporary store, thrown away; an empty --out overflowed a buffer).
for opt in --out --db --config --save-spec --message --from-bounce --limit; do
  expect "empty $opt" 64 "option $opt needs a value, got an empty one" -- variants "$work/ok.json" "$opt" ""
done
expect "run with an empty spec name" 64 "empty argument" -- run ""
expect "show with an empty --db" 64 "empty" -- show 1 --db ""

# Pool headers are for the relay: fields of the message itself are refused, in any case.
sed 's/"port": 9}},$/"port": 9, "headers": {"X-Pool": "b", "from": "ceo@victim.example"}}},/' \
  "$work/ok.json" >"$work/hdr.json"
expect "pool header From" 78 "pools.alternate.headers.from: " -- run "$work/hdr.json" --dry-run
sed 's/"port": 9}},$/"port": 9, "headers": {"X-Pool": "p\\u00f6ol"}}},/' "$work/ok.json" >"$work/hdr8.json"
expect "pool header not ASCII" 78 "must be ASCII" -- run "$work/hdr8.json" --dry-run

# An escaped NUL would cut the domain short; imap ports are 1..65535.
sed 's/"domain": "victim.example"/"domain": "victim.example\\u0000.evil.com"/' "$work/ok.json" >"$work/nul.json"
expect "escaped NUL" 65 "nul.json: domain: contains an escaped NUL" -- run "$work/nul.json" --dry-run
spec "$work/port.json" "$work/msg.eml" alice@victim.example 9 imap://127.0.0.1:70000/INBOX
expect "imap port out of range" 78 "mailbox.url: port must be 1..65535" -- run "$work/port.json" --dry-run
# Numbers are quoted as integers, not as 9.22337203685478e+18.
sed 's/"window_seconds": 2/"window_seconds": 9223372036854775807/' "$work/ok.json" >"$work/big.json"
expect "huge number" 78 "got 9223372036854775808" -- run "$work/big.json" --dry-run

# A spec file whose name is not a valid name gives a valid one, not "experiment".
sed 's/"name": "t", //' "$work/ok.json" >"$work/my test spec.json"
rc=0
"$MAILBISECT" run "$work/my test spec.json" --dry-run --json >"$work/out" 2>"$work/err" || rc=$?
check "name from the file name: exit code" "$rc" 0
check "name from the file name" "$(jget "$work/out" 'd["name"]')" my-test-spec

# A FIFO (or other non-regular file) as spec, message or secret is refused at once.
mkfifo "$work/fifo"
expect_soon "FIFO as spec" 66 "is a FIFO" -- run "$work/fifo"
spec "$work/fifomsg.json" "$work/fifo" alice@victim.example 9 imap://127.0.0.1:9/INBOX
expect_soon "FIFO as message" 66 "is a FIFO" -- run "$work/fifomsg.json" --dry-run
sed "s|\"$work/pw\"|\"$work/fifo\"|" "$work/ok.json" >"$work/fifopw.json"
expect_soon "FIFO as secret" 66 "not a regular file" -- run "$work/fifopw.json" --db "$work/s.db"
expect "directory as spec" 66 "is a directory" -- run "$work"

# Commands that read stored runs never create a store: a typo in --db is reported.
for cmd in "show 1" "collect 1" "resume 1" "ticket 1" "history"; do
  # shellcheck disable=SC2086
  expect "$cmd with a missing store" 66 "no store at $work/typo/s.db" -- $cmd --db "$work/typo/s.db"
done
check "no store was created" "$([ -e "$work/typo" ] && echo created || echo none)" none
# ... nor write a store into an empty file, or take another file or a folder for one.
: >"$work/empty.db"
expect "history of an empty file" 65 "empty.db: an empty file, not a mailbisect store" -- history --db "$work/empty.db"
check "the empty file stays empty" "$(wc -c <"$work/empty.db")" 0
printf 'not a database at all, just text\n%.0s' $(seq 200) >"$work/text.db"
expect "history of a text file" 65 "text.db: not a mailbisect store" -- history --db "$work/text.db"
expect "history of a folder" 66 "is a directory, not a store" -- history --db "$work"
sqlite3 "$work/other.db" "CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('keep');"
cp "$work/other.db" "$work/other.bak"
expect "history of another program's database" 65 "other.db: not a mailbisect store" -- history --db "$work/other.db"
check "another program's database is left as it was" "$(cmp -s "$work/other.db" "$work/other.bak" && echo same || echo changed)" same
# An option of another command is refused, never ignored (resume --dry-run would send).
expect "resume --dry-run" 64 "resume does not take --dry-run" -- resume 1 --dry-run --db "$work/s.db"
expect "history --rules" 64 "history does not take --rules" -- history --rules x.json
expect "show of a run not in the store" 66 "no run 999" -- show 999 --db "$work/s.db"
# A long bad argument is not echoed whole.
long=$(printf 'x%.0s' $(seq 5000))
expect "long run number is cut" 64 "show needs a run number, got xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..." -- show "$long" --db "$work/s.db"
check "long run number: one short line" "$([ "$(head -1 "$work/err" | wc -c)" -lt 120 ] && echo short || echo long)" short

# Results that cannot be written to stdout are an I/O error, not a success. A stored run to
# show, without the lab: one row as a run that stopped before its first send leaves it.
python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("insert into runs (token, name, spec_path, spec_json, domain, status, created_at)"
          " values (?, ?, ?, ?, ?, ?, ?)", ("0123456789abcdef", "t", "t.json", "{}",
          "victim.example", "interrupted", "2024-01-01T00:00:00+00:00"))
c.commit()' "$work/s.db"
run_id=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select max(id) from runs").fetchone()[0])' "$work/s.db")
for args in "show $run_id --db $work/s.db" "--help" "history --db $work/s.db" "run $work/ok.json --dry-run"; do
  rc=0
  # shellcheck disable=SC2086
  "$MAILBISECT" $args >/dev/full 2>"$work/err" || rc=$?
  check "$args > /dev/full: exit code" "$rc" 74
  check_contains "$args > /dev/full: message" "$(cat "$work/err")" "cannot write the results to standard output"
done

# variants writes nothing when a later variant cannot be built (this message has no text part
# to make plain-text from), instead of leaving original.eml behind.
printf 'From: a@sender.example\r\nTo: alice@victim.example\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n\r\nAAAA\r\n' >"$work/binary.eml"
spec "$work/binary.json" "$work/binary.eml" alice@victim.example 9 imap://127.0.0.1:9/INBOX
expect "variants: one cannot be built" 65 "plain-text" -- variants "$work/binary.json" --out "$work/partial"
check "variants: nothing written" "$(ls -A "$work/partial" 2>/dev/null | wc -l | tr -d ' ')" 0

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
