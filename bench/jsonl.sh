#!/usr/bin/env bash
# JSONL pass-through speed: pv-pair with validation off (--require '') against
# `jq -c .` on the same generated file of realistic POVID records. Prints MB/s
# (input bytes / wall time, best of REPEAT runs) and the ratio. A figure, not a test.
#   BIN=bin JSONL_MB=64 REPEAT=3 bench/jsonl.sh
# Needs jq and /usr/bin/python3 (to generate the data); timing uses bash's `time`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
MB=${JSONL_MB:-64}
REPEAT=${REPEAT:-3}
PY=/usr/bin/python3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pv-bench-jsonl.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

command -v jq >/dev/null || { echo "bench/jsonl.sh: jq not found (apt-get install jq)" >&2; exit 3; }
[ -x "$BIN/pv-pair" ] || { echo "bench/jsonl.sh: $BIN/pv-pair not built (make)" >&2; exit 3; }

# Records shaped like pv-hallucinate + pv-noise output: COCO-style ids and paths,
# a detailed-description prompt, ~100-word responses, objects, edits, noise.
"$PY" - "$MB" >"$tmp/in.jsonl" <<'PY'
import json, random, sys
target = int(sys.argv[1]) << 20
rng = random.Random(1)
words = ("a the man woman dog cat bus car street table chair plate pizza bench tree sky "
         "white red blue green small large wooden sitting standing near next to on in of "
         "with and people two three parked grass field building window light").split()
objects = "person dog cat bus car chair dining_table pizza bench bicycle umbrella".split()
size = 0
i = 0
out = sys.stdout
while size < target:
    i += 1
    chosen = " ".join(rng.choice(words) for _ in range(rng.randint(60, 140))) + "."
    rej = chosen.replace(" dog ", " cat ").replace(" red ", " blue ") + " A \u00e9t\u00e9 umbrella."
    rec = {"id": "%012d" % (i * 7919 % 10**12),
           "image": "coco/train2014/COCO_train2014_%012d.jpg" % i,
           "prompt": "Describe this image in detail.",
           "chosen": chosen, "rejected": rej,
           "objects": rng.sample(objects, 3),
           "hallucination": {"engine": "rules", "edits": [
               {"type": "object", "from": "dog", "to": "cat"},
               {"type": "attribute", "from": "red", "to": "blue"}]},
           "noisy_image": "noisy/%012d.png" % i,
           "noise": {"schedule": "povid", "step": 500, "steps": 1000, "seed": 1}}
    line = json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n"
    out.write(line)
    size += len(line.encode())
PY
bytes=$(stat -c %s "$tmp/in.jsonl")
records=$(wc -l <"$tmp/in.jsonl")

# Best wall and best CPU (user + sys) time of REPEAT runs of a command, output to
# /dev/null. CPU time is the fairer figure on a loaded machine; both are printed.
best() {
    local bw=0 bc=0 w u sy
    for i in $(seq "$REPEAT"); do
        { TIMEFORMAT='%R %U %S'; time "$@" >/dev/null; } 2>"$tmp/time"
        read -r w u sy <"$tmp/time"
        read -r bw bc < <(awk -v i="$i" -v bw="$bw" -v bc="$bc" -v w="$w" -v c="$(awk -v u="$u" -v s="$sy" 'BEGIN{print u + s}')" \
            'BEGIN{ if (i == 1 || w < bw) bw = w; if (i == 1 || c < bc) bc = c; print bw, bc }')
    done
    echo "$bw $bc"
}

# Same records out (compared as JSON values) before timing anything.
"$BIN/pv-pair" -q --require '' "$tmp/in.jsonl" >"$tmp/out.jsonl"
[ "$(wc -l <"$tmp/out.jsonl")" -eq "$records" ] || { echo "bench/jsonl.sh: pv-pair lost records" >&2; exit 1; }
head -1000 "$tmp/out.jsonl" | jq -cS . >"$tmp/a"
head -1000 "$tmp/in.jsonl" | jq -cS . >"$tmp/b"
cmp -s "$tmp/a" "$tmp/b" || { echo "bench/jsonl.sh: pv-pair changed the records" >&2; exit 1; }
rm -f "$tmp/out.jsonl"

read -r w_pv c_pv < <(best "$BIN/pv-pair" -q --require '' "$tmp/in.jsonl")
read -r w_jq c_jq < <(best jq -c . "$tmp/in.jsonl")
mbs() { awk -v b="$bytes" -v t="$1" 'BEGIN{ if (t > 0) printf "%.1f", b / 1048576 / t; else print "inf" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
printf 'JSONL pass-through: %s MB, %d records, best of %d (load average %s)\n' \
    "$(awk -v b="$bytes" 'BEGIN{printf "%.1f", b / 1048576}')" "$records" "$REPEAT" "$(cut -d' ' -f1 /proc/loadavg)"
printf '  %-28s %9s %9s\n' "" "wall MB/s" "CPU MB/s"
printf '  %-28s %9s %9s\n' "pv-pair -q --require ''" "$(mbs "$w_pv")" "$(mbs "$c_pv")"
printf '  %-28s %9s %9s\n' "jq -c . ($(jq --version))" "$(mbs "$w_jq")" "$(mbs "$c_jq")"
printf '  ratio pv-pair / jq: %s wall, %s CPU (target: above 1)\n' "$(ratio "$w_jq" "$w_pv")" "$(ratio "$c_jq" "$c_pv")"
