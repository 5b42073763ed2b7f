#!/usr/bin/env bats
# pv-noise: records mode, determinism (seed, -j, input order), the documented noise
# recomputed independently in numpy, the image filter, the schedule, bad input,
# I/O errors, and the man page EXAMPLES.

bats_require_minimum_version 1.5.0
load helpers

setup() {
    setup_tmp
    DATA=$REPO/tests/data/images
    cd "$TMP"
}
teardown() { teardown_tmp; }

# Three records over the checked-in test images (relative paths: --image-root).
make_records() {
    cat >in.jsonl <<EOF
{"id":"rgb","image":"rgb.png","prompt":"p","keep":{"a":[1,2]}}
{"id":"coco/42","image":"palette.png"}
{"id":17,"image":"grey_jpeg.jpg"}
{"id":"cmyk","image":"cmyk_jpeg.jpg"}
EOF
}

@test "--help and --version print to stdout and exit 0" {
    run --separate-stderr pv-noise --help
    assert_success
    assert_output --partial "Usage: pv-noise"
    run --separate-stderr pv-noise --version
    assert_success
    assert_output --regexp '^pv-noise \(pv\) [0-9]'
}

@test "records get noisy_image and noise, other fields pass through in order" {
    make_records
    run --separate-stderr pv-noise --out-dir out --image-root "$DATA" --seed 5 in.jsonl
    assert_success
    [ "${#lines[@]}" -eq 4 ]
    assert_line --index 0 '{"id":"rgb","image":"rgb.png","prompt":"p","keep":{"a":[1,2]},"noisy_image":"out/rgb.png","noise":{"schedule":"povid","step":500,"steps":1000,"seed":5}}'
    [[ ${lines[1]} == *'"noisy_image":"out/coco_42-'*'.png"'* ]]
    [[ ${lines[2]} == *'"noisy_image":"out/17.png"'* ]]
    for f in out/rgb.png out/17.png out/cmyk.png; do
        run file "$f"
        assert_output --partial "PNG image data, 13 x 9, 8-bit/color RGB"
    done
    [ "$(ls out | wc -l)" -eq 4 ]
}

