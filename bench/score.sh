#!/usr/bin/env bash
# pv-score throughput: CHAIR over 10,000 generated descriptions and POPE over 3,000
# answers (one POPE split), against bench/score_ref.py, the same computation in
# plain Python, run here on the same inputs; then the peak memory of reading a
# ~100 MB COCO instances look-alike (mostly polygon points).
#
# Times are CPU seconds (user + system) of each process, from getrusage, so that
# "per core" figures are not skewed by other load on the machine; wall seconds
# are printed beside them. Each program runs REPEAT times (the Python peer
# REPEAT_PY times) and its best run counts. The two CHAIR summaries must be
# identical, or the bench fails.
set -eu
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
BIN=${BIN:-bin}
SCORE=$BIN/pv-score
REF=bench/score_ref.py
REPEAT=${REPEAT:-5}
REPEAT_PY=${REPEAT_PY:-3}
INSTANCES_MB=${INSTANCES_MB:-100}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pv-bench-score.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Runs a command with stdout to a file; prints "cpu_seconds wall_seconds".
cpu_time() {
    "$PY" - "$@" <<'EOF'
import resource, subprocess, sys, time
out = open(sys.argv[1], "w")
t0 = time.perf_counter()
subprocess.run(sys.argv[2:], stdout=out, check=True)
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.4f %.4f" % (ru.ru_utime + ru.ru_stime, wall))
EOF
}

# Best (lowest CPU) of N runs: best_of N OUT CMD...
best_of() {
    local best="" t n=$1
    shift
    for _ in $(seq "$n"); do
        t=$(cpu_time "$@")
        if [ -z "$best" ] || awk -v a="${t% *}" -v b="${best% *}" 'BEGIN { exit !(a < b) }'; then
            best=$t
        fi
    done
    echo "$best"
}

"$PY" "$REF" gen-captions 10000 1 >"$tmp/captions.jsonl"
"$PY" "$REF" gen-pope 3000 2 >"$tmp/pope.jsonl"

report() { # name records c_cpu c_wall py_cpu py_wall [check-targets]
    awk -v name="$1" -v n="$2" -v c="$3" -v cw="$4" -v p="$5" -v pw="$6" -v targets="${7:-}" 'BEGIN {
        printf "%-6s %6d records: pv-score %8.0f records/s CPU (%.3f s CPU, %.3f s wall)\n", name, n, n / c, c, cw
        printf "%-6s %6s          python   %8.0f records/s CPU (%.3f s CPU, %.3f s wall)\n", "", "", n / p, p, pw
        printf "%-6s %6s          speed-up %8.1fx (CPU), %.1fx (wall)\n", "", "", p / c, pw / cw
        if (targets) {
            rate = (n / c >= 20000) ? "met" : "NOT MET"
            ratio = (p / c >= 20) ? "met" : "NOT MET"
            printf "        target >= 20000 records/s per core: %s; target >= 20x python: %s\n", rate, ratio
        }
    }'
}

c=$(best_of "$REPEAT" "$tmp/chair_c.json" "$SCORE" "$tmp/captions.jsonl")
p=$(best_of "$REPEAT_PY" "$tmp/chair_py.json" "$PY" "$REF" chair "$tmp/captions.jsonl")
report CHAIR 10000 $c $p targets
"$PY" - "$tmp/chair_c.json" "$tmp/chair_py.json" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
if a != b:
    sys.exit("CHAIR summaries differ:\n  pv-score %s\n  python   %s" % (a, b))
print("        CHAIR summaries identical: chair_s %.4f chair_i %.4f recall %.4f" % (a["chair_s"], a["chair_i"], a["recall"]))
EOF
c=$(best_of "$REPEAT" "$tmp/pope_c.json" "$SCORE" --metric pope "$tmp/pope.jsonl")
p=$(best_of "$REPEAT_PY" "$tmp/pope_py.json" "$PY" "$REF" pope "$tmp/pope.jsonl")
report POPE 3000 $c $p
"$PY" - "$tmp/pope_c.json" "$tmp/pope_py.json" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
bad = [k for k in a if k not in ("metric", "group") and abs(a[k] - b[k]) > 1e-12]
if a.keys() != b.keys() or bad:
    sys.exit("POPE summaries differ in %s" % bad)
print("        POPE summaries agree: accuracy %.4f f1 %.4f" % (a["accuracy"], a["f1"]))
EOF

# Peak memory of the COCO instances reader.
"$PY" "$REF" gen-instances "$INSTANCES_MB" 3 >"$tmp/instances.json"
size=$(stat -c %s "$tmp/instances.json")
head -n 1 "$tmp/captions.jsonl" | sed 's/"image": "[^"]*"/"image": "COCO_train2014_000000000001.jpg"/' >"$tmp/one.jsonl"
/usr/bin/time -v "$SCORE" --coco-instances "$tmp/instances.json" "$tmp/one.jsonl" \
    >"$tmp/coco_out.json" 2>"$tmp/time.txt"
rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tmp/time.txt")
secs=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$tmp/time.txt")
user=$(sed -n 's/.*User time (seconds): //p' "$tmp/time.txt")
awk -v s="$size" -v r="$rss" -v t="$secs" -v u="$user" 'BEGIN {
    printf "COCO instances reader: %.0f MB file, peak RSS %.1f MB (whole pv-score process), %s s user (%.0f MB/s), %s wall\n", s / 1e6, r / 1024, u, s / 1e6 / (u > 0 ? u : 0.01), t }'
