#!/usr/bin/env bats
# pv-score: CHAIR on a dozen real descriptions (mentions, hallucinations and
# recall counted by hand from the sentences, see tests/data/score), CHAIR
# against COCO instances and captions files, POPE with the published answer
# rule per split, the plain-Python peer (bench/score_ref.py) on the same data,
# the published synonym list, bad input and exit statuses, and the EXAMPLES of
# pv-score(1).
bats_require_minimum_version 1.5.0
load helpers

D=$BATS_TEST_DIRNAME/data/score
PY=/usr/bin/python3

setup() { setup_tmp; }
teardown() { teardown_tmp; }

man_examples() {
    awk '/^\.SH /{ex = ($2 == "EXAMPLES")} ex && /^\.EE/{inb=0; print ""} ex && inb{print} ex && /^\.EX/{inb=1}' "$1" |
        sed -e 's/\\-/-/g' -e 's/\\e/\\/g'
}

# Field of a JSON line: json_get LINE EXPR (a Python expression on `o`).
json_get() {
    "$PY" -c 'import json, sys; o = json.loads(sys.argv[1]); print(json.dumps(eval(sys.argv[2])))' "$1" "$2"
}

@test "--help and --version print on stdout and exit 0" {
    run --separate-stderr pv-score --help
    assert_success
    assert_output --partial "Usage: pv-score"
    assert_output --partial "--coco-instances FILE"
    run --separate-stderr pv-score --version
    assert_success
    assert_output --regexp '^pv-score \(pv\) [0-9]'
}

@test "usage errors exit 2" {
    run --separate-stderr pv-score --metric bleu "$D/captions.jsonl"
    assert_failure 2
    run --separate-stderr pv-score --metric pope --coco-instances x.json "$D/pope.jsonl"
    assert_failure 2
    run --separate-stderr pv-score --group split "$D/captions.jsonl"
    assert_failure 2
    run --separate-stderr pv-score --coco-captions "$D/captions.json" "$D/coco.jsonl"
    assert_failure 2
    [[ $stderr == *"--coco-captions needs --coco-instances"* ]]
    run --separate-stderr pv-score --format yaml "$D/captions.jsonl"
    assert_failure 2
}

@test "CHAIR of twelve real descriptions: the counts made by hand" {
    # Mentions per record (see captions.jsonl): r01 couch tv "potted plant" cat couch
    # remote; r02 men surfboards dog umbrella; r03 toilet sink toothbrush cup (the
    # seat beside the toilet is not a chair); r04 "baby elephant" mother "adult
    # elephants" giraffe; r05 "passenger train" people man backpack "cell phone"
    # bench; r06 "hot dog" broccoli carrots fork knife "dining table"; r07
    # refrigerator microwave stove toaster bottles sink; r08 girl "bow tie" "teddy
    # bear" bed laptop books; r09 zebras giraffe; r10 skier ski snowboarder; r11
    # (empty); r12 cow sheep horse truck = 51 mentions, 11 of them not in `objects`,
    # in 9 records; 36 of the 40 ground-truth objects are mentioned.
    run --separate-stderr pv-score "$D/captions.jsonl"
    assert_success
    [ "${#lines[@]}" -eq 1 ]
    [ "$(json_get "$output" 'o["metric"], o["n"], o["mentions"], o["hallucinated_mentions"], o["hallucinated_records"], o["gt_objects"], o["recalled_objects"]')" = '["chair", 12, 51, 11, 9, 40, 36]' ]
    [ "$(json_get "$output" 'o["chair_s"] == 9/12 and o["chair_i"] == 11/51 and o["recall"] == 36/40')" = true ]
    # Words: r09 "Three zebras and a giraffe graze in a grassy field under a clear
    # blue sky" has 15; all twelve have 271.
    [ "$(json_get "$output" 'o["mean_words"] == 271/12')" = true ]
}

