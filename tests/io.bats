#!/usr/bin/env bats
# Bad input common to every tool, exercised through pv-pair (lib/records, lib/outfile,
# lib/diag): messages "prog: file:line: message" and the exit statuses of DESIGN.md.
bats_require_minimum_version 1.5.0
load helpers

setup() {
    setup_tmp
    printf '%s\n' \
        '{"id":"1","image":"a.jpg","prompt":"p","chosen":"c1","rejected":"r"}' \
        '{"id":"2","image":"b.jpg","prompt":"p","chosen":"c2","rejected":"r"' \
        '{"id":"3","image":"c.jpg","prompt":"p","chosen":3,"rejected":"r"}' \
        '{"id":"4","image":"d.jpg","prompt":"p","chosen":"c4"}' \
        '{"id":"5","image":"e.jpg","prompt":"p","chosen":"c5","rejected":"r"}' >"$TMP/bad.jsonl"
    printf '%s\n' \
        '{"id":"1","image":"a.jpg","prompt":"p","chosen":"c1","rejected":"r"}' \
        '{"id":"2","image":"b.jpg","prompt":"p","chosen":"c2","rejected":"r"}' >"$TMP/good.jsonl"
}
teardown() { teardown_tmp; }

# The lines of a file, N times over (one process, not N).
repeat() { awk -v n="$1" '{ line[NR] = $0 } END { for (i = 0; i < n; i++) for (j = 1; j <= NR; j++) print line[j] }' "$2"; }

@test "malformed JSON line: file:line message, status 1, nothing after it" {
    run --separate-stderr pv-pair "$TMP/bad.jsonl"
    assert_failure 1
    [[ $stderr == "pv-pair: $TMP/bad.jsonl:2: invalid JSON near column"* ]]
    [ "${#lines[@]}" -eq 1 ]
}

@test "a non-string where a string is due" {
    sed -n 3p "$TMP/bad.jsonl" >"$TMP/in.jsonl"
    run --separate-stderr pv-pair "$TMP/in.jsonl"
    assert_failure 1
    [ "$stderr" = "pv-pair: $TMP/in.jsonl:1: \"chosen\" is not a string" ]
}

@test "a missing field, named, on standard input" {
    run --separate-stderr bash -c 'sed -n 4p "$1" | pv-pair' _ "$TMP/bad.jsonl"
    assert_failure 1
    [ "$stderr" = 'pv-pair: <stdin>:1: missing "rejected"' ]
}

@test "invalid UTF-8 and non-object lines" {
    printf '{"id":"\xff"}\n[1,2]\n' >"$TMP/in.jsonl"
    run --separate-stderr pv-pair --keep-going --require '' "$TMP/in.jsonl"
    assert_failure 1
    [[ $stderr == *"in.jsonl:1: invalid UTF-8 at byte 8"* ]]
    [[ $stderr == *"in.jsonl:2: record is not a JSON object"* ]]
}

@test "--keep-going: the good records come out, bad ones counted, status still 1" {
    run --separate-stderr pv-pair --keep-going "$TMP/bad.jsonl"
    assert_failure 1
    run jq -r .id <<<"$output"
    assert_output $'1\n5'
    [[ $stderr == *"bad.jsonl:2: invalid JSON"* ]]
    [[ $stderr == *'bad.jsonl:3: "chosen" is not a string'* ]]
    [[ $stderr == *'bad.jsonl:4: missing "rejected"'* ]]
    [[ $stderr == *"pv-pair: 3 bad records skipped"* ]]
}

@test "a bad record without --keep-going leaves no output file behind" {
    run --separate-stderr pv-pair -o "$TMP/out.jsonl" "$TMP/bad.jsonl"
    assert_failure 1
    [ ! -e "$TMP/out.jsonl" ]
    ls "$TMP" | { ! grep -q 'out.jsonl'; }
    run --separate-stderr pv-pair --keep-going -o "$TMP/out.jsonl" "$TMP/bad.jsonl"
    assert_failure 1
    [ "$(wc -l <"$TMP/out.jsonl")" -eq 2 ]
}

@test "CRLF line ends, blank lines and a last line without newline are fine" {
    printf '%s\r\n\r\n   \n%s' "$(sed -n 1p "$TMP/good.jsonl")" "$(sed -n 2p "$TMP/good.jsonl")" >"$TMP/crlf.jsonl"
    run --separate-stderr pv-pair "$TMP/crlf.jsonl"
    assert_success
    cmp <(printf '%s\n' "$output") "$TMP/good.jsonl"
}

