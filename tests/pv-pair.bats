#!/usr/bin/env bats
# pv-pair: formats and lossless round trips (compared with jq -S), validation and
# its reasons, dedupe, join, shuffle (against an independent Python SplitMix64 +
# Fisher-Yates), split, and the EXAMPLES of pv-pair(1) and pv-records(5).
bats_require_minimum_version 1.5.0
load helpers

D=$BATS_TEST_DIRNAME/data/pair

setup() { setup_tmp; }
teardown() { teardown_tmp; }

# The commands in the .EX/.EE blocks of a man page's EXAMPLES section, roff
# escapes undone (\- is -, \e is a backslash).
man_examples() {
    awk '/^\.SH /{ex = ($2 == "EXAMPLES")} ex && /^\.EE/{inb=0; print ""} ex && inb{print} ex && /^\.EX/{inb=1}' "$1" |
        sed -e 's/\\-/-/g' -e 's/\\e/\\/g'
}

@test "--help and --version print on stdout and exit 0" {
    run --separate-stderr pv-pair --help
    assert_success
    assert_output --partial "Usage: pv-pair"
    assert_output --partial "--split FRACTION"
    run --separate-stderr pv-pair --version
    assert_success
    assert_output --regexp '^pv-pair \(pv\) [0-9]'
}

@test "usage errors exit 2" {
    run --separate-stderr pv-pair --to yaml "$D/records.jsonl"
    assert_failure 2
    run --separate-stderr pv-pair --split 1.5 --train a --val b "$D/records.jsonl"
    assert_failure 2
    run --separate-stderr pv-pair --split 0.1 "$D/records.jsonl"
    assert_failure 2
    [[ $stderr == *"--split needs --train FILE and --val FILE"* ]]
    run --separate-stderr pv-pair --split=0.1 --train a --val b -o c "$D/records.jsonl"
    assert_failure 2
    run --separate-stderr pv-pair --on id "$D/records.jsonl"
    assert_failure 2
    run --separate-stderr pv-pair --require id,,prompt "$D/records.jsonl"
    assert_failure 2
    run --separate-stderr pv-pair --dedupe image "$D/records.jsonl"
    assert_failure 2
}

@test "llava array to records: prompt without <image>, chosen, rejected, other keys in place" {
    run --separate-stderr pv-pair "$D/povid.json"
    assert_success
    [ "${#lines[@]}" -eq 3 ]
    run jq -c '[.id, .prompt, .chosen[0:7], .rejected[0:7]]' <<<"$output"
    assert_line --index 0 '["000000033471","Describe this image in detail.","A white","A red b"]'
    run --separate-stderr pv-pair "$D/povid.json"
    run jq -c 'keys_unsorted' <<<"${lines[1]}"
    assert_output '["id","image","prompt","chosen","rejected","source","score","tags"]'
    # A prompt that places <image> at its end keeps it there.
    run --separate-stderr pv-pair "$D/povid.json"
    run jq -r '.prompt' <<<"${lines[2]}"
    assert_output $'Look at the image and answer:\n<image>'
}

@test "llava -> records -> llava gives the same JSON values (array and JSONL)" {
    pv-pair -q "$D/povid.json" >"$TMP/rec.jsonl"
    pv-pair -q --to llava --array "$TMP/rec.jsonl" >"$TMP/back.json"
    diff <(jq -S . "$D/povid.json") <(jq -S . "$TMP/back.json")
    # The same data as JSONL in, JSONL out.
    jq -c '.[]' "$D/povid.json" >"$TMP/povid.jsonl"
    pv-pair -q --to llava "$TMP/povid.jsonl" >"$TMP/back.jsonl"
    diff <(jq -S . "$TMP/povid.jsonl") <(jq -S . "$TMP/back.jsonl")
    # Detection is by content, whatever the name; stdin works too.
    pv-pair -q --from llava <"$D/povid.json" | cmp - "$TMP/rec.jsonl"
}

