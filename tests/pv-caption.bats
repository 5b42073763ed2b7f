#!/usr/bin/env bats
# pv-caption on the fixture model (../shared/fixtures/tiny-llava) against the outputs
# transformers + peft computed for it (golden.json, golden.safetensors): greedy tokens
# identical, response log-probabilities within 1e-4 relative; POPE mode, --describe,
# bad inputs and their exit statuses, and the EXAMPLES of pv-caption(1).
bats_require_minimum_version 1.5.0
load helpers

setup() {
    need_shared
    setup_tmp
    cd "$TMP"
    ln -s "$FIXTURE" model
    ln -s "$FIXTURE/adapter" adapter
    ln -s "$FIXTURE/image.png" image.png
    CHOSEN=$(jq -r .chosen_text "$FIXTURE/golden.json")
    REJECTED=$(jq -r .rejected_text "$FIXTURE/golden.json")
    jq -nc --arg c "$CHOSEN" --arg r "$REJECTED" \
        '{id: "1", image: "image.png", prompt: "Describe this image in detail.", chosen: $c, rejected: $r}' >pairs.jsonl
}
teardown() { teardown_tmp; }

# A tensor of golden.safetensors as a JSON array (read with Python's struct and json only).
golden() {
    /usr/bin/python3 - "$FIXTURE/golden.safetensors" "$1" <<'EOF'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
t = json.loads(b[8:8 + n])[sys.argv[2]]
s, e = t["data_offsets"]
fmt = {"I32": "i", "F32": "f"}[t["dtype"]]
print(json.dumps(list(struct.unpack("<%d%s" % ((e - s) // 4, fmt), b[8 + n + s:8 + n + e]))))
EOF
}

# Succeeds when |got - want| <= 1e-4 |want|, and prints both with the relative error.
close_rel() {
    awk -v g="$1" -v w="$2" 'BEGIN { e = (g - w) / w; if (e < 0) e = -e;
        printf "got %.10g want %.10g relative error %.2g\n", g, w, e; exit !(e <= 1e-4) }'
}

# Commands of the EXAMPLES section: the ".EX" lines that start with "$ ", unescaped.
man_example_commands() {
    awk '/^\.SH /{ex = ($2 == "EXAMPLES")} ex && /^\$ /{print substr($0, 3)}' "$1" |
        sed -e 's/\\-/-/g' -e 's/\\e/\\/g'
}

@test "--help and --version exit 0 on stdout" {
    run --separate-stderr pv-caption --help
    assert_success
    assert_output --partial "Usage: pv-caption --model DIR"
    assert_output --partial "--score FIELD"
    run --separate-stderr pv-caption --version
    assert_success
    assert_output --regexp '^pv-caption \(pv\) [0-9]'
}

@test "usage errors exit 2" {
    run --separate-stderr pv-caption pairs.jsonl
    assert_failure 2
    [[ $stderr == *"--model DIR is required"* ]]
    run --separate-stderr pv-caption --model model --pope --score chosen pairs.jsonl
    assert_failure 2
    run --separate-stderr pv-caption --model model --template vicuna pairs.jsonl
    assert_failure 2
    run --separate-stderr pv-caption --model model --image-aspect stretch pairs.jsonl
    assert_failure 2
    run --separate-stderr pv-caption --model model --max-new-tokens 0 pairs.jsonl
    assert_failure 2
    run --separate-stderr pv-caption --model model --batch 4 pairs.jsonl
    assert_failure 2
    [[ $stderr == *"--device cuda"* ]]
    run --separate-stderr pv-caption --model model --device cuda --score chosen pairs.jsonl
    assert_failure 2
}

@test "greedy decoding: the 12 tokens and text transformers generated" {
    run --separate-stderr pv-caption --model model --max-new-tokens 12 --tokens pairs.jsonl
    assert_success
    want_ids=$(golden greedy12 | jq -c .)
    got_ids=$(jq -c .caption_tokens <<<"$output")
    echo "got  $got_ids"
    echo "want $want_ids"
    [ "$got_ids" = "$want_ids" ]
    [ "$(jq -r .caption <<<"$output")" = "$(jq -r .greedy12_text "$FIXTURE/golden.json")" ]
    # Fields pass through in order; the new ones come last.
    [ "$(jq -c 'keys_unsorted' <<<"$output")" = '["id","image","prompt","chosen","rejected","caption","caption_tokens"]' ]
}

@test "--score chosen: log p(chosen + </s>) of the base model, and its token ids" {
    run --separate-stderr pv-caption --model model --score chosen pairs.jsonl
    assert_success
    close_rel "$(jq .chosen_logp <<<"$output")" "$(jq .chosen_logp_sum_base "$FIXTURE/golden.json")"
    want=$(golden chosen_ids | jq -c ".[$(jq .response_start "$FIXTURE/golden.json"):]")
    [ "$(jq -c .chosen_tokens <<<"$output")" = "$want" ]
    [ "$(jq -c '.chosen_tokens[-1]' <<<"$output")" = 2 ]
}

@test "--score with the LoRA adapter: policy_chosen and policy_rejected" {
    run --separate-stderr pv-caption --model model --adapter adapter --score chosen pairs.jsonl
    assert_success
    close_rel "$(jq .chosen_logp <<<"$output")" "$(jq .policy_chosen "$FIXTURE/golden.json")"
    run --separate-stderr pv-caption --model model --adapter adapter --score rejected pairs.jsonl
    assert_success
    close_rel "$(jq .rejected_logp <<<"$output")" "$(jq .policy_rejected "$FIXTURE/golden.json")"
    want=$(golden rejected_ids | jq -c ".[$(jq .response_start "$FIXTURE/golden.json"):]")
    [ "$(jq -c .rejected_tokens <<<"$output")" = "$want" ]
}

@test "--pope answers the question in text (or question) and writes answer" {
    {
        echo '{"question_id":1,"image":"image.png","text":"Is there a bus in the image?","label":"yes"}'
        echo '{"question_id":2,"image":"image.png","question":"Is there a dog in the image?","label":"no"}'
    } >pope.jsonl
    run --separate-stderr pv-caption --model model --pope --max-new-tokens 3 pope.jsonl
    assert_success
    [ "$(jq -s 'map(select(.answer | type == "string" and length > 0)) | length' <<<"$output")" -eq 2 ]
    [ "$(jq -s -c 'map(.label)' <<<"$output")" = '["yes","no"]' ]
    # The suffix LLaVA appends after a newline is not appended twice.
    jq -c '.text += "\nAnswer the question using a single word or phrase."' pope.jsonl | head -1 >suffixed.jsonl
    run --separate-stderr pv-caption --model model --pope --max-new-tokens 3 suffixed.jsonl
    assert_success
    [ "$(jq -r .answer <<<"$output")" = "$(pv-caption --model model --pope --max-new-tokens 3 pope.jsonl | head -1 | jq -r .answer)" ]
}

@test "--prompt, --field, --template, --image-root, --image-aspect, -o" {
    mkdir imgs
    cp "$FIXTURE/image.jpg" imgs/
    echo '{"id":"j","image":"image.jpg"}' >rel.jsonl
    run --separate-stderr pv-caption --model model --image-root imgs --max-new-tokens 4 --field text \
        --prompt "What is this?" --template llava_hf -o out.jsonl rel.jsonl
    assert_success
    [ -z "$output" ]
    jq -e '.text | type == "string"' out.jsonl >/dev/null
    ! jq -e 'has("caption")' out.jsonl >/dev/null
    # The aspect modes feed the model different pixels, so the scores differ.
    for a in pad resize crop; do
        pv-caption --model model --image-aspect $a --score chosen pairs.jsonl | jq .chosen_logp >>logps
    done
    [ "$(sort -u logps | wc -l)" -eq 3 ]
}

@test "--timings: one JSON object on stderr, counts that match the output" {
    run --separate-stderr pv-caption --model model --max-new-tokens 5 --tokens --timings -q pairs.jsonl
    assert_success
    t=$(tail -n 1 <<<"$stderr")
    jq -e '.records == 1 and .prefill_tokens == 64 and .prefill_s > 0 and .image_s > 0' <<<"$t" >/dev/null
    [ "$(jq .decode_tokens <<<"$t")" -eq "$(jq '.caption_tokens | length' <<<"$output")" ]
}

@test "sampling is reproducible for a seed" {
    a=$(pv-caption --model model --temperature 1 --top-p 0.9 --seed 7 --max-new-tokens 8 --tokens pairs.jsonl)
    b=$(pv-caption --model model --temperature 1 --top-p 0.9 --seed 7 --max-new-tokens 8 --tokens pairs.jsonl)
    c=$(pv-caption --model model --temperature 1 --top-p 0.9 --seed 8 --max-new-tokens 8 --tokens pairs.jsonl)
    [ "$a" = "$b" ]
    [ "$(jq -c .caption_tokens <<<"$a")" != "$(jq -c .caption_tokens <<<"$c")" ]
}

@test "--describe: the 7B config resolves to 7,063,427,072 parameters from config.json alone" {
    mkdir llava7b
    cp "$PV_SHARED/data/llava-1.5-7b-hf.config.json" llava7b/config.json
    run --separate-stderr pv-caption --model llava7b --describe
    assert_success
    [ "$(jq .num_parameters <<<"$output")" = 7063427072 ]
    [ "$(jq .image_tokens <<<"$output")" = 576 ]
    run --separate-stderr pv-caption --model model --describe
    assert_success
    [ "$(jq .image_tokens <<<"$output")" = 16 ]
}

@test "model errors exit 3: missing folder, unknown model_type, --device cuda, bad adapter" {
    run --separate-stderr pv-caption --model nowhere pairs.jsonl
    assert_failure 3
    [[ $stderr == pv-caption:*nowhere* ]]
    mkdir other
    echo '{"model_type":"bert"}' >other/config.json
    run --separate-stderr pv-caption --model other --describe
    assert_failure 3
    [[ $stderr == *bert* || $stderr == *model_type* ]]
    run --separate-stderr pv-caption --model model --device cuda pairs.jsonl
    assert_failure 3
    [[ $stderr == *"CUDA"* ]]
    run --separate-stderr pv-caption --model model --adapter nowhere pairs.jsonl
    assert_failure 3
}

@test "bad records exit 1 with file:line and the image path; --keep-going writes the good ones" {
    echo 'not an image' >broken.png
    {
        cat pairs.jsonl
        echo '{"id":"2","image":"missing.png"}'
        echo '{"id":"3","image":"broken.png"}'
        echo '{"id":"4"}'
        jq -nc --arg p "$(printf 'word %.0s' $(seq 600))" '{id: "5", image: "image.png", prompt: $p}'
        cat pairs.jsonl
    } >mixed.jsonl
    run --separate-stderr pv-caption --model model --max-new-tokens 2 mixed.jsonl
    assert_failure 1
    [[ $stderr == *"mixed.jsonl:2: "*"missing.png"* ]]
    [ "$(wc -l <<<"$output")" -eq 1 ]
    run --separate-stderr pv-caption --model model --max-new-tokens 2 --keep-going mixed.jsonl
    assert_failure 1
    [[ $stderr == *"mixed.jsonl:3: "*"broken.png"* ]]
    [[ $stderr == *"mixed.jsonl:4: "*"image"* ]]
    [[ $stderr == *"mixed.jsonl:5: "*"context"* ]]
    [ "$(jq -s -c 'map(.id)' <<<"$output")" = '["1","1"]' ]
    run --separate-stderr pv-caption --model model --score nosuchfield pairs.jsonl
    assert_failure 1
    [[ $stderr == *"nosuchfield"* ]]
}

@test "EXAMPLES of pv-caption(1) run on the fixture model" {
    echo '{"image":"image.png","text":"Is there a bus in the image?"}' >pope.jsonl
    man_example_commands "$REPO/man/pv-caption.1" >examples.sh
    [ "$(grep -c '^pv-caption' examples.sh)" -eq 4 ]
    while read -r cmd; do
        run --separate-stderr bash -c "$cmd"
        echo "$cmd: $status"
        assert_success
        jq -e . <<<"$output" >/dev/null
    done <examples.sh
}
