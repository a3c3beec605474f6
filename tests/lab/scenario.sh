#!/usr/bin/env bash
# Installs a scenario as the live scenario of the running mail lab in $MB_LAB_DIR. The milter
# re-reads it at every connection and every MAIL FROM, so it applies to the next message.
# Usage: tests/lab/scenario.sh FILE | NAME     (NAME = a file in tests/lab/scenarios, .conf optional)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -eq 1 ] || { echo "usage: $0 SCENARIO_FILE|SCENARIO_NAME" >&2; exit 2; }
if [ -f "$1" ]; then src=$1
elif [ -f "$MB_LAB_HERE/scenarios/$1" ]; then src="$MB_LAB_HERE/scenarios/$1"
elif [ -f "$MB_LAB_HERE/scenarios/$1.conf" ]; then src="$MB_LAB_HERE/scenarios/$1.conf"
else lab_die "no scenario file $1 (see $MB_LAB_HERE/scenarios)"; fi
[ -f "$MB_LAB_DIR/lab.env" ] || lab_die "no running lab in $MB_LAB_DIR (run tests/lab/start.sh)"
live="$MB_LAB_DIR/scenario.conf"
# Atomic replacement: a connection never reads half a file.
cp "$src" "$live.tmp.$$"
chmod 0644 "$live.tmp.$$"
mv -f "$live.tmp.$$" "$live"
echo "mail lab scenario: $src"