@test "same seed: same bytes; -j1, -j2 and shuffled input give identical images" {
    make_records
    for i in $(seq 1 12); do echo "{\"id\":\"r$i\",\"image\":\"rgb.png\"}"; done >>in.jsonl
    pv-noise --out-dir a -j 1 --image-root "$DATA" --seed 9 in.jsonl >a.jsonl
    pv-noise --out-dir b -j 2 --image-root "$DATA" --seed 9 in.jsonl >b.jsonl
    tac in.jsonl >rev.jsonl
    pv-noise --out-dir c -j 2 --image-root "$DATA" --seed 9 rev.jsonl >c.jsonl
    [ "$(ls a | wc -l)" -eq 16 ]
    for f in a/*; do
        cmp "$f" "b/${f#a/}"
        cmp "$f" "c/${f#a/}"
    done
    diff <(sed 's#"a/#"X/#' a.jsonl) <(sed 's#"b/#"X/#' b.jsonl)
    # Records come out in input order with any -j.
    diff <(jq -r .id rev.jsonl) <(jq -r .id c.jsonl)
    # Another seed changes every image; another id with the same image differs too.
    pv-noise --out-dir d --image-root "$DATA" --seed 10 in.jsonl >/dev/null
    ! cmp -s a/rgb.png d/rgb.png
    ! cmp -s a/r1.png a/r2.png
}

# The pixels recomputed from the documentation alone (lib/philox.h, pv-noise(1)):
# Philox4x32-10, Box-Muller in float64, x_t in float32, clamp, round half to even.
@test "noisy pixels equal an independent numpy implementation of the documented noise" {
    pv-noise --image "$DATA/rgb.png" --id "some id" --seed 123456789012 --step 700 -o n.png
    pv-noise --print-schedule | jq -r 'select(.t == 700) | "\(.sqrt_alpha_bar) \(.sqrt_one_minus_alpha_bar)"' >ab.txt
    run /usr/bin/python3 - "$DATA/rgb.png" n.png ab.txt <<'EOF'
import sys
import numpy as np
from PIL import Image
M = 0xFFFFFFFF
def philox(c, k):
    c = [np.uint64(x) for x in c]
    k0, k1 = np.uint64(k[0]), np.uint64(k[1])
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c[0]
        p1 = np.uint64(0xCD9E8D57) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & np.uint64(M), (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & np.uint64(M)]
        k0 = (k0 + np.uint64(0x9E3779B9)) & np.uint64(M)
        k1 = (k1 + np.uint64(0xBB67AE85)) & np.uint64(M)
    return c
def fnv1a(b):
    h = 0xcbf29ce484222325
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h
x0 = np.asarray(Image.open(sys.argv[1]).convert("RGB")).transpose(2, 0, 1).astype(np.float32) / np.float32(255)
n = x0.size
seed, key = 123456789012, fnv1a(b"some id")
b = np.arange((n + 3) // 4, dtype=np.uint64)
x = philox([b & np.uint64(M), b >> np.uint64(32), np.full_like(b, key & M), np.full_like(b, key >> 32)], [seed & M, seed >> 32])
z = []
for lo, hi in ((x[0], x[1]), (x[2], x[3])):
    u1 = (lo.astype(np.float64) + 0.5) / 2.0**32
    u2 = (hi.astype(np.float64) + 0.5) / 2.0**32
    r = np.sqrt(-2.0 * np.log(u1))
    z.append((r * np.cos(2.0 * np.pi * u2)).astype(np.float32))
    z.append((r * np.sin(2.0 * np.pi * u2)).astype(np.float32))
eps = np.stack(z, 1).reshape(-1)[:n].reshape(x0.shape)
a, s = (np.float32(v) for v in open(sys.argv[3]).read().split())
xt = a * x0 + s * eps
want = np.round(np.clip(xt, 0, 1) * np.float32(255)).astype(np.uint8).transpose(1, 2, 0)
got = np.asarray(Image.open(sys.argv[2]))
d = np.abs(got.astype(int) - want)
print("differing values:", int((d != 0).sum()), "of", d.size, "worst:", int(d.max()))
sys.exit(0 if d.max() == 0 else 1)
EOF
    echo "$output"
    assert_success
}

@test "image filter: stdin to stdout, JPEG by extension or --format" {
    pv-noise --image - -o - <"$DATA/rgb.png" >s.png
    pv-noise --image "$DATA/rgb.png" -o f.png
    cmp s.png f.png
    pv-noise --image "$DATA/rgb.png" -o f.jpg
    run file f.jpg
    assert_output --partial "JPEG image data"
    pv-noise --image "$DATA/rgb.png" --format jpg --quality 80 >g.jpg
    run file g.jpg
    assert_output --partial "JPEG image data"
    # --id selects the same noise as a record with that id.
    echo '{"id":"rgb","image":"rgb.png"}' | pv-noise --image-root "$DATA" --out-dir o >/dev/null
    pv-noise --image "$DATA/rgb.png" --id rgb -o byid.png
    cmp byid.png o/rgb.png
}

@test "every PNG and JPEG variant of tests/data/images is accepted" {
    for f in "$DATA"/*.png "$DATA"/*.jpg; do
        pv-noise --image "$f" -o x.png
        run file x.png
        assert_output --partial "13 x 9, 8-bit/color RGB"
    done
}

@test "--print-schedule: 1000 steps from t=0, POVID's factors at t=500" {
    run --separate-stderr pv-noise --print-schedule
    assert_success
    [ "${#lines[@]}" -eq 1000 ]
    assert_line --index 0 --regexp '^\{"t":0,"beta":[0-9.e-]+,"alpha_bar":[0-9.e-]+,"sqrt_alpha_bar":[0-9.e-]+,"sqrt_one_minus_alpha_bar":[0-9.e-]+\}$'
    run jq -r 'select(.t == 500) | "\(.sqrt_alpha_bar * 1000 | round) \(.sqrt_one_minus_alpha_bar * 1000 | round)"' <<<"$(pv-noise --print-schedule)"
    assert_output "863 505"
    # alpha_bar is the running product of 1 - beta (float64 check, 1e-5 relative).
    run jq -s 'reduce .[] as $r ({p: 1, worst: 0}; .p *= (1 - $r.beta) | .worst = ([.worst, ((.p - $r.alpha_bar) / .p | fabs)] | max)) | .worst < 1e-5' <<<"$(pv-noise --print-schedule --schedule linear --steps 50)"
    assert_output true
    run --separate-stderr pv-noise --print-schedule --schedule cosine --steps 10
    [ "${#lines[@]}" -eq 10 ]
    assert_line --index 9 --partial '"beta":0.999000013'
}

@test "usage errors exit 2" {
    run --separate-stderr pv-noise --step 1000 --print-schedule
    [ "$status" -eq 2 ]
    run --separate-stderr pv-noise --format gif --print-schedule
    [ "$status" -eq 2 ]
    run --separate-stderr pv-noise --schedule nope --print-schedule
    [ "$status" -eq 2 ]
    run --separate-stderr pv-noise </dev/null
    [ "$status" -eq 2 ]
    [[ $stderr == *"--out-dir"* ]]
    run --separate-stderr pv-noise --seed 9007199254740992 --print-schedule
    [ "$status" -eq 2 ]
}

@test "corrupt, truncated and absurd images are bad records: file:line and path, exit 1" {
    head -c 300 "$DATA/cmyk_jpeg.jpg" >trunc.jpg
    head -c 200 "$DATA/rgb.png" >trunc.png
    printf 'hello' >notimage.png
    /usr/bin/python3 -c '
import struct, zlib
ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
open("huge.png", "wb").write(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))'
    cat >in.jsonl <<EOF
{"id":"ok1","image":"$DATA/rgb.png"}
{"id":"t1","image":"trunc.jpg"}
{"id":"t2","image":"trunc.png"}
{"id":"t3","image":"notimage.png"}
{"id":"t4","image":"huge.png"}
{"id":"t5","image":"absent.png"}
{"id":"t6"}
{"id":"ok2","image":"$DATA/grey.png"}
EOF
    run --separate-stderr pv-noise --out-dir out in.jsonl
    [ "$status" -eq 1 ]
    [[ $stderr == "pv-noise: in.jsonl:2: trunc.jpg: corrupt JPEG: "* ]]
    assert_output --partial '"id":"ok1"'
    [ "${#lines[@]}" -eq 1 ]
    run --separate-stderr pv-noise --out-dir out -j 2 --keep-going in.jsonl
    [ "$status" -eq 1 ]
    [ "${#lines[@]}" -eq 2 ]
    assert_line --index 1 --partial '"id":"ok2"'
    [[ $stderr == *"in.jsonl:3: trunc.png: corrupt PNG: file is truncated"* ]]
    [[ $stderr == *"in.jsonl:4: notimage.png: not a JPEG or PNG image"* ]]
    [[ $stderr == *"in.jsonl:5: huge.png: image too large: 100000x100000"* ]]
    [[ $stderr == *"in.jsonl:6: absent.png: cannot open: No such file or directory"* ]]
    [[ $stderr == *'in.jsonl:7: missing "image"'* ]]
    [[ $stderr == *"6 bad records skipped"* ]]
    [ "$(ls out)" = "$(printf 'ok1.png\nok2.png')" ]
    run --separate-stderr pv-noise --image trunc.png -o x.png
    [ "$status" -eq 1 ]
    [ ! -e x.png ]
}

@test "malformed JSON: records before it are still written, --keep-going goes on" {
    printf '{"id":"a","image":"%s"}\n{"id":\n{"id":"b","image":"%s"}\n' "$DATA/rgb.png" "$DATA/rgb.png" >in.jsonl
    run --separate-stderr pv-noise --out-dir out -j 2 in.jsonl
    [ "$status" -eq 1 ]
    [ "${#lines[@]}" -eq 1 ]
    [[ $stderr == *"in.jsonl:2: invalid JSON"* ]]
    run --separate-stderr pv-noise --out-dir out -j 2 --keep-going in.jsonl
    [ "$status" -eq 1 ]
    [ "${#lines[@]}" -eq 2 ]
}

@test "unwritable output directory and full disk: exit 3, no half-written files" {
    echo "{\"id\":\"a\",\"image\":\"$DATA/rgb.png\"}" >in.jsonl
    run --separate-stderr pv-noise --out-dir /proc/pv-noise-test in.jsonl
    [ "$status" -eq 3 ]
    run --separate-stderr pv-noise --out-dir /proc in.jsonl
    [ "$status" -eq 3 ]
    [[ $stderr == *"/proc/a.png"* ]]
    touch plainfile
    run --separate-stderr pv-noise --out-dir plainfile in.jsonl
    [ "$status" -eq 3 ]
    # Not "-o /dev/full": lib/outfile would rename its temporary file over the device.
    run bash -c "pv-noise --out-dir out in.jsonl >/dev/full"
    [ "$status" -eq 3 ]
    run bash -c "pv-noise --image '$DATA/rgb.png' >/dev/full"
    [ "$status" -eq 3 ]
    run bash -c "pv-noise --print-schedule >/dev/full"
    [ "$status" -eq 3 ]
    [ -z "$(find . -name '*.tmp.*')" ]
}

@test "a closed downstream pipe ends pv-noise quietly" {
    for i in $(seq 1 40); do echo "{\"id\":\"r$i\",\"image\":\"$DATA/rgb.png\"}"; done >in.jsonl
    run bash -c "pv-noise --out-dir out in.jsonl | head -1"
    assert_success
    [[ $output == *'"id":"r1"'* ]]
    [[ $output != *"error"* ]]
}

@test "man page EXAMPLES run" {
    pv-noise --image "$DATA/rgb.png" --format jpg -o photo.jpg
    printf '{"id":"1","image":"photo.jpg"}\n{"id":"2","image":"photo.jpg"}\n' >pairs.jsonl
    # Each EXAMPLES block of man/pv-noise.1, in order.
    sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$REPO/man/pv-noise.1" |
        awk '/^\.EX/{on=1; next} /^\.EE/{on=0; print "#END"; next} on' |
        sed 's/\\e$/\\/' >examples.sh
    [ "$(grep -c '#END' examples.sh)" -eq 4 ]
    run bash -eo pipefail examples.sh
    assert_success
    assert_output --partial '"t":500'
    [ -s noisy.png ] && [ -s noisy.jsonl ]
    [ "$(ls noisy)" = "$(printf '1.jpg\n1.png\n2.jpg\n2.png')" ]
    run jq -r .noisy_image noisy.jsonl
    assert_output "$(printf 'noisy/1.jpg\nnoisy/2.jpg')"
}