@test "gzip in (detected by content) and out (by name)" {
    gzip -c "$TMP/good.jsonl" >"$TMP/in.jsonl.gz"
    cp "$TMP/in.jsonl.gz" "$TMP/noext"
    pv-pair -q -o "$TMP/out.jsonl.gz" "$TMP/noext"
    gzip -t "$TMP/out.jsonl.gz"
    gzip -dc "$TMP/out.jsonl.gz" | cmp - "$TMP/good.jsonl"
}

@test "a truncated .gz input is a read error, status 3" {
    repeat 2000 "$TMP/good.jsonl" | gzip -c >"$TMP/full.gz"
    head -c $(( $(stat -c %s "$TMP/full.gz") / 2 )) "$TMP/full.gz" >"$TMP/cut.jsonl.gz"
    run --separate-stderr pv-pair -o "$TMP/out.jsonl" "$TMP/cut.jsonl.gz"
    assert_failure 3
    [[ $stderr == *"cut.jsonl.gz:"*"read error: unexpected end of compressed data"* ]]
    [ ! -e "$TMP/out.jsonl" ]
}

@test "a missing input and an unwritable output directory: status 3" {
    run --separate-stderr pv-pair "$TMP/nonexistent.jsonl"
    assert_failure 3
    [ "$stderr" = "pv-pair: $TMP/nonexistent.jsonl: No such file or directory" ]
    run --separate-stderr pv-pair -o "$TMP/no/such/dir/out.jsonl" "$TMP/good.jsonl"
    assert_failure 3
    [[ $stderr == "pv-pair: $TMP/no/such/dir/out.jsonl: cannot create: No such file or directory"* ]]
    mkdir "$TMP/ro" && chmod 555 "$TMP/ro"
    if [ "$(id -u)" -ne 0 ]; then
        run --separate-stderr pv-pair -o "$TMP/ro/out.jsonl" "$TMP/good.jsonl"
        assert_failure 3
        [[ $stderr == *"cannot create: Permission denied"* ]]
    fi
}

@test "a full disk (/dev/full) is a write error, status 3" {
    [ -w /dev/full ] || skip "/dev/full not available"
    run --separate-stderr bash -c 'pv-pair -q "$1" >/dev/full' _ "$TMP/good.jsonl"
    assert_failure 3
    [[ $stderr == *"write error"*"No space left on device"* ]]
}

@test "a closed downstream pipe ends pv-pair quietly" {
    repeat 20000 "$TMP/good.jsonl" >"$TMP/big.jsonl"
    run --separate-stderr bash -c 'pv-pair "$1" 2>"$2" | head -1; echo "status ${PIPESTATUS[0]}"' _ "$TMP/big.jsonl" "$TMP/err"
    assert_line --index 0 "$(head -1 "$TMP/good.jsonl")"
    # Killed by SIGPIPE (128 + 13), or, if it got EPIPE first, status 3; never a message.
    assert_line --index 1 --regexp '^status (141|3)$'
    [ ! -s "$TMP/err" ]
}

@test "a closed pipe is quiet even when the parent ignores SIGPIPE" {
    repeat 20000 "$TMP/good.jsonl" >"$TMP/big.jsonl"
    run --separate-stderr /usr/bin/python3 -c '
import signal, subprocess, sys
signal.signal(signal.SIGPIPE, signal.SIG_IGN)
p = subprocess.Popen(["pv-pair", sys.argv[1]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     restore_signals=False)
p.stdout.readline(); p.stdout.close()
err = p.stderr.read(); p.wait()
print(p.returncode, repr(err))' "$TMP/big.jsonl"
    assert_success
    assert_output --regexp "^(-13|3) b''$"
}

@test "-o onto a device writes to it and leaves the device in place" {
    [ -c /dev/full ] || skip "no /dev/full"
    run --separate-stderr pv-pair --require '' -o /dev/full <<<'{"id": "1"}'
    assert_failure 3
    [[ "$stderr" == *"/dev/full: write error"* ]]
    [ -c /dev/full ]
    run --separate-stderr pv-pair --require '' -q -o /dev/null <<<'{"id": "1"}'
    assert_success
    [ -c /dev/null ]
}