@test "--annotate: the chair object of each record, then the summary" {
    run --separate-stderr pv-score --annotate "$D/captions.jsonl"
    assert_success
    [ "${#lines[@]}" -eq 13 ]
    [ "$(json_get "${lines[2]}" 'o["chair"]')" = '{"mentioned": ["toilet", "sink", "toothbrush", "cup"], "hallucinated": ["cup"], "recalled": ["toilet", "sink", "toothbrush"], "words": 28}' ]
    [ "$(json_get "${lines[3]}" 'o["chair"]["mentioned"], o["chair"]["hallucinated"]')" = '[["elephant", "person", "elephant", "giraffe"], ["person", "giraffe"]]' ]
    [ "$(json_get "${lines[4]}" 'o["chair"]["mentioned"]')" = '["train", "person", "person", "backpack", "cell phone", "bench"]' ]
    [ "$(json_get "${lines[7]}" 'o["chair"]["hallucinated"]')" = '["tie", "laptop"]' ]
    [ "$(json_get "${lines[10]}" 'o["chair"]')" = '{"mentioned": [], "hallucinated": [], "recalled": [], "words": 0}' ]
    # Fields not owned by pv-score pass through untouched and in order.
    [ "$(json_get "${lines[0]}" 'list(o)')" = '["id", "image", "prompt", "caption", "objects", "chair"]' ]
    [ "$(json_get "${lines[12]}" 'o["metric"], o["n"]')" = '["chair", 12]' ]
}

@test "a long LLaVA-style detailed description" {
    "$PY" -c '
import json
print(json.dumps({"id": "long", "objects": ["person", "umbrella", "bus", "car", "traffic light", "bicycle", "truck"],
  "caption": "The image shows a busy city street on a rainy day. Several people with umbrellas walk along the "
             "sidewalk, while a red double-decker bus waits at a traffic light. On the left, a man in a dark coat "
             "is riding a bicycle past a fire hydrant. A few cars and a yellow taxi are parked near the curb, and "
             "a stop sign stands at the corner. In the background, there are tall buildings, a clock on a tower, "
             "and a small dog on a leash held by a woman carrying a handbag."}))' >"$TMP/long.jsonl"
    run --separate-stderr pv-score --annotate "$TMP/long.jsonl"
    assert_success
    # people umbrellas bus "traffic light" man bicycle "fire hydrant" cars taxi "stop
    # sign" clock dog woman handbag; "double-decker" is one word and no object.
    [ "$(json_get "${lines[0]}" 'o["chair"]["mentioned"]')" = '["person", "umbrella", "bus", "traffic light", "person", "bicycle", "fire hydrant", "car", "car", "stop sign", "clock", "dog", "person", "handbag"]' ]
    [ "$(json_get "${lines[0]}" 'o["chair"]["hallucinated"]')" = '["fire hydrant", "stop sign", "clock", "dog", "handbag"]' ]
    [ "$(json_get "${lines[0]}" 'o["chair"]["recalled"]')" = '["person", "umbrella", "bus", "traffic light", "bicycle", "car"]' ]
    # Summary numbers read back exactly (cJSON's own printing may drop the last bit
    # of 6/7).
    [ "$(json_get "${lines[1]}" 'o["chair_i"] == 5/14 and o["recall"] == 6/7 and o["chair_s"] == 1')" = true ]
}

@test "--summary FILE takes the summary off stdout; --format table prints on stderr" {
    run --separate-stderr pv-score --annotate --summary "$TMP/s.json" --format table "$D/captions.jsonl"
    assert_success
    [ "${#lines[@]}" -eq 12 ]
    [ "$(wc -l <"$TMP/s.json")" -eq 1 ]
    [ "$(json_get "$(cat "$TMP/s.json")" 'o["hallucinated_mentions"]')" = 11 ]
    [[ $stderr == *"CHAIR_s"*"75.00%"* ]]
    [[ $stderr == *"CHAIR_i"*"21.57%  (11 / 51)"* ]]
    [[ $stderr == *"recall"*"90.00%  (36 / 40)"* ]]
    ! ls "$TMP" | grep -v '^s.json$'  # no temporary file left behind
}

