# Shared by the scripts: find the Go toolchain and the repository root.
# shellcheck shell=bash
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if ! command -v go >/dev/null 2>&1; then
  for d in /usr/local/go/bin /usr/lib/go/bin "$HOME/go/bin"; do
    if [ -x "$d/go" ]; then PATH="$d:$PATH"; break; fi
  done
fi
command -v go >/dev/null 2>&1 || { echo "stampede: Go 1.26 or newer is needed (https://go.dev/doc/install)" >&2; exit 1; }

# find_pg prints the directory of PostgreSQL's server binaries (initdb,
# postgres, pgbench), as stampede looks for them: PATH, then the newest
# /usr/lib/postgresql/*/bin.
find_pg() {
  local d
  if command -v initdb >/dev/null 2>&1 && [ -x "$(dirname "$(command -v initdb)")/postgres" ]; then
    dirname "$(command -v initdb)"; return 0
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -nr); do
    if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then echo "$d"; return 0; fi
  done
  return 1
}