@test "trl and records convert both ways losslessly" {
    pv-pair -q "$D/trl.jsonl" >"$TMP/rec.jsonl"
    run jq -c '[.image, has("images")]' "$TMP/rec.jsonl"
    assert_line --index 0 '["img/1.jpg",false]'
    pv-pair -q --to trl "$TMP/rec.jsonl" >"$TMP/back.jsonl"
    diff <(jq -S . "$D/trl.jsonl") <(jq -S . "$TMP/back.jsonl")
    pv-pair -q --require '' --to trl "$D/records.jsonl" >"$TMP/trl.jsonl"
    pv-pair -q --require '' "$TMP/trl.jsonl" >"$TMP/rec2.jsonl"
    diff <(jq -S . "$D/records.jsonl") <(jq -S . "$TMP/rec2.jsonl")
}

@test "records -> llava -> records is lossless, <image> added only with an image" {
    printf '%s\n' '{"id":"a","image":"x.jpg","prompt":"Describe.","chosen":"c","rejected":"r","objects":["cat"]}' \
        '{"id":"b","prompt":"Text only.","chosen":"c","z":null}' >"$TMP/in.jsonl"
    pv-pair -q --require id,prompt,chosen --to llava "$TMP/in.jsonl" >"$TMP/llava.jsonl"
    run jq -r '.conversations[0].value' "$TMP/llava.jsonl"
    assert_line --index 0 '<image>'
    assert_line --index 1 'Describe.'
    assert_line --index 2 'Text only.'
    run jq -c 'has("rejected_conversations")' "$TMP/llava.jsonl"
    assert_output $'true\nfalse'
    pv-pair -q --require id,prompt,chosen "$TMP/llava.jsonl" >"$TMP/back.jsonl"
    diff <(jq -S . "$TMP/in.jsonl") <(jq -S . "$TMP/back.jsonl")
}

@test "llava objects that cannot round-trip are bad records with file:line" {
    cat >"$TMP/bad.json" <<'JSON'
[
  {"id": "1", "image": "a.jpg",
   "conversations": [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "A"},
                     {"from": "human", "value": "again?"}]},
  {"id": "2", "image": "b.jpg",
   "conversations": [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "A"}],
   "rejected_conversations": [{"from": "human", "value": "<image>\nOther"}, {"from": "gpt", "value": "B"}]},
  {"id": "3", "image": "c.jpg", "prompt": "clash",
   "conversations": [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "A"}]},
  7,
  {"id": "5", "image": "e.jpg",
   "conversations": [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "A"}],
   "rejected_conversations": [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "B"}]}
]
JSON
    run --separate-stderr pv-pair --keep-going "$TMP/bad.json"
    assert_failure 1
    [[ $stderr == *"bad.json:2: \"conversations\" is not [{from: human, value}, {from: gpt, value}]"* ]]
    [[ $stderr == *"bad.json:5: the human turns of \"conversations\" and \"rejected_conversations\" differ"* ]]
    [[ $stderr == *"bad.json:8: llava object has a \"prompt\" key of its own"* ]]
    [[ $stderr == *"bad.json:10: array element 4 is not a JSON object"* ]]
    [[ $stderr == *"5 read, 1 kept, 0 dropped, 4 bad"* ]]
    run jq -r .id <<<"$output"
    assert_output 5
}

@test "an invalid JSON array is reported at its line" {
    printf '[\n  {"id": "1"},\n\n  {"id": "2",, }\n]\n' >"$TMP/broken.json"
    run --separate-stderr pv-pair "$TMP/broken.json"
    assert_failure 1
    [[ $stderr == *"broken.json:4: invalid JSON near column"* ]]
    printf '[{"id":"1","image":"a","prompt":"p","chosen":"c","rejected":"r"}] x\n' >"$TMP/trail.json"
    run --separate-stderr pv-pair "$TMP/trail.json"
    assert_failure 1
    [[ $stderr == *"trail.json:1: invalid JSON: trailing characters after the array"* ]]
}