@test "--field chosen and rejected: an injected object is a hallucination" {
    "$PY" -c '
import json
print(json.dumps({"id": "p1", "objects": ["dog", "frisbee", "person"],
  "chosen": "A man throws a frisbee to a brown dog in the park.",
  "rejected": "A man throws a frisbee to a brown dog in the park, next to a bench and a bicycle."}))
' >"$TMP/pair.jsonl"
    run --separate-stderr pv-score --field chosen "$TMP/pair.jsonl"
    assert_success
    [ "$(json_get "$output" 'o["chair_i"] == 0 and o["recall"] == 1')" = true ]
    run --separate-stderr pv-score --field rejected --annotate "$TMP/pair.jsonl"
    assert_success
    [ "$(json_get "${lines[0]}" 'o["chair"]["hallucinated"]')" = '["bench", "bicycle"]' ]
    [ "$(json_get "${lines[1]}" 'o["chair_i"]')" = 0.4 ]
}

@test "CHAIR against COCO instances, then instances + captions" {
    # instances.json: image 139 has person, tv, potted plant and chair; 285 a dog
    # (a crowd RLE annotation); 632 toilet, sink, toothbrush; 724 nothing; 776
    # elephant and giraffe. captions.json adds couch (139), frisbee (285) and stop
    # sign (724). coco.jsonl names its images in four ways.
    run --separate-stderr pv-score --coco-instances "$D/instances.json" --annotate "$D/coco.jsonl"
    assert_success
    [ "$(json_get "${lines[0]}" 'o["chair"]["hallucinated"]')" = '["couch", "dog"]' ]
    [ "$(json_get "${lines[1]}" 'o["chair"]["hallucinated"]')" = '["frisbee", "person"]' ]
    [ "$(json_get "${lines[3]}" 'o["chair"]["hallucinated"]')" = '["stop sign"]' ]
    [ "$(json_get "${lines[5]}" 'o["mentions"], o["hallucinated_mentions"], o["hallucinated_records"], o["gt_objects"], o["recalled_objects"]')" = '[14, 5, 3, 10, 9]' ]
    [[ $stderr == *"COCO ground truth for 5 images"* ]]
    run --separate-stderr pv-score --coco-instances "$D/instances.json" --coco-captions "$D/captions.json" "$D/coco.jsonl"
    assert_success
    [ "$(json_get "$output" 'o["mentions"], o["hallucinated_mentions"], o["hallucinated_records"], o["gt_objects"], o["recalled_objects"]')" = '[14, 2, 2, 13, 12]' ]
}

@test "COCO: the ground truth equals what Python's json module reads from the file" {
    # An independent reading of instances.json + captions.json (json.load), mapped
    # with the same category names; compared image by image with the annotations.
    run --separate-stderr pv-score --coco-instances "$D/instances.json" --annotate "$D/coco.jsonl"
    assert_success
    printf '%s\n' "${lines[@]:0:5}" >"$TMP/out.jsonl"
    "$PY" - "$D/instances.json" "$TMP/out.jsonl" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
names = {c["id"]: c["name"] for c in doc["categories"]}
gt = {}
for a in doc["annotations"]:
    gt.setdefault(a["image_id"], set()).add(names[a["category_id"]])
ids = {"c1": 139, "c2": 285, "c3": 632, "c4": 724, "c5": 776}
for line in open(sys.argv[2]):
    o = json.loads(line)
    c = o["chair"]
    mine = {m for m in c["mentioned"] if m not in c["hallucinated"]}
    want = {m for m in c["mentioned"] if m in gt.get(ids[o["id"]], set())}
    assert mine == want, (o["id"], mine, want)
EOF
}

