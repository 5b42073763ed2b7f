#!/usr/bin/env bash
# make bench: runs every bench/*.sh in turn. Each prints its figures and the
# ratio against a baseline it runs in the same invocation. BENCH=name runs one.
set -u
cd "$(dirname "$0")/.."
export BIN=$(cd "${BIN:-bin}" && pwd)
export PATH="$BIN:$PATH"
export PV_SHARED=${PV_SHARED:-$(cd .. && pwd)/shared}
status=0
for b in bench/*.sh; do
    [ "$(basename "$b")" = run.sh ] && continue
    case "$b" in *"${BENCH:-}"*) ;; *) continue ;; esac
    echo "=== $(basename "$b" .sh)"
    bash "$b" || { echo "(bench $(basename "$b") failed)"; status=1; }
    echo
done
exit $status