@test "validation: a reason for every drop, a summary, status 0" {
    mkdir -p "$TMP/root/img"
    touch "$TMP/root/img/1.jpg" "$TMP/root/img/2.jpg" "$TMP/root/img/3.jpg" "$TMP/root/img/5.jpg"
    run --separate-stderr pv-pair --dedupe id --check-images --image-root "$TMP/root" "$D/records.jsonl"
    assert_success
    run jq -r .id <<<"$output"
    assert_output $'1\n5'
    [[ $stderr == *'records.jsonl:2: dropped: "chosen" identical to "rejected" (id 2)'* ]]
    [[ $stderr == *'records.jsonl:3: dropped: empty "chosen" (id 3)'* ]]
    [[ $stderr == *'records.jsonl:4: dropped: duplicate id (id 1)'* ]]
    [[ $stderr == *'records.jsonl:5: dropped: image file not found (id 4)'* ]]
    [[ $stderr == *'6 read, 2 kept, 4 dropped (1 "chosen" identical to "rejected", 1 empty "chosen", 1 duplicate id, 1 image file not found)'* ]]
    # -q: nothing on stderr.
    run --separate-stderr pv-pair -q --dedupe id "$D/records.jsonl"
    assert_success
    [ -z "$stderr" ]
}

@test "--require chooses the checked fields; '' checks nothing" {
    printf '%s\n' '{"id":"1","image":"a.jpg","prompt":"p","chosen":"same"}' \
        '{"id":"2","image":"b.jpg","prompt":"p","chosen":"same","rejected":"same"}' >"$TMP/in.jsonl"
    run --separate-stderr pv-pair "$TMP/in.jsonl"
    assert_failure 1
    [[ $stderr == *'in.jsonl:1: missing "rejected"'* ]]
    # Without "rejected" required, chosen = rejected is not checked either.
    run --separate-stderr pv-pair --require id,image,prompt,chosen "$TMP/in.jsonl"
    assert_success
    [ "${#lines[@]}" -eq 2 ]
    run --separate-stderr pv-pair --require '' "$TMP/in.jsonl"
    assert_success
    [ "${#lines[@]}" -eq 2 ]
    cmp <(pv-pair -q --require '' "$TMP/in.jsonl") "$TMP/in.jsonl"
}

@test "--dedupe content keeps the first of identical pairs whatever their ids" {
    jq -c '.id = "x" + .id' "$D/records.jsonl" | head -1 >"$TMP/in.jsonl"
    cat "$D/records.jsonl" >>"$TMP/in.jsonl"
    run --separate-stderr pv-pair --dedupe content "$TMP/in.jsonl"
    assert_success
    run jq -r .id <<<"$output"
    assert_output $'x1\n4\n5'
}

@test "--assign-ids numbers records without an id by their position" {
    printf '%s\n' '{"image":"a.jpg","prompt":"p","chosen":"c","rejected":"r"}' \
        '{"id":"keep","image":"b.jpg","prompt":"p","chosen":"c","rejected":"r"}' \
        '{"id":null,"image":"c.jpg","prompt":"p","chosen":"c","rejected":"r"}' >"$TMP/in.jsonl"
    run --separate-stderr pv-pair "$TMP/in.jsonl"
    assert_failure 1
    [[ $stderr == *'in.jsonl:1: missing "id"'* ]]
    run --separate-stderr pv-pair --assign-ids "$TMP/in.jsonl"
    assert_success
    run jq -r .id <<<"$output"
    assert_output $'1\nkeep\n3'
}

