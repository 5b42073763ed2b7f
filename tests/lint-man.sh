#!/bin/sh
# Lints each man page with mandoc (warnings count as failures); TAP output.
n=0 bad=0
for m in "$@"; do
    [ -f "$m" ] || continue
    n=$((n + 1))
    out=$(mandoc -T lint -W warning "$m" 2>&1)
    if [ -z "$out" ]; then
        echo "ok $n - mandoc lint $m"
    else
        echo "not ok $n - mandoc lint $m"
        echo "$out" | sed 's/^/# /'
        bad=1
    fi
done
echo "1..$n"
exit $bad
