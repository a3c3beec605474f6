#!/usr/bin/env bash
# Installs what mailbisect needs on Debian 12: build tools, libraries, and the local mail lab
# (Postfix, Dovecot, python3-milter). As root it runs apt-get; otherwise it prints the line.
set -euo pipefail

packages=(build-essential cmake pkg-config clang libclang-rt-14-dev
  libgmime-3.0-dev libgumbo-dev libesmtp-dev libcurl4-openssl-dev libcjson-dev libsqlite3-dev
  libssl-dev libcmocka-dev clang-format
  postfix dovecot-imapd python3 python3-milter sqlite3 swaks libnet-ssleay-perl curl)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "mailbisect: missing packages: ${missing[*]}" >&2
  echo "install them as root with:" >&2
  echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}" >&2
  exit 69
fi

export DEBIAN_FRONTEND=noninteractive
# Postfix must not set up a system mail service: the lab runs its own instances.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