@test "--join adds or replaces fields in place; unmatched records are dropped or kept" {
    run --separate-stderr pv-pair --require '' --join "$D/noise.jsonl" "$D/records.jsonl"
    assert_success
    run jq -c '[.id, .image, .noisy_image, .noise.step]' <<<"$output"
    assert_output $'["1","img/1-replaced.jpg","noisy/1.png",500]\n["1","img/1-replaced.jpg","noisy/1.png",500]\n["5","img/5.jpg","noisy/5.png",500]'
    run --separate-stderr pv-pair --require '' --join "$D/noise.jsonl" "$D/records.jsonl"
    [[ $stderr == *'records.jsonl:2: dropped: no match in the --join file (id 2)'* ]]
    run jq -c 'keys_unsorted' <<<"${lines[0]}"
    assert_output '["id","image","prompt","chosen","rejected","objects","noisy_image","noise"]'
    run --separate-stderr pv-pair --require '' --join "$D/noise.jsonl" --keep-unmatched "$D/records.jsonl"
    assert_success
    [ "${#lines[@]}" -eq 6 ]
    # Another key.
    printf '%s\n' '{"image":"img/5.jpg","tag":"five"}' >"$TMP/by_image.jsonl"
    run --separate-stderr pv-pair --require '' --join "$TMP/by_image.jsonl" --on image "$D/records.jsonl"
    assert_success
    assert_output --partial '"id":"5"'
    assert_output --partial '"tag":"five"'
}

@test "--join: a repeated or missing key in the joined file is a bad record" {
    printf '%s\n' '{"id":"1","a":1}' '{"a":2}' '{"id":"1","a":3}' >"$TMP/j.jsonl"
    run --separate-stderr pv-pair --keep-going --require '' --join "$TMP/j.jsonl" "$D/records.jsonl"
    assert_failure 1
    [[ $stderr == *'j.jsonl:2: missing "id" (the --on key)'* ]]
    [[ $stderr == *'j.jsonl:3: "id" 1 appears twice in the --join file'* ]]
    run jq -c .a <<<"$output"
    assert_output $'1\n1'
}

@test "--shuffle --seed matches an independent SplitMix64 + Fisher-Yates" {
    for i in $(seq 1 50); do
        printf '{"id":"%d","image":"i%d.jpg","prompt":"p","chosen":"c%d","rejected":"r%d"}\n' $i $i $i $i
    done >"$TMP/in.jsonl"
    for seed in 0 1 12345678901234567890; do
        pv-pair -q --shuffle --seed $seed "$TMP/in.jsonl" | jq -r .id >"$TMP/got"
        /usr/bin/python3 - "$seed" >"$TMP/want" <<'PY'
import sys
M = (1 << 64) - 1
state = int(sys.argv[1])
def nxt():
    # SplitMix64 as in Vigna's splitmix64.c
    global state
    state = (state + 0x9E3779B97F4A7C15) & M
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)
def below(n):
    limit = M - M % n   # reject the incomplete top copy of [0, n)
    while True:
        x = nxt()
        if x < limit:
            return x % n
items = [str(i) for i in range(1, 51)]
for i in range(len(items) - 1, 0, -1):
    j = below(i + 1)
    items[i], items[j] = items[j], items[i]
print("\n".join(items))
PY
        diff "$TMP/want" "$TMP/got"
    done
    # A different seed gives a different order of the same records.
    ! cmp -s <(pv-pair -q --shuffle --seed 1 "$TMP/in.jsonl") <(pv-pair -q --shuffle --seed 2 "$TMP/in.jsonl")
    diff <(pv-pair -q --shuffle --seed 2 "$TMP/in.jsonl" | sort) <(sort "$TMP/in.jsonl")
}

