# Shared helpers of the mailbisect mail lab scripts (sourced, not run).
# shellcheck shell=bash

MB_LAB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MB_LAB_DIR=${MB_LAB_DIR:-/tmp/mailbisect-lab}
case "$MB_LAB_DIR" in
  /*) ;;
  *) MB_LAB_DIR="$PWD/$MB_LAB_DIR" ;;
esac
MB_LAB_DIR=${MB_LAB_DIR%/}
export MB_LAB_DIR
# Marker that makes a directory ours: stop.sh only deletes a lab dir that carries it.
MB_LAB_MARKER="$MB_LAB_DIR/.mailbisect-lab"

lab_need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "mail lab needs root (Postfix and Dovecot run as root)" >&2
    exit 77
  fi
}

lab_die() {
  echo "mail lab: $*" >&2
  exit 1
}

# Sanity check before anything is deleted or killed on the strength of MB_LAB_DIR.
lab_dir_sane() {
  case "$MB_LAB_DIR" in
    / | /tmp | /var | /var/* | /etc | /etc/* | /usr | /usr/* | /root | /home | /proc* | /sys* | /dev*)
      lab_die "refusing to use MB_LAB_DIR=$MB_LAB_DIR" ;;
  esac
}

# Pids of processes that belong to this lab: their command line, environment (Postfix daemons
# carry MAIL_CONFIG) or working directory refer to the lab dir. Never matches by program name.
lab_pids() {
  {
    grep -lsF -z -- "$MB_LAB_DIR/" /proc/[0-9]*/cmdline
    grep -lsxF -z -e "MAIL_CONFIG=$MB_LAB_DIR/esp/etc" -e "MAIL_CONFIG=$MB_LAB_DIR/receiver/etc" \
      /proc/[0-9]*/environ
    stat -c '%N' /proc/[0-9]*/cwd 2>/dev/null | grep -F -- "-> '$MB_LAB_DIR/"
  } 2>/dev/null | sed -n 's|^.*/proc/\([0-9][0-9]*\)/.*$|\1|p' |
    grep -vx -e "$$" -e "${BASHPID:-$$}" | sort -un
  return 0
}

# lab_wait_gone PID... : waits up to ~5 s for the processes to exit.
lab_wait_gone() {
  local i p alive
  for i in $(seq 1 100); do
    alive=
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && return 0
    sleep 0.05
  done
  return 1
}

lab_read_pid() {
  local f=$1 pid
  [ -r "$f" ] || return 1
  pid=$(tr -dc '0-9' <"$f" | head -c 10)
  [ -n "$pid" ] && echo "$pid"
}
