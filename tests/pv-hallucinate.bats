#!/usr/bin/env bats
# pv-hallucinate: the rules engine (seeded, per-record), --build-cooccur and
# --cooccur, the request and merge engines against a recorded responses file,
# bad input, and the EXAMPLES of pv-hallucinate(1).
bats_require_minimum_version 1.5.0
load helpers

D=$BATS_TEST_DIRNAME/data/hallucinate
SAMPLE=$BATS_TEST_DIRNAME/../pipelines/sample/pairs.jsonl

setup() { setup_tmp; }
teardown() { teardown_tmp; }

man_examples() {
    awk '/^\.SH /{ex = ($2 == "EXAMPLES")} ex && /^\.EE/{inb=0; print ""} ex && inb{print} ex && /^\.EX/{inb=1}' "$1" |
        sed -e 's/\\-/-/g' -e 's/\\e/\\/g'
}

@test "--help and --version print on stdout and exit 0" {
    run --separate-stderr pv-hallucinate --help
    assert_success
    assert_output --partial "Usage: pv-hallucinate"
    assert_output --partial "--build-cooccur"
    run --separate-stderr pv-hallucinate --version
    assert_success
    assert_output --regexp '^pv-hallucinate \(pv\) [0-9]'
}

@test "usage errors exit 2" {
    run --separate-stderr pv-hallucinate --types colour "$SAMPLE"
    assert_failure 2
    [[ $stderr == *"--types: 'colour' is not a list"* ]]
    run --separate-stderr pv-hallucinate --edits 0 "$SAMPLE"
    assert_failure 2
    run --separate-stderr pv-hallucinate --engine merge "$SAMPLE"
    assert_failure 2
    [[ $stderr == *"--engine merge needs --responses FILE"* ]]
    run --separate-stderr pv-hallucinate --engine gpt "$SAMPLE"
    assert_failure 2
    run --separate-stderr pv-hallucinate --with-image "$SAMPLE"
    assert_failure 2
}

@test "rules: every record gets a different rejected and the edits that made it" {
    run --separate-stderr pv-hallucinate --seed 3 "$D/coco_descriptions.jsonl"
    assert_success
    [ "${#lines[@]}" -eq 26 ]
    # Fields pass through in order; rejected and hallucination are added.
    jq -e -s 'all(.[]; (keys_unsorted[:5] == ["id","image","prompt","chosen","objects"])
                       and .rejected != .chosen
                       and .hallucination.engine == "rules" and .hallucination.seed == 3
                       and (.hallucination.edits | length) == 3
                       and (.hallucination.edits | map(.type) | index("object")))' <<<"$output"
    # Kinds take turns: each appears in most records.
    for kind in object attribute relation; do
        n=$(jq -s --arg k "$kind" 'map(select(.hallucination.edits | map(.type) | index($k))) | length' <<<"$output")
        echo "$kind in $n records"
        [ "$n" -ge 22 ]
    done
    # Each edit's "to" text is in rejected, and each non-insertion's "from" was in chosen.
    jq -e -s 'all(.[]; . as $r | all(.hallucination.edits[]; (.to as $t | $r.rejected | ascii_downcase | contains($t | ascii_downcase))
                                    and (.from == "" or (.from as $f | $r.chosen | contains($f)))))' <<<"$output"
    # An inserted object is never one of the record's objects.
    jq -e -s 'all(.[]; . as $r | all(.hallucination.edits[] | select(.type == "object"); .object as $o | $r.objects | index($o) | not))' <<<"$output"
}

@test "rules: same seed, same output, whatever the order; another seed, other output" {
    pv-hallucinate --seed 5 "$D/coco_descriptions.jsonl" >"$TMP/a.jsonl"
    pv-hallucinate --seed 5 "$D/coco_descriptions.jsonl" >"$TMP/b.jsonl"
    cmp "$TMP/a.jsonl" "$TMP/b.jsonl"
    tac "$D/coco_descriptions.jsonl" | pv-hallucinate --seed 5 | tac >"$TMP/c.jsonl"
    cmp "$TMP/a.jsonl" "$TMP/c.jsonl"
    pv-hallucinate --seed 6 "$D/coco_descriptions.jsonl" >"$TMP/d.jsonl"
    differ=$(paste -d '\n' "$TMP/a.jsonl" "$TMP/d.jsonl" | jq -s '[range(0; length; 2) as $i | select(.[$i].rejected != .[$i+1].rejected)] | length')
    [ "$differ" -ge 13 ]
}