@test "COCO: gzip-compressed annotation files; a truncated one is an error" {
    gzip -c "$D/instances.json" >"$TMP/i.json.gz"
    run --separate-stderr pv-score --coco-instances "$TMP/i.json.gz" "$D/coco.jsonl"
    assert_success
    [ "$(json_get "$output" 'o["mentions"], o["hallucinated_mentions"], o["gt_objects"]')" = '[14, 5, 10]' ]
    head -c 1500 "$TMP/i.json.gz" >"$TMP/cut.json.gz"
    run --separate-stderr pv-score --coco-instances "$TMP/cut.json.gz" "$D/coco.jsonl"
    assert_failure 3
    [[ $stderr == *"cut.json.gz:1: byte "*": read error: unexpected end of file"* ]]
}

@test "COCO: an image is known when listed or annotated; several files add up" {
    printf '{"images": [{"id": 1}], "annotations": [{"image_id": 2, "category_id": 18}], "categories": [{"id": 18, "name": "dog"}]}' >"$TMP/a.json"
    printf '{"images": [{"id": 3}], "annotations": [{"image_id": 1, "category_id": 5}], "categories": [{"id": 5, "name": "airplane"}]}' >"$TMP/b.json"
    printf '%s\n' '{"image_id":1,"caption":"A dog under a plane."}' '{"image_id":2,"caption":"A dog."}' \
        '{"image_id":3,"caption":"A cat."}' >"$TMP/in.jsonl"
    run --separate-stderr pv-score --coco-instances "$TMP/a.json" --coco-instances "$TMP/b.json" --annotate "$TMP/in.jsonl"
    assert_success
    [[ $stderr == *"COCO ground truth for 3 images"* ]]
    [ "$(json_get "${lines[0]}" 'o["chair"]["hallucinated"], o["chair"]["recalled"]')" = '[["dog"], ["airplane"]]' ]
    [ "$(json_get "${lines[1]}" 'o["chair"]["hallucinated"]')" = '[]' ]
    [ "$(json_get "${lines[2]}" 'o["chair"]["hallucinated"]')" = '["cat"]' ]
}

@test "COCO: unknown image ids are bad records; --keep-going scores the rest" {
    printf '%s\n' '{"id":"x","image":"COCO_val2014_000000000999.jpg","caption":"A dog."}' \
        '{"id":"y","image_id":776,"caption":"An elephant."}' '{"id":"z","image":"noname.jpg","caption":"A cat."}' >"$TMP/in.jsonl"
    run --separate-stderr pv-score --coco-instances "$D/instances.json" "$TMP/in.jsonl"
    assert_failure 1
    [[ $stderr == *"in.jsonl:1: image id 999 is not in the COCO annotations"* ]]
    run --separate-stderr pv-score --keep-going --coco-instances "$D/instances.json" "$TMP/in.jsonl"
    assert_failure 1
    [[ $stderr == *"in.jsonl:3: no COCO image id in \"image\" \"noname.jpg\""* ]]
    [[ $stderr == *"2 bad records skipped"* ]]
    [ "$(json_get "$output" 'o["n"], o["mentions"], o["hallucinated_mentions"]')" = '[1, 1, 0]' ]
}

@test "COCO: malformed files stop the run with status 3, naming line and byte" {
    echo '{"caption":"a dog","image_id":139}' >"$TMP/one.jsonl"
    head -c 3000 "$D/instances.json" >"$TMP/cut.json"
    run --separate-stderr pv-score --coco-instances "$TMP/cut.json" "$TMP/one.jsonl"
    assert_failure 3
    [[ $stderr == *"cut.json:1: byte 3000: unexpected end of the file"* ]]
    printf '{"images": [{"id": 1}],\n "annotations": [{"image_id": 1, "category_id": 01}]}' >"$TMP/zero.json"
    run --separate-stderr pv-score --coco-instances "$TMP/zero.json" "$TMP/one.jsonl"
    assert_failure 3
    [[ $stderr == *"zero.json:2: byte "*": bad number"* ]]
    printf '{"images": [], "annotations": [{"image_id": 1, "category_id": 5}], "categories": [{"id": 5, "name": "unicorn"}]}' >"$TMP/uni.json"
    run --separate-stderr pv-score --coco-instances "$TMP/uni.json" "$TMP/one.jsonl"
    assert_failure 3
    [[ $stderr == *'category "unicorn" (id 5) is not in the lexicon'* ]]
    run --separate-stderr pv-score --coco-instances "$TMP/absent.json" "$TMP/one.jsonl"
    assert_failure 3
    printf '{"images": [], "annotations": [{"image_id": 139, "caption": 7}]}' >"$TMP/cap.json"
    run --separate-stderr pv-score --coco-instances "$D/instances.json" --coco-captions "$TMP/cap.json" "$TMP/one.jsonl"
    assert_failure 3
    [[ $stderr == *'"caption" is not a string'* ]]
}