@test "--split writes round(fraction x kept) records to --val, the rest to --train" {
    for i in $(seq 1 20); do
        printf '{"id":"%d","image":"i.jpg","prompt":"p","chosen":"c%d","rejected":"r"}\n' $i $i
    done >"$TMP/in.jsonl"
    run --separate-stderr pv-pair --split 0.25 --train "$TMP/train.jsonl" --val "$TMP/val.jsonl" "$TMP/in.jsonl"
    assert_success
    [ -z "$output" ]
    [[ $stderr == *"15 to $TMP/train.jsonl, 5 to $TMP/val.jsonl"* ]]
    cat "$TMP/train.jsonl" "$TMP/val.jsonl" | cmp - "$TMP/in.jsonl"
    pv-pair -q --shuffle --seed 3 --split 0.25 --train "$TMP/t.jsonl.gz" --val "$TMP/v.json" --array "$TMP/in.jsonl"
    # --array applies to both files.
    [ "$(gzip -dc "$TMP/t.jsonl.gz" | jq length)" -eq 15 ]
    [ "$(jq length "$TMP/v.json")" -eq 5 ]
    diff <( (gzip -dc "$TMP/t.jsonl.gz" | jq -c '.[]'; jq -c '.[]' "$TMP/v.json") | sort) <(sort "$TMP/in.jsonl")
    # The same as shuffling, then splitting in order.
    diff <(gzip -dc "$TMP/t.jsonl.gz" | jq -c '.[]') <(pv-pair -q --shuffle --seed 3 "$TMP/in.jsonl" | head -15)
    ls "$TMP" | { ! grep -q tmp; }
}

@test "-o writes atomically; --array gives valid JSON even when empty" {
    pv-pair -q -o "$TMP/out.jsonl" "$D/povid.json"
    [ "$(wc -l <"$TMP/out.jsonl")" -eq 3 ]
    : >"$TMP/empty.jsonl"
    run --separate-stderr pv-pair --array "$TMP/empty.jsonl"
    assert_success
    [ "$(jq -c . <<<"$output")" = "[]" ]
    [[ $stderr == *"0 read, 0 kept, 0 dropped"* ]]
}

@test "--to llava reports a record it cannot write" {
    printf '%s\n' '{"id":"1","image":"a.jpg","chosen":"c"}' >"$TMP/in.jsonl"
    run --separate-stderr pv-pair --require id --to llava "$TMP/in.jsonl"
    assert_failure 1
    [[ $stderr == *'in.jsonl:1: cannot write llava: missing "prompt"'* ]]
}

@test "EXAMPLES of pv-pair(1) run" {
    cd "$TMP"
    cp "$D/povid.json" .
    jq -c '.[] | {id, noisy_image: ("noisy/" + .id + ".png")}' povid.json >noisy.jsonl
    mkdir -p coco
    jq -c '.[] | {id, image, prompt: "Describe this image in detail.", chosen: .conversations[1].value}' povid.json >captions.jsonl
    for f in $(jq -r '.[].image' povid.json); do mkdir -p "coco/$(dirname "$f")"; touch "coco/$f"; done
    man_examples "$REPO/man/pv-pair.1" >examples.sh
    [ "$(grep -c '^pv-pair' examples.sh)" -eq 5 ]
    run --separate-stderr bash -e examples.sh
    assert_success
    [ "$(wc -l <pairs.jsonl)" -eq 3 ]
    [ "$(cat train.jsonl val.jsonl | jq -s 'map(select(.noisy_image)) | length')" -eq 3 ]
    [ "$(jq 'map(select(.conversations and .rejected_conversations)) | length' train.json)" -eq "$(wc -l <train.jsonl)" ]
    gzip -dc train.trl.jsonl.gz | jq -e 'has("images") and has("prompt")' >/dev/null
    [ "$(wc -l <checked.jsonl)" -eq 3 ]
}

@test "EXAMPLES of pv-records(5) run: the example record is valid" {
    cd "$TMP"
    man_examples "$REPO/man/pv-records.5" >examples.txt
    # The first block is the record, folded with backslash-newline.
    awk 'BEGIN{RS=""} NR==1' examples.txt | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' >pairs.jsonl
    [ "$(wc -l <pairs.jsonl)" -eq 1 ]
    jq -e '.hallucination.edits | length == 2' pairs.jsonl >/dev/null
    awk 'BEGIN{RS=""} NR==2' examples.txt >check.sh
    run --separate-stderr bash -e check.sh
    assert_success
    [[ $stderr == *"1 read, 1 kept, 0 dropped"* ]]
}

