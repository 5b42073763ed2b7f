#!/usr/bin/env bash
# Builds each libFuzzer target (tests/fuzz/fuzz_*.c) with clang and runs it for
# FUZZ_SECONDS; a crash or sanitizer report fails it. Prints "N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-20}
out=build-fuzz
mkdir -p "$out"
pass=0 fail=0
srcs=$(ls lib/*.c | grep -v '\.cu$')
for f in tests/fuzz/fuzz_*.c; do
    [ -f "$f" ] || continue
    name=$(basename "$f" .c)
    if ! clang -std=c17 -g -O1 -D_GNU_SOURCE -Ilib -I/usr/include/x86_64-linux-gnu -fopenmp \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        "$f" $srcs -lcjson -lturbojpeg -lpng -lz -lopenblas -lm -o "$out/$name" 2>"$out/$name.build.log"; then
        echo "FAIL  $name: build failed"; sed 's/^/      /' "$out/$name.build.log" | head -20
        fail=$((fail + 1)); continue
    fi
    corpus="$out/$name.corpus"
    mkdir -p "$corpus"
    [ -d "tests/fuzz/seeds/${name#fuzz_}" ] && cp -n tests/fuzz/seeds/"${name#fuzz_}"/* "$corpus"/ 2>/dev/null
    # -close_fd_mask=2: the targets report bad input on stderr by design; libFuzzer
    # still prints its own status and crash reports.
    if "$out/$name" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -close_fd_mask=2 "$corpus" >"$out/$name.log" 2>&1; then
        echo "ok    $name ($(grep -o 'Done [0-9]* runs' "$out/$name.log" | head -1))"
        pass=$((pass + 1))
    else
        echo "FAIL  $name"; tail -30 "$out/$name.log" | sed 's/^/      /'
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