@test "bad records: missing fields, --keep-going, empty captions are valid" {
    printf '%s\n' '{"id":"a","objects":["dog"]}' '{"id":"b","caption":"A dog.","objects":["dog"]}' \
        '{"id":"c","caption":"A cat."}' '{"id":"d","caption":"","objects":["dog"]}' \
        '{"id":"e","caption":"A dog and a unicorn.","objects":["dog","unicorn"]}' >"$TMP/in.jsonl"
    run --separate-stderr pv-score "$TMP/in.jsonl"
    assert_failure 1
    [[ $stderr == *'in.jsonl:1: missing "caption"'* ]]
    [ -z "$output" ]
    run --separate-stderr pv-score --keep-going "$TMP/in.jsonl"
    assert_failure 1
    [[ $stderr == *'in.jsonl:3: missing "objects"'* ]]
    [[ $stderr == *"1 ground-truth object name outside the lexicon ignored"* ]]
    # b "A dog" (2 words), d "" (0), e "A dog and a unicorn" (5; no unicorn in COCO)
    [ "$(json_get "$output" 'o["n"], o["mentions"], o["hallucinated_mentions"], o["mean_words"] == 7/3')" = '[3, 2, 0, true]' ]
    printf '{"caption":"","objects":[]}\n' >"$TMP/empty.jsonl"
    run --separate-stderr pv-score "$TMP/empty.jsonl"
    assert_success
    [ "$(json_get "$output" 'o["chair_s"] == 0, o["chair_i"], o["recall"]')" = '[true, null, null]' ]
    : >"$TMP/none.jsonl"
    run --separate-stderr pv-score "$TMP/none.jsonl"
    assert_success
    [ "$(json_get "$output" 'o["n"], o["chair_s"]')" = '[0, null]' ]
}

@test "POPE per split with the published answer rule" {
    # pope.jsonl answers, read by the rule (first sentence, commas removed, a
    # space-separated No/no/not): random yes,no,no,yes; popular yes,no,yes("Not
    # really."),yes("I don't see one. No"); adversarial yes,no,yes("No,there
    # isn't" -> "Nothere"),no. Against the labels: random TP FN FP TN ...
    run --separate-stderr pv-score --metric pope --group split "$D/pope.jsonl"
    assert_success
    [ "${#lines[@]}" -eq 4 ]
    [ "$(json_get "${lines[0]}" 'o["group"], o["tp"], o["fp"], o["tn"], o["fn"], o["accuracy"], o["f1"]')" = '["random", 1, 1, 1, 1, 0.5, 0.5]' ]
    [ "$(json_get "${lines[1]}" 'o["group"], o["tp"], o["fp"], o["tn"], o["fn"], o["yes_ratio"], o["recall"] == 1')" = '["popular", 1, 2, 1, 0, 0.75, true]' ]
    [ "$(json_get "${lines[2]}" 'o["group"]')" = '"adversarial"' ]
    [ "$(json_get "${lines[3]}" 'o["group"], o["n"], o["tp"], o["fp"], o["tn"], o["fn"]')" = '[null, 12, 3, 4, 3, 2]' ]
    [ "$(json_get "${lines[3]}" 'o["precision"] == 3/7 and o["recall"] == 0.6 and o["f1"] == 0.5')" = true ]
}