@test "rules: --types and --edits choose the kinds and their number" {
    # Prepositions are only swapped before an object: "riding a surfboard on a large
    # wave" (d01) has no relation to swap.
    run --separate-stderr pv-hallucinate --keep-going --types relation --edits 1 "$D/coco_descriptions.jsonl"
    assert_failure 1
    [ "$stderr" = "pv-hallucinate: $D/coco_descriptions.jsonl:1: no edit of the asked kinds (relation) applies to \"chosen\""$'\n'"pv-hallucinate: 1 bad record skipped" ]
    [ "${#lines[@]}" -eq 25 ]
    jq -e -s 'all(.[]; .hallucination.edits | length == 1 and .[0].type == "relation")' <<<"$output"
    run --separate-stderr pv-hallucinate --types object --edits 2 "$D/coco_descriptions.jsonl"
    assert_success
    # d23 has a bear, and only birds go with bears in the built-in table: one edit there.
    jq -e -s 'all(.[]; .hallucination.edits | (length == 2 or length == 1) and all(.[]; .type == "object" and .from == ""))' <<<"$output"
    [ "$(jq -s 'map(select(.hallucination.edits | length == 2)) | length' <<<"$output")" -ge 24 ]
    # Attribute edits on objects need no `objects` field.
    jq -c 'del(.objects)' "$D/coco_descriptions.jsonl" >"$TMP/noobj.jsonl"
    run --separate-stderr pv-hallucinate --types attribute,relation "$TMP/noobj.jsonl"
    assert_success
    [ "${#lines[@]}" -eq 26 ]
}

@test "gzip input, -o FILE output, the same records as through a pipe" {
    gzip -c "$D/coco_descriptions.jsonl" >"$TMP/in.jsonl.gz"
    run --separate-stderr pv-hallucinate --seed 2 -o "$TMP/out.jsonl" "$TMP/in.jsonl.gz"
    assert_success
    [ -z "$output" ]
    pv-hallucinate --seed 2 <"$D/coco_descriptions.jsonl" | cmp - "$TMP/out.jsonl"
    [ "$(ls "$TMP")" = "$(printf 'in.jsonl.gz\nout.jsonl')" ]
}

@test "--build-cooccur counts the records' objects; --cooccur uses the table" {
    for i in 1 2 3; do echo '{"objects":["dog","kite"]}'; done >"$TMP/train.jsonl"
    echo '{"objects":["dog","man","Dog"]}' >>"$TMP/train.jsonl"
    run --separate-stderr pv-hallucinate -q --build-cooccur "$TMP/train.jsonl"
    assert_success
    # "man" is counted as its category, person; a repeat within a record counts once.
    jq -e '.format == "pv-cooccur" and .records == 4 and .objects == {"dog":4,"kite":3,"person":1}
           and .pairs.dog == {"kite":3,"person":1} and .pairs.kite == {"dog":3}' <<<"$output"
    pv-hallucinate -q --build-cooccur -o "$TMP/co.json" "$TMP/train.jsonl"
    for i in $(seq 1 40); do echo '{"id":"x'"$i"'","chosen":"A dog runs on the beach.","objects":["dog"]}'; done >"$TMP/many.jsonl"
    # With dog present, kite (3/4) outranks person (1/4); over 40 ids (40 random
    # streams) both appear, kite more often, and nothing outside the table does.
    pv-hallucinate --types object --edits 1 --cooccur "$TMP/co.json" "$TMP/many.jsonl" >"$TMP/out.jsonl"
    kites=$(jq -s 'map(select(.hallucination.edits[0].object == "kite")) | length' "$TMP/out.jsonl")
    people=$(jq -s 'map(select(.hallucination.edits[0].object == "person")) | length' "$TMP/out.jsonl")
    [ $((kites + people)) -eq 40 ]
    [ "$kites" -gt "$people" ]
    [ "$people" -gt 0 ]
}

@test "--cooccur: a missing or malformed table is an error (status 3)" {
    run --separate-stderr pv-hallucinate --cooccur "$TMP/none.json" "$SAMPLE"
    assert_failure 3
    [[ $stderr == "pv-hallucinate: $TMP/none.json: No such file or directory" ]]
    echo '{"format":"pv-cooccur","version":1,"records":1,"objects":{"a":1,"b":1},"pairs":{"a":{"b":1}}}' >"$TMP/bad.json"
    run --separate-stderr pv-hallucinate --cooccur "$TMP/bad.json" "$SAMPLE"
    assert_failure 3
    [[ $stderr == *"pairs are not symmetric"* ]]
}

