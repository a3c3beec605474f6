#!/usr/bin/env bash
# Stops the mailbisect mail lab in $MB_LAB_DIR (default /tmp/mailbisect-lab): both Postfix
# instances, Dovecot and the milter, by their pids; then removes the lab dir.
# Idempotent: stopping a stopped (or never started) lab succeeds.
# Usage: tests/lab/stop.sh [--keep]    --keep or MB_LAB_KEEP=1: leave the files (logs, mail).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_need_root
lab_dir_sane
LAB=$MB_LAB_DIR
keep=${MB_LAB_KEEP:-0}
[ "${1:-}" = "--keep" ] && keep=1

[ -e "$MB_LAB_MARKER" ] || { echo "mail lab: nothing to stop in $LAB"; exit 0; }

# SIGTERM to the Postfix masters (each takes its process group down, as `postfix stop` does),
# the Dovecot master and the milter, all at once (each needs 1-3 s to exit), then a bounded wait
# polled in 50 ms steps; what is still alive after ~5 s gets SIGKILL.
masters=()
for f in esp/queue/pid/master.pid receiver/queue/pid/master.pid dovecot/run/master.pid milter/milter.pid; do
  pid=$(lab_read_pid "$LAB/$f") || continue
  kill -0 "$pid" 2>/dev/null || continue
  # only a process of this lab (its cwd or command line refers to the lab dir)
  lab_pids | grep -qx "$pid" || continue
  kill -TERM "$pid" 2>/dev/null && masters+=("$pid")
done
if [ ${#masters[@]} -gt 0 ] && ! lab_wait_gone "${masters[@]}"; then
  for pid in "${masters[@]}"; do
    kill -0 "$pid" 2>/dev/null || continue
    echo "mail lab: pid $pid ignored SIGTERM, killing its process group" >&2
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
  done
  lab_wait_gone "${masters[@]}"
fi

# Anything else that still refers to the lab dir (a Postfix or Dovecot child that outlived its
# master): TERM, then KILL.
left=$(lab_pids)
if [ -n "$left" ]; then
  # shellcheck disable=SC2086
  kill -TERM $left 2>/dev/null
  # shellcheck disable=SC2086
  lab_wait_gone $left || kill -KILL $left 2>/dev/null
  sleep 0.1
fi
left=$(lab_pids)
if [ -n "$left" ]; then
  echo "mail lab: processes still running: $(echo $left)" >&2
  exit 1
fi

if [ "$keep" = 1 ]; then
  rm -f "$LAB/lab.env"
  echo "mail lab stopped; files kept in $LAB"
else
  rm -rf --one-file-system "$LAB"
  echo "mail lab stopped; $LAB removed"
fi
exit 0
