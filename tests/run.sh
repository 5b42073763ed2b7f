#!/usr/bin/env bash
# Runs every test and prints "N passed, N failed" last.
#   unit and golden tests: $BUILD/tests/test_* (TAP)
#   bats suites:           tests/*.bats (TAP)
#   man pages:             mandoc -T lint
# TESTS=pattern limits the run to files whose name contains it.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=${BIN:-bin}
mkdir -p "$BIN"; export PV_BIN=$(cd "$BIN" && pwd)
export PV_SHARED=${PV_SHARED:-$(cd .. && pwd)/shared}
export PV_LIB=$(cd "$BUILD" && pwd)/libpv.a  # for tests that link a helper program
export PATH="$PV_BIN:$PATH"
pattern=${TESTS:-}
passed=0 failed=0 skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Tallies one TAP stream: counts "ok" / "not ok" lines, and "# skip" as skipped.
tally() {
    local name=$1 status=$2
    local ok notok skip
    ok=$(grep -cE '^ok ' "$log")
    skip=$(grep -ciE '^ok .*# skip' "$log")
    notok=$(grep -cE '^not ok ' "$log")
    if grep -qE '^1\.\.0 # SKIP' "$log"; then
        echo "SKIP  $name: $(sed -n 's/^1\.\.0 # SKIP //p' "$log")"
        skipped=$((skipped + 1))
        return
    fi
    if [ "$status" -ne 0 ] && [ "$notok" -eq 0 ]; then
        notok=1  # crashed or exited badly without saying which test
        echo "# $name exited with status $status" >>"$log"
    fi
    passed=$((passed + ok - skip)) failed=$((failed + notok)) skipped=$((skipped + skip))
    if [ "$notok" -gt 0 ]; then
        echo "FAIL  $name ($notok failed)"
        grep -vE '^ok ' "$log" | sed 's/^/      /' | head -60
    else
        if [ "$skip" -gt 0 ]; then echo "ok    $name ($((ok - skip)) passed, $skip skipped)"; else echo "ok    $name ($ok passed)"; fi
        grep -iE '^ok .*# skip' "$log" | sed 's/^/      /' | head -5
    fi
}

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    case "$(basename "$t")" in *"$pattern"*) ;; *) continue ;; esac
    "$t" >"$log" 2>&1
    tally "$(basename "$t")" $?
done

BATS_LIB_PATH=${BATS_LIB_PATH:-/usr/lib/bats}
export BATS_LIB_PATH
for s in tests/*.bats; do
    [ -f "$s" ] || continue
    case "$s" in *"$pattern"*) ;; *) continue ;; esac
    bats --tap "$s" >"$log" 2>&1
    tally "$(basename "$s")" $?
done

if [ -z "$pattern" ] || [[ "lint-man" == *"$pattern"* ]]; then
    tests/lint-man.sh man/*.[15] >"$log" 2>&1
    tally "man page lint" $?
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
