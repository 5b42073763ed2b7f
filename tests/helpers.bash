# Common setup for the bats suites: `load helpers` at the top of each.
bats_load_library bats-support
bats_load_library bats-assert

PV_BIN=${PV_BIN:-$BATS_TEST_DIRNAME/../bin}
PATH="$PV_BIN:$PATH"
PV_SHARED=${PV_SHARED:-$BATS_TEST_DIRNAME/../../shared}
FIXTURE=$PV_SHARED/fixtures/tiny-llava
REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)

# Skips the test, visibly, when ../shared is absent.
need_shared() {
    [ -d "$PV_SHARED/fixtures" ] || skip "../shared not found (set PV_SHARED): reference fixtures needed"
}

# A scratch directory per test.
setup_tmp() {
    TMP=$(mktemp -d "${BATS_TMPDIR:-/tmp}/pv-test.XXXXXX")
}
teardown_tmp() {
    [ -n "${TMP:-}" ] && rm -rf "$TMP"
}