@test "POPE: the answer rule agrees with the published script on 2000 odd answers" {
    # The reference is the published evaluation's rule, line for line:
    # text.split('.')[0] if there is a '.', .replace(',', ''), .split(' '), then
    # 'No' / 'not' / 'no' in the pieces.
    "$PY" - >"$TMP/a.jsonl" <<'EOF2'
import json, random
rnd = random.Random(3)
pieces = ["No", "no", "not", "Not", "NO", "nope", "Yes", "yes", "there", "is", "a", "dog", ",", ".", " ",
          "  ", "\n", "\t", "no,", ",no", "no.", "No!", "cannot", "note", "n't", "\u00e9", "not."]
for i in range(2000):
    a = "".join(rnd.choice(pieces) + rnd.choice(["", " ", " ", ",", "."]) for _ in range(rnd.randint(0, 8)))
    print(json.dumps({"answer": a, "label": rnd.choice(["yes", "no"])}))
EOF2
    run --separate-stderr pv-score --metric pope --annotate "$TMP/a.jsonl"
    assert_success
    printf '%s\n' "${lines[@]:0:2000}" >"$TMP/out.jsonl"
    "$PY" - "$TMP/out.jsonl" <<'EOF2'
import json, sys
bad = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    text = o["answer"]
    if text.find('.') != -1:
        text = text.split('.')[0]
    text = text.replace(',', '')
    words = text.split(' ')
    want = 'no' if ('No' in words or 'not' in words or 'no' in words) else 'yes'
    if o["pope"]["prediction"] != want:
        bad += 1
        print("differs:", repr(o["answer"]), o["pope"]["prediction"], want)
assert bad == 0
EOF2
}

@test "POPE: --annotate, a table, bad labels" {
    run --separate-stderr pv-score --metric pope --annotate --format table "$D/pope.jsonl"
    assert_success
    [ "${#lines[@]}" -eq 13 ]
    [ "$(json_get "${lines[6]}" 'o["pope"]')" = '{"prediction": "yes", "correct": false}' ]
    [[ $stderr == *"(all)"*"12"*"50.00%"*"42.86%"*"60.00%"* ]]
    printf '%s\n' '{"answer":"Yes","label":"maybe"}' '{"answer":"Yes","label":"YES"}' '{"label":"no"}' >"$TMP/bad.jsonl"
    run --separate-stderr pv-score --metric pope --keep-going "$TMP/bad.jsonl"
    assert_failure 1
    [[ $stderr == *'bad.jsonl:1: "label" is "maybe", not "yes" or "no"'* ]]
    [[ $stderr == *'bad.jsonl:3: missing "answer"'* ]]
    [ "$(json_get "$output" 'o["n"], o["tp"]')" = '[1, 1]' ]
    run --separate-stderr pv-score --metric pope --group split "$TMP/bad.jsonl"
    assert_failure 1
}

@test "the plain-Python peer (bench/score_ref.py) gives the same summaries" {
    run --separate-stderr pv-score "$D/captions.jsonl"
    assert_success
    c=$output
    p=$("$PY" "$REPO/bench/score_ref.py" chair "$D/captions.jsonl")
    [ "$(json_get "$c" 'o')" = "$(json_get "$p" 'o')" ]
    run --separate-stderr pv-score --metric pope "$D/pope.jsonl"
    c=$output
    p=$("$PY" "$REPO/bench/score_ref.py" pope "$D/pope.jsonl")
    [ "$(json_get "$c" '[round(o[k], 12) for k in ("accuracy", "precision", "recall", "f1", "yes_ratio")]')" = \
      "$(json_get "$p" '[round(o[k], 12) for k in ("accuracy", "precision", "recall", "f1", "yes_ratio")]')" ]
}

