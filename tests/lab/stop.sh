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

# Postfix: SIGTERM to the master (it takes its whole process group down), as `postfix stop`
# does, but polled in 50 ms steps instead of postfix-script's 1 s sleeps.
for inst in esp receiver; do
  pid=$(lab_read_pid "$LAB/$inst/queue/pid/master.pid") || continue
  # Only a live postfix master started from this lab.
  if kill -0 "$pid" 2>/dev/null && [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$LAB/$inst/queue" ]; then
    kill -TERM "$pid" 2>/dev/null
    lab_wait_gone "$pid" || {
      postfix -c "$LAB/$inst/etc" abort >/dev/null 2>&1
      kill -KILL -- "-$pid" 2>/dev/null
      lab_wait_gone "$pid"
    }
  fi
done

# Dovecot: its master pid is in base_dir.
pid=$(lab_read_pid "$LAB/dovecot/run/master.pid") &&
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    lab_wait_gone "$pid" || { kill -KILL "$pid" 2>/dev/null; lab_wait_gone "$pid"; }
  fi

# Milter.
pid=$(lab_read_pid "$LAB/milter/milter.pid") &&
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    lab_wait_gone "$pid" || { kill -KILL "$pid" 2>/dev/null; lab_wait_gone "$pid"; }
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
