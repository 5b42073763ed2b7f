#!/usr/bin/env bash
# pv-hallucinate throughput over N records (default 10,000): the rules engine with
# all three kinds of edit (3 per record), --build-cooccur, and the request engine.
# Input: the 26 realistic COCO descriptions of tests/data/hallucinate, each record
# with its own id (so each draws its own edits), generated here.
# Baseline, run in the same invocation: jq adding a field to every record (the bare
# cost of reading and writing the same JSONL with a common tool).
set -eu
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
N=${N:-10000}
work=$(mktemp -d "${TMPDIR:-/tmp}/pv-bench-hallucinate.XXXXXX")
trap 'rm -rf "$work"' EXIT

jq -c -s --argjson n "$N" \
    '. as $d | range(0; $n) as $i | $d[$i % ($d | length)] + {id: ("r\($i)")}' \
    tests/data/hallucinate/coco_descriptions.jsonl >"$work/in.jsonl"

# Seconds of CPU (user + system) of one run: the machine is shared, and CPU time
# is what "per core" means; wall time is printed beside it.
cpu_seconds() {
    local TIMEFORMAT='%U %S %R' t
    t=$( { time "$@" >/dev/null 2>&1; } 2>&1 )
    echo "$t" | awk '{printf "%.4f %.4f", $1 + $2, $3}'
}
best() { # least CPU time of three runs, and the wall time of that run
    local b="1e9 1e9" r
    for _ in 1 2 3; do r=$(cpu_seconds "$@"); b=$(echo "$b $r" | awk '{print ($3 < $1) ? $3 " " $4 : $1 " " $2}'); done
    echo "$b"
}

rules=$(best "$BIN/pv-hallucinate" -q --seed 1 "$work/in.jsonl")
build=$(best "$BIN/pv-hallucinate" -q --build-cooccur "$work/in.jsonl")
request=$(best "$BIN/pv-hallucinate" -q --engine request "$work/in.jsonl")
jqbase=$(best jq -c '. + {rejected: .chosen}' "$work/in.jsonl")

echo "pv-hallucinate: $N records, LLaVA-style detailed descriptions (35 words on average), 1 core"
echo "  (records/s of CPU time; wall-clock records/s in brackets)"
row() { echo "$2" | awk -v n="$N" -v what="$1" '{printf "  %-28s %9.0f records/s  (%.0f)\n", what, n / $1, n / $2}'; }
row "rules engine, 3 edits" "$rules"
row "--build-cooccur" "$build"
row "request engine" "$request"
row "baseline: jq adds a field" "$jqbase"
echo "$rules $jqbase" | awk '{printf "  rules engine vs jq baseline: %.2fx\n", $3 / $1}'