@test "rules: bad records are named and skipped with --keep-going" {
    printf '%s\n' \
        '{"id":"1","chosen":"A dog sits on a red blanket.","objects":["dog"]}' \
        '{"id":"2","objects":["dog"]}' \
        '{"id":"3","chosen":"   ","objects":["cat"]}' \
        '{"id":"4","chosen":"A cat sleeps."}' \
        '{"id":"5","chosen":"A cat sleeps.","objects":"cat"}' \
        '{"id":"6","chosen":"Sunny.","objects":[]}' \
        '{"id":"7","chosen":"A cat sleeps on a couch.","objects":["cat","couch"]}' >"$TMP/in.jsonl"
    run --separate-stderr pv-hallucinate "$TMP/in.jsonl"
    assert_failure 1
    [ "$stderr" = "pv-hallucinate: $TMP/in.jsonl:2: missing \"chosen\"" ]
    [ "${#lines[@]}" -eq 1 ]
    run --separate-stderr pv-hallucinate --keep-going --types relation "$TMP/in.jsonl"
    assert_failure 1
    [[ $stderr == *'in.jsonl:3: "chosen" is empty'* ]]
    [[ $stderr == *'in.jsonl:6: no edit of the asked kinds (relation) applies to "chosen"'* ]]
    run --separate-stderr pv-hallucinate --keep-going "$TMP/in.jsonl"
    assert_failure 1
    run jq -r .id <<<"$output"
    assert_output $'1\n7'
    [[ $stderr == *'in.jsonl:4: missing "objects"'* ]]
    [[ $stderr == *'in.jsonl:5: "objects" is not an array of strings'* ]]
    [[ $stderr == *"pv-hallucinate: 5 bad records skipped"* ]]
}

@test "property: CHAIR_i of rejected is higher than of chosen, by pv-score" {
    [ -x "$PV_BIN/pv-score" ] || skip "pv-score not built (the same property is in test_hallucinate, through the lexicon)"
    pv-hallucinate --seed 11 "$D/coco_descriptions.jsonl" >"$TMP/out.jsonl"
    chosen=$(pv-score --field chosen "$TMP/out.jsonl" | jq .chair_i)
    rejected=$(pv-score --field rejected "$TMP/out.jsonl" | jq .chair_i)
    echo "CHAIR_i chosen $chosen rejected $rejected"
    jq -n -e "$rejected > $chosen and $chosen == 0"
    # Every inserted object is among pv-score's hallucinations for that record.
    pv-score --annotate --field rejected "$TMP/out.jsonl" | jq -c 'select(.id)' >"$TMP/annotated.jsonl"
    jq -e -s 'all(.[]; . as $r | [.hallucination.edits[] | select(.type == "object") | .object] as $ins
                        | ($ins | length) > 0 and all($ins[]; . as $o | $r.chair.hallucinated | index($o)))' "$TMP/annotated.jsonl"
}

@test "request: one OpenAI batch line per record" {
    run --separate-stderr pv-hallucinate --engine request --model my-model --temperature 0.2 "$D/batch_records.jsonl"
    assert_success
    [ "${#lines[@]}" -eq 5 ]
    jq -e -s 'map(.custom_id) == ["r1","r2","r3","r4","r5"]
              and all(.[]; .method == "POST" and .url == "/v1/chat/completions"
                           and .body.model == "my-model" and .body.temperature == 0.2
                           and (.body.messages | map(.role)) == ["system","user"]
                           and (.body.messages[1].content | type) == "string")' <<<"$output"
    # The description is in the instruction, which asks for the three kinds.
    jq -e -s --slurpfile recs "$D/batch_records.jsonl" \
        '[range(0; 5) as $i | .[$i].body.messages[1].content
          | contains($recs[$i].chosen) and contains("co-occurrence") and contains("relationships")
            and contains("Attributes") and contains("style")] | all' <<<"$output"
}

