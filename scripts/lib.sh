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