@test "the Python peer agrees on 500 texts of lexicon words in odd forms" {
    "$PY" "$REPO/bench/score_ref.py" gen-tricky 500 11 >"$TMP/t.jsonl"
    run --separate-stderr pv-score -q "$TMP/t.jsonl"
    assert_success
    c=$output
    p=$("$PY" "$REPO/bench/score_ref.py" chair "$TMP/t.jsonl")
    echo "pv-score $c"
    echo "python   $p"
    [ "$(json_get "$c" 'o["mentions"] > 4000')" = true ]
    [ "$(json_get "$c" 'o')" = "$(json_get "$p" 'o')" ]
}

@test "--synonyms: the published CHAIR list (a bare bow is a tie there)" {
    need_shared
    syn=$PV_SHARED/data/chair/synonyms.txt
    echo '{"caption":"A girl with a pink bow rides a bike past a toilet seat.","objects":["person","bicycle","toilet"]}' >"$TMP/bow.jsonl"
    run --separate-stderr pv-score --synonyms "$syn" --annotate "$TMP/bow.jsonl"
    assert_success
    [ "$(json_get "${lines[0]}" 'o["chair"]["hallucinated"]')" = '["tie"]' ]
    run --separate-stderr pv-score --annotate "$TMP/bow.jsonl"
    assert_success
    [ "$(json_get "${lines[0]}" 'o["chair"]["hallucinated"]')" = '[]' ]
    # On the twelve descriptions both lists find the same mentions.
    run --separate-stderr pv-score --synonyms "$syn" "$D/captions.jsonl"
    assert_success
    [ "$(json_get "$output" 'o["mentions"], o["hallucinated_mentions"]')" = '[51, 11]' ]
    printf 'dog, puppy\n, cat\n' >"$TMP/bad.txt"
    run --separate-stderr pv-score --synonyms "$TMP/bad.txt" "$D/captions.jsonl"
    assert_failure 3
    [[ $stderr == *"bad.txt: line 2: empty category name"* ]]
}

@test "gzip input and -o output" {
    gzip -c "$D/captions.jsonl" >"$TMP/c.jsonl.gz"
    run --separate-stderr pv-score -o "$TMP/out.json" "$TMP/c.jsonl.gz"
    assert_success
    [ -z "$output" ]
    [ "$(json_get "$(cat "$TMP/out.json")" 'o["mentions"]')" = 51 ]
}

@test "EXAMPLES of pv-score(1) run" {
    cd "$TMP"
    cp "$D/captions.jsonl" captions.jsonl
    "$PY" -c '
import json
for l in open("captions.jsonl"):
    o = json.loads(l); o["chosen"] = o["caption"]; o["rejected"] = o.pop("caption") + " A bench stands nearby."
    print(json.dumps(o))' >pairs.jsonl
    cp "$D/instances.json" instances_val2014.json
    cp "$D/captions.json" captions_val2014.json
    cp "$D/coco.jsonl" coco_captions.jsonl
    cp "$D/pope.jsonl" pope_answers.jsonl
    if [ -f "$PV_SHARED/data/chair/synonyms.txt" ]; then
        cp "$PV_SHARED/data/chair/synonyms.txt" synonyms.txt
    else
        printf 'person, man, girl, boy\ndog, puppy\n' >synonyms.txt
    fi
    n=0
    while IFS= read -r -d '' cmd; do
        [ -n "${cmd//[[:space:]]/}" ] || continue
        n=$((n + 1))
        run --separate-stderr bash -c "$cmd"
        [ "$status" -eq 0 ] || { echo "example failed: $cmd"; echo "$stderr"; false; }
    done < <(man_examples "$REPO/man/pv-score.1" | awk 'BEGIN{RS=""; ORS="\0"} {print}')
    [ "$n" -eq 5 ]
    [ "$(wc -l <scored.jsonl)" -eq 12 ]
    # 11 hallucinations as above, plus the added bench in 11 of the 12 (r05 has one)
    [ "$(json_get "$(cat chair.json)" 'o["hallucinated_mentions"]')" = 22 ]
}