@test "request: the record's objects are named as ones not to add" {
    run --separate-stderr pv-hallucinate --engine request "$SAMPLE"
    assert_success
    jq -e -s '.[0].body.messages[1].content | contains("must not be among the objects really in the image: dog, frisbee, bench.")' <<<"$output"
    echo '{"id":"x","chosen":"A dog.","objects":null}' >"$TMP/null.jsonl"
    run --separate-stderr pv-hallucinate --engine request "$TMP/null.jsonl"
    assert_success
    jq -e '.body.messages[1].content | contains("really in the image") | not' <<<"$output"
    echo '{"id":"x","chosen":"A dog.","objects":[1]}' >"$TMP/bad.jsonl"
    run --separate-stderr pv-hallucinate --engine request "$TMP/bad.jsonl"
    assert_failure 1
    [[ $stderr == *'bad.jsonl:1: "objects" is not an array of strings' ]]
}

@test "request --with-image: the image as a base64 data URL of the right type" {
    run --separate-stderr pv-hallucinate --engine request --with-image --image-root "$D" "$D/batch_records.jsonl"
    assert_success
    url() { jq -r -s ".[$1].body.messages[1].content[1].image_url.url" <<<"$output"; }
    [[ $(url 0) == data:image/png\;base64,* ]]
    [[ $(url 1) == data:image/jpeg\;base64,* ]]
    # coreutils base64 decodes them back to the very files.
    url 0 | sed 's/^data:image\/png;base64,//' | base64 -d >"$TMP/back.png"
    cmp "$TMP/back.png" "$D/tiny.png"
    url 1 | sed 's/^data:image\/jpeg;base64,//' | base64 -d >"$TMP/back.jpg"
    cmp "$TMP/back.jpg" "$D/tiny.jpg"
    jq -e -s 'all(.[]; .body.messages[1].content[0].type == "text")' <<<"$output"
    # Relative to the current directory when no --image-root is given.
    cd "$D"
    run --separate-stderr pv-hallucinate --engine request --with-image batch_records.jsonl
    assert_success
    [ "${#lines[@]}" -eq 5 ]
}

@test "request: missing ids, repeated ids and bad images are bad records" {
    printf '%s\n' \
        '{"id":"a","image":"tiny.png","chosen":"A dog."}' \
        '{"image":"tiny.png","chosen":"A cat."}' \
        '{"id":"a","image":"tiny.png","chosen":"A bird."}' \
        '{"id":"b","image":"not-an-image.jpg","chosen":"A cow."}' \
        '{"id":"c","image":"absent.png","chosen":"A cow."}' \
        '{"id":"d","chosen":"A cow."}' \
        '{"id":7,"image":"tiny.jpg","chosen":"A horse."}' >"$TMP/in.jsonl"
    run --separate-stderr pv-hallucinate --engine request --with-image --image-root "$D" --keep-going "$TMP/in.jsonl"
    assert_failure 1
    run jq -r .custom_id <<<"$output"
    assert_output $'a\n7'
    [[ $stderr == *'in.jsonl:2: missing "id"'* ]]
    [[ $stderr == *'in.jsonl:3: duplicate id "a" (first on line 1)'* ]]
    [[ $stderr == *"in.jsonl:4: image $D/not-an-image.jpg: not a JPEG or PNG image"* ]]
    [[ $stderr == *"in.jsonl:5: image $D/absent.png: No such file or directory"* ]]
    [[ $stderr == *'in.jsonl:6: missing "image"'* ]]
}

@test "merge: answers become rejected; failed and missing ones are reported and kept out" {
    run --separate-stderr pv-hallucinate --engine merge --responses "$D/responses.jsonl" "$D/batch_records.jsonl"
    assert_failure 1
    [ "${#lines[@]}" -eq 2 ]
    [[ $stderr == *'batch_records.jsonl:3: request for id "r3" failed: Rate limit reached for gpt-4o' ]]
    run --separate-stderr pv-hallucinate --keep-going --engine merge --responses "$D/responses.jsonl" "$D/batch_records.jsonl"
    assert_failure 1
    jq -e -s 'map(.id) == ["r1","r2"]
              and .[0].rejected == "A brown dog sleeps under a blue blanket next to a white cat and a frisbee."
              and .[1].rejected == "Three people stand at a bus stop while a red bus and a taxi approach."
              and all(.[]; .hallucination == {"engine":"llm","model":"gpt-4o-2024-08-06"})' <<<"$output"
    [[ $stderr == *'batch_records.jsonl:4: no response for id "r4" in '*'responses.jsonl'* ]]
    [[ $stderr == *'batch_records.jsonl:5: request for id "r5" failed: status 500: The server had an error'* ]]
    [[ $stderr == *'1 response matches no record (first: "zz")'* ]]
    [[ $stderr == *"3 bad records skipped"* ]]
}