@test "repeated keys that a conversion would have to choose between are bad records" {
    # Found by tests/fuzz/fuzz_jsonl.c (a use after free before the check existed).
    printf '%s\n' '{"id":"1","image":"a","prompt":"p","chosen":"c","rejected":"r1","rejected":"r2"}' >"$TMP/r.jsonl"
    run --separate-stderr pv-pair --to llava "$TMP/r.jsonl"
    assert_failure 1
    [[ $stderr == *'r.jsonl:1: key "rejected" appears twice'* ]]
    printf '%s\n' '{"id":"1","conversations":[{"from":"human","value":"q"},{"from":"gpt","value":"a"}],"conversations":[]}' >"$TMP/l.jsonl"
    run --separate-stderr pv-pair --require '' "$TMP/l.jsonl"
    assert_failure 1
    [[ $stderr == *'l.jsonl:1: key "conversations" appears twice'* ]]
}

@test "--dedupe over thousands of records keeps each first occurrence, in order" {
    /usr/bin/python3 -c '
import json
for i in range(6000):
    k = (i * 7) % 2500
    print(json.dumps({"id": "k%d" % k, "image": "i.jpg", "prompt": "p", "chosen": "c%d" % (k % 1000), "rejected": "r"}, separators=(",", ":")))' >"$TMP/in.jsonl"
    pv-pair -q --dedupe id "$TMP/in.jsonl" >"$TMP/ids.jsonl"
    diff "$TMP/ids.jsonl" <(awk -F'"' '!seen[$4]++' "$TMP/in.jsonl")
    [ "$(wc -l <"$TMP/ids.jsonl")" -eq 2500 ]
    pv-pair -q --dedupe content "$TMP/in.jsonl" >"$TMP/content.jsonl"
    diff "$TMP/content.jsonl" <(awk -F'"' '!seen[$16]++' "$TMP/in.jsonl")
    [ "$(wc -l <"$TMP/content.jsonl")" -eq 1000 ]
}

@test "array elements are reported at their own line, whatever their strings hold" {
    cat >"$TMP/tricky.json" <<'JSON'
[{"id": "1", "image": "a.jpg", "prompt": "p [ { \" , ] }", "chosen": "c\\", "rejected": "r"},

  {"id": "2", "image": "b.jpg", "prompt": "p", "chosen": "c",
   "rejected": "r", "x": [[{"y": "]},"}], {}]},   "not an object",
  {"id": "4", "image": "d.jpg", "prompt": "p", "chosen": "c", "rejected": 4}
]
JSON
    run --separate-stderr pv-pair --keep-going "$TMP/tricky.json"
    assert_failure 1
    [[ $stderr == *'tricky.json:4: array element 3 is not a JSON object'* ]]
    [[ $stderr == *'tricky.json:5: "rejected" is not a string'* ]]
    run jq -r .id <<<"$output"
    assert_output $'1\n2'
}

@test "-o may replace its own input" {
    cp "$D/povid.json" "$TMP/data.json"
    pv-pair -q -o "$TMP/data.json" "$TMP/data.json"
    [ "$(wc -l <"$TMP/data.json")" -eq 3 ]
    diff "$TMP/data.json" <(pv-pair -q "$D/povid.json")
}

@test "a JSON array is recognised after blank lines, on stdin, and gzip-compressed" {
    { printf '\r\n\n   \t'; cat "$D/povid.json"; } | gzip -c >"$TMP/povid.json.gz"
    run --separate-stderr bash -c 'gzip -dc "$1" | pv-pair -q' _ "$TMP/povid.json.gz"
    assert_success
    [ "${#lines[@]}" -eq 3 ]
    run --separate-stderr pv-pair -q "$TMP/povid.json.gz"
    assert_success
    diff <(printf '%s\n' "$output") <(pv-pair -q "$D/povid.json")
    # An empty input is an empty JSONL stream, not an error.
    run --separate-stderr pv-pair </dev/null
    assert_success
    [ -z "$output" ]
}
