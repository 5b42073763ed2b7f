#!/usr/bin/env bash
# pv-noise throughput: 640x480 JPEG in, PNG out, images/s with -j1 and -j2, against
# bench/noise_ref.py (Pillow decode, numpy noise, Pillow PNG encode) run here on the
# same images. Python is single-threaded, so "per core" compares -j1 with it and
# -j2 with twice it. pv-noise writes PNG without filter and with zlib's
# Huffman-only strategy; Python is shown at Pillow's default level 6 and at level 1.
# Wall-clock figures are the best of three runs; CPU milliseconds per image are
# also printed because they do not depend on what else the machine is doing
# (the load average is shown). N=images (default 32).
set -eu
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
N=${N:-32}
PY=/usr/bin/python3
work=$(mktemp -d "${TMPDIR:-/tmp}/pv-bench-noise.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Photo-like inputs: smooth gradients plus texture, JPEG quality 90, all different.
$PY - "$work" "$N" <<'PYEOF'
import sys
import numpy as np
from PIL import Image
d, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(1)
y, x = np.mgrid[0:480, 0:640].astype(np.float32)
for i in range(n):
    f = rng.uniform(0.005, 0.05, 3)
    img = np.stack([127 + 100 * np.sin(f[c] * x + f[(c + 1) % 3] * y + i) for c in range(3)], -1)
    img += rng.normal(0, 8, img.shape)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save("%s/in%03d.jpg" % (d, i), quality=90)
PYEOF
for i in $(seq 0 $((N - 1))); do printf '{"id":"r%d","image":"%s/in%03d.jpg"}\n' "$i" "$work" "$i"; done >"$work/in.jsonl"

run_pv() { # prints "images/s cpu-ms-per-image" of one pv-noise run with -j $1
    rm -rf "$work/out"
    /usr/bin/time -f "%e %U %S" -o "$work/time" \
        "$BIN/pv-noise" -q -j "$1" --out-dir "$work/out" "$work/in.jsonl" >/dev/null
    awk -v n="$N" '{printf "%.2f %.1f\n", n / $1, 1000 * ($2 + $3) / n}' "$work/time"
}
run_py() { mkdir -p "$work/py"; $PY bench/noise_ref.py "$work/py" "$1" "$work"/in*.jpg; }
best() { # best of three runs: highest images/s, lowest CPU time
    { "$@"; "$@"; "$@"; } | awk 'NR == 1 || $1 > r {r = $1} NR == 1 || $2 < c {c = $2} END {print r, c}'
}

read -r j1 j1cpu < <(best run_pv 1)
read -r j2 j2cpu < <(best run_pv 2)
read -r py6 py6cpu < <(best run_py 6)
read -r py1 py1cpu < <(best run_py 1)
pv_size=$(du -k "$work/out" | cut -f1)
py_size=$(du -k "$work/py" | cut -f1)
echo "pv-noise: $N images 640x480, JPEG in, PNG out, povid t=500 (load average $(cut -d' ' -f1 /proc/loadavg), $(nproc) CPUs)"
printf '  %-24s %8s %12s\n' "" "images/s" "CPU ms/image"
printf '  %-24s %8.2f %12.1f\n' "pv-noise -j1" "$j1" "$j1cpu"
printf '  %-24s %8.2f %12.1f\n' "pv-noise -j2" "$j2" "$j2cpu"
printf '  %-24s %8.2f %12.1f\n' "python, Pillow level 6" "$py6" "$py6cpu"
printf '  %-24s %8.2f %12.1f\n' "python, Pillow level 1" "$py1" "$py1cpu"
awk -v a="$j1" -v b="$j2" -v p="$py6" -v q="$py1" -v ac="$j1cpu" -v pc="$py6cpu" -v qc="$py1cpu" 'BEGIN {
    printf "  per core vs python level 6: -j1 %.2fx, -j2 %.2fx, CPU time %.2fx (target >= 3x)\n", a / p, b / (2 * p), pc / ac
    printf "  per core vs python level 1: -j1 %.2fx, -j2 %.2fx, CPU time %.2fx\n", a / q, b / (2 * q), qc / ac
    printf "  -j2 / -j1: %.2fx\n", b / a
}'
echo "  output size: pv-noise $pv_size KiB, python (level 1) $py_size KiB"