@test "merge: malformed responses and duplicate custom_ids" {
    run --separate-stderr pv-hallucinate --engine merge --responses "$D/responses_malformed.jsonl" "$D/batch_records.jsonl"
    assert_failure 1
    [[ $stderr == "pv-hallucinate: $D/responses_malformed.jsonl:2: response without a \"custom_id\" string" ]]
    run --separate-stderr pv-hallucinate --keep-going --engine merge --responses "$D/responses_malformed.jsonl" "$D/batch_records.jsonl"
    assert_failure 1
    [ -z "$output" ]
    [[ $stderr == *'responses_malformed.jsonl:3: response "r2" has no response.body.choices[0].message'* ]]
    [[ $stderr == *'responses_malformed.jsonl:4: invalid JSON'* ]]
    [[ $stderr == *'responses_malformed.jsonl:5: duplicate custom_id "r1" (first on line 1)'* ]]
    [[ $stderr == *'batch_records.jsonl:1: request for id "r1" failed: the responses file has this custom_id twice'* ]]
    run --separate-stderr pv-hallucinate --engine merge --responses "$TMP/absent.jsonl" "$D/batch_records.jsonl"
    assert_failure 3
}

@test "merge: an empty answer or one equal to chosen is refused" {
    printf '%s\n' '{"id":"a","chosen":"A dog."}' '{"id":"b","chosen":"A cat."}' '{"id":"c","chosen":"A cow."}' >"$TMP/in.jsonl"
    answer() { jq -c -n --arg id "$1" --arg c "$2" '{custom_id:$id, response:{status_code:200, body:{choices:[{message:{content:$c}}]}}, error:null}'; }
    { answer a "  "; answer b "A cat."; answer c " Two cows. "; } >"$TMP/ans.jsonl"
    run --separate-stderr pv-hallucinate --keep-going --model local-llm --engine merge --responses "$TMP/ans.jsonl" "$TMP/in.jsonl"
    assert_failure 1
    jq -e '.id == "c" and .rejected == "Two cows." and .hallucination == {"engine":"llm","model":"local-llm"}' <<<"$output"
    [[ $stderr == *'in.jsonl:1: the answer for id "a" is empty'* ]]
    [[ $stderr == *'in.jsonl:2: the answer for id "b" is the same as "chosen"'* ]]
}

@test "EXAMPLES of pv-hallucinate(1) run" {
    cd "$TMP"
    cp "$SAMPLE" pairs.jsonl
    cp "$D/coco_descriptions.jsonl" train.jsonl
    cp -r "$(dirname "$SAMPLE")/images" images
    man_examples "$REPO/man/pv-hallucinate.1" >examples.sh
    [ "$(grep -c '^pv-hallucinate' examples.sh)" -eq 5 ]
    # A stand-in for the server: answer each request with its description and one more object.
    grep -v -e 'engine request' -e 'engine merge' examples.sh >part1.sh
    grep 'engine request' examples.sh >part2.sh
    grep 'engine merge' examples.sh >part3.sh
    run --separate-stderr bash -e part1.sh
    assert_success
    run --separate-stderr bash -e part2.sh
    assert_success
    jq -c '{custom_id, response: {status_code: 200, body: {model: .body.model,
              choices: [{message: {content: (.body.messages[1].content[0].text | split("Description:\n")[1] + " A kite flies above.")}}]}}, error: null}' \
        batch.jsonl >batch_output.jsonl
    run --separate-stderr bash -e part3.sh
    assert_success
    [ "$(wc -l <with-rejected.jsonl)" -eq "$(wc -l <pairs.jsonl)" ]
    jq -e -s 'all(.[]; .rejected != .chosen)' with-rejected.jsonl
    jq -e '.format == "pv-cooccur" and .records == 26' cooccur.json
    jq -e -s 'all(.[]; .hallucination.edits | length == 2 and all(.[]; .type != "relation"))' two-edits.jsonl
    jq -e -s 'all(.[]; .rejected == .chosen + " A kite flies above." and .hallucination.model == "gpt-4o")' llm-rejected.jsonl
}
