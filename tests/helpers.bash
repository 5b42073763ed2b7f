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
    [ -z "${TMP:-}" ] || rm -rf "$TMP"
}

# Succeeds when |got - want| <= rtol |want| (rtol default 1e-4); prints both and the error.
close_rel() {
    awk -v g="$1" -v w="$2" -v r="${3:-1e-4}" 'BEGIN { e = (g - w) / w; if (e < 0) e = -e;
        printf "got %.10g want %.10g relative error %.2g\n", g, w, e; exit !(e <= r) }'
}

# Writes tensor NAME of the fixture's golden.safetensors to FILE as a safetensors
# file holding it under the name pixel_values (preprocessed pixels pv takes as is).
golden_pixels() {
    /usr/bin/python3 - "$FIXTURE/golden.safetensors" "$1" "$2" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
t = json.loads(b[8:8 + n])[sys.argv[2]]
s, e = t["data_offsets"]
h = json.dumps({"pixel_values": {"dtype": "F32", "shape": t["shape"], "data_offsets": [0, e - s]}})
h = h.encode() + b" " * ((8 - len(h) % 8) % 8)
open(sys.argv[3], "wb").write(struct.pack("<Q", len(h)) + h + b[8 + n + s:8 + n + e])
PY
}

# The commands of a man page's EXAMPLES section: lines of its .EX blocks that start
# with "$ ", roff escapes undone. One command per line.
man_example_commands() {
    awk '/^\.SH /{ex = ($2 == "EXAMPLES")} ex && /^\$ /{print substr($0, 3)}' "$1" |
        sed -e 's/\\-/-/g' -e 's/\\e/\\/g' -e 's/\\(dq/"/g'
}
