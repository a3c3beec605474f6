#!/usr/bin/env bash
# Every C file of the project is formatted by the repository's .clang-format.
source "$(dirname "$0")/lib.sh"
command -v clang-format >/dev/null || { echo "SKIP: clang-format not installed"; exit 77; }
cd "$MB_SOURCE_DIR"
if git rev-parse --git-dir >/dev/null 2>&1; then
  files() { git ls-files '*.c' '*.h'; }
else
  files() { find include src tests -name '*.[ch]' -not -path '*/build*'; }
fi
bad=$(files | while read -r f; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "$f"
done)
check "every C file is clang-formatted (run clang-format -i on the files named)" "$bad" ""
finish
