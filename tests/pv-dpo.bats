#!/usr/bin/env bats
# pv-dpo on the fixture model against transformers + peft (golden.json,
# golden.safetensors): --eval log-probabilities and losses, --save-grads gradients
# of both stages; learning, SFT, resume, outputs loadable by pv-caption, bad input,
# NaN and signals, and the EXAMPLES of pv-dpo(1).
bats_require_minimum_version 1.5.0
load helpers

setup() {
    need_shared
    setup_tmp
    cd "$TMP"
    ln -s "$FIXTURE" model
    ln -s "$FIXTURE/image.png" image.png
    CHOSEN=$(jq -r .chosen_text "$FIXTURE/golden.json")
    REJECTED=$(jq -r .rejected_text "$FIXTURE/golden.json")
    # The golden values were computed from transformers' own pixel values, which
    # differ from Pillow's by one 8-bit level in 28 of 9408 values: the golden
    # comparisons feed those pixels (pv takes a .safetensors "image" as is).
    golden_pixels pixel_values px.safetensors
    golden_pixels pixel_values_noisy pxn.safetensors
    jq -nc --arg c "$CHOSEN" --arg r "$REJECTED" '{id: "g", image: "px.safetensors",
        noisy_image: "pxn.safetensors", prompt: "Describe this image in detail.",
        chosen: $c, rejected: $r}' >golden.jsonl
    for i in 1 2 3 4; do
        jq -nc --arg c "$CHOSEN Pair $i." --arg r "$REJECTED Pair $i." --arg i "$i" \
            '{id: $i, image: "image.png", prompt: "Describe this image in detail.",
              chosen: $c, rejected: $r}'
    done >pairs.jsonl
}
teardown() { teardown_tmp; }

gold() { jq -r ".$1" "$FIXTURE/golden.json"; }

@test "pv-dpo --help and --version print on stdout" {
    run pv-dpo --help
    assert_success
    assert_output --partial "--save-grads FILE"
    run pv-dpo --version
    assert_success
    assert_output --partial "pv-dpo (pv)"
}

@test "--eval reproduces the golden log-probabilities and losses of both stages" {
    for stage in 1 2; do
        run --separate-stderr pv-dpo --model model --adapter model/adapter --lora-dropout 0 \
            --eval --stage $stage golden.jsonl
        assert_success
        echo "$output" >eval$stage.json
    done
    d() { jq -r ".dpo.$1" eval2.json; }
    close_rel "$(d policy.chosen)" "$(gold policy_chosen)"
    close_rel "$(d policy.rejected)" "$(gold policy_rejected)"
    close_rel "$(d policy.noise)" "$(gold policy_noisy_own)"
    close_rel "$(d reference.chosen)" "$(gold ref_chosen)"
    close_rel "$(d reference.rejected)" "$(gold ref_rejected)"
    close_rel "$(d reference.noise)" "$(gold ref_noisy_own)"
    close_rel "$(d loss)" "$(gold loss_stage2)"
    close_rel "$(jq -r .dpo.loss eval1.json)" "$(gold loss_stage1)"
    # the record passes through untouched
    [ "$(jq -r .chosen eval1.json)" = "$CHOSEN" ]
}

@test "--save-grads reproduces every golden gradient of stage 1 and stage 2" {
    for stage in 1 2; do
        run --separate-stderr pv-dpo --model model --adapter model/adapter --lora-dropout 0 \
            --stage $stage --save-grads g$stage.safetensors golden.jsonl
        assert_success
        # 1e-4 relative, absolute floor 1e-5 x the tensor's largest gradient (see
        # tests/unit/test_train_golden.c for why a floor is needed)
        run "$REPO/tests/tools/st_compare.py" g$stage.safetensors "$FIXTURE/golden.safetensors" \
            grad_stage$stage/ 1e-4 1e-5
        echo "$output"
        assert_success
        assert_output --partial "32 tensors, 0 failed"
    done
}

@test "a few dozen DPO steps separate chosen from rejected, deterministically" {
    args=(--model model --output out --lora-r 8 --lr 5e-3 --projector-lr 1e-3 --epochs 6
          --batch 2 --seed 7)
    run --separate-stderr pv-dpo "${args[@]}" pairs.jsonl
    assert_success
    echo "$output" >run1.jsonl
    [ "$(wc -l <run1.jsonl)" -eq 12 ]
    last=$(tail -1 run1.jsonl)
    [ "$(echo "$last" | jq '."rewards/accuracies"')" = 1 ]
    echo "$last" | jq -e '."rewards/margins" > 0.5 and .loss < 0.5'
    # TRL's metric names
    echo "$last" | jq -e 'has("rewards/chosen") and has("rewards/rejected") and has("logps/chosen")
        and has("logps/rejected") and has("lr") and has("epoch") and has("step")'
    run --separate-stderr pv-dpo "${args[@]}" --output out2 pairs.jsonl
    diff <(jq -c 'del(.elapsed_s, .tokens_per_s)' run1.jsonl) \
         <(echo "$output" | jq -c 'del(.elapsed_s, .tokens_per_s)')
    # a PEFT adapter folder with PEFT's names, and the projector beside it
    [ -f out/adapter_config.json ] && [ -f out/projector.safetensors ]
    jq -e '.peft_type == "LORA" and .r == 8 and .lora_alpha == 16' out/adapter_config.json
    # pv-caption loads it: the policy now prefers chosen more than the base does
    run --separate-stderr pv-caption --model model --adapter out --score chosen pairs.jsonl
    assert_success
    trained=$(echo "$output" | head -1 | jq .chosen_logp)
    run --separate-stderr pv-caption --model model --score chosen pairs.jsonl
    base=$(echo "$output" | head -1 | jq .chosen_logp)
    awk -v t="$trained" -v b="$base" 'BEGIN { exit !(t > b) }'
}

@test "--loss sft lowers the NLL of chosen" {
    run --separate-stderr pv-dpo --model model --output sft --loss sft --lora-r 8 --lr 5e-3 \
        --epochs 4 --warmup-ratio 0 pairs.jsonl
    assert_success
    first=$(echo "$output" | head -1 | jq .loss)
    last=$(echo "$output" | tail -1 | jq .loss)
    echo "first $first last $last"
    awk -v f="$first" -v l="$last" 'BEGIN { exit !(l < f) }'
}

@test "4 steps equal 2 steps + --resume + 2 steps, metric for metric" {
    args=(--model model --lora-r 4 --lr 1e-3 --projector-lr 1e-3 --epochs 2 --seed 3 --stage 2
          --warmup-ratio 0.25)
    head -2 pairs.jsonl >two.jsonl
    run --separate-stderr pv-dpo "${args[@]}" --output A two.jsonl
    assert_success
    echo "$output" | jq -c 'del(.elapsed_s, .tokens_per_s)' >a.txt
    [ "$(wc -l <a.txt)" -eq 4 ]
    run --separate-stderr pv-dpo "${args[@]}" --output B --max-steps 2 two.jsonl
    assert_success
    echo "$output" | jq -c 'del(.elapsed_s, .tokens_per_s)' >b.txt
    [ -f B/checkpoint-2/state.json ]
    run --separate-stderr pv-dpo "${args[@]}" --output B --resume B/checkpoint-2 two.jsonl
    assert_success
    echo "$output" | jq -c 'del(.elapsed_s, .tokens_per_s)' >>b.txt
    diff a.txt b.txt
    cmp A/adapter_model.safetensors B/adapter_model.safetensors
    # a checkpoint of other options is refused
    run --separate-stderr pv-dpo "${args[@]}" --lr 2e-3 --output C --resume B/checkpoint-2 two.jsonl
    assert_failure 2
    [[ "$stderr" == *"option lr differs"* ]]
}

@test "--merge writes a full model that scores like base + adapter; --lora-r 0 trains in full" {
    head -1 pairs.jsonl >one.jsonl
    # a large projector rate: pv-caption --adapter must load the trained projector too
    run --separate-stderr pv-dpo --model model --output lora --lora-r 4 --lr 1e-2 --projector-lr 1e-2 --epochs 2 \
        --merge one.jsonl
    assert_success
    [ -f lora/merged/model.safetensors ] && [ -f lora/merged/tokenizer.json ]
    a=$(pv-caption --model model --adapter lora --score chosen one.jsonl | jq .chosen_logp)
    b=$(pv-caption --model lora/merged --score chosen one.jsonl | jq .chosen_logp)
    close_rel "$b" "$a"
    run --separate-stderr pv-dpo --model model --output full --lora-r 0 --lr 1e-3 --epochs 2 \
        one.jsonl
    assert_success
    run --separate-stderr pv-caption --model full --score chosen one.jsonl
    assert_success
}

@test "bad records: file and line, exit 1, --keep-going trains on the good ones" {
    { head -1 pairs.jsonl; echo '{"id": "x", "image": "image.png", "chosen": "a"}'; } >bad.jsonl
    run --separate-stderr pv-dpo --model model --output o bad.jsonl
    assert_failure 1
    [[ "$stderr" == *"bad.jsonl:2: missing \"rejected\""* ]]
    [ ! -e o ]
    run --separate-stderr pv-dpo --model model --output o --keep-going bad.jsonl
    assert_failure 1
    [ "$(echo "$output" | wc -l)" -eq 1 ]
    [ -f o/adapter_model.safetensors ]
}

@test "usage and model errors: exit 2 and 3" {
    run --separate-stderr pv-dpo --output o pairs.jsonl
    assert_failure 2
    run --separate-stderr pv-dpo --model model --output o --loss nope pairs.jsonl
    assert_failure 2
    run --separate-stderr pv-dpo --model nowhere --output o pairs.jsonl
    assert_failure 3
    echo '{"id": "1", "image": "missing.png", "chosen": "a", "rejected": "b"}' >m.jsonl
    run --separate-stderr pv-dpo --model model --output o m.jsonl
    assert_failure 1
    [[ "$stderr" == *"missing.png"* ]]
}

@test "a loss that is not finite stops training with exit 3 and keeps the last checkpoint" {
    run --separate-stderr pv-dpo --model model --output nan --lora-r 4 --lr 1e9 \
        --projector-lr 1e9 --warmup-ratio 0 --max-grad-norm 0 --epochs 3 --save-every 1 \
        pairs.jsonl
    assert_failure 3
    [[ "$stderr" == *"not finite"* ]]
    [[ "$stderr" == *"Last good checkpoint: nan/checkpoint-"* ]]
    [ ! -f nan/adapter_model.safetensors ]
}

@test "SIGTERM writes a checkpoint that --resume continues from" {
    for i in $(seq 5 40); do sed -n 1p pairs.jsonl | jq -c --arg i "$i" '.id = $i'; done >many.jsonl
    pv-dpo -q --model model --output sig --lora-r 4 many.jsonl >metrics.jsonl &
    pid=$!
    for _ in $(seq 300); do [ -s metrics.jsonl ] && break; sleep 0.1; done
    kill -TERM $pid
    status=0
    wait $pid || status=$?
    [ "$status" -eq 143 ]
    ckpt=$(ls -d sig/checkpoint-* | head -1)
    [ -f "$ckpt/state.json" ]
    run --separate-stderr pv-dpo -q --model model --output sig --lora-r 4 --resume "$ckpt" many.jsonl
    assert_success
    [ -f sig/adapter_model.safetensors ]
}

@test "EXAMPLES of pv-dpo(1) run on the fixture model" {
    head -2 pairs.jsonl >pairs2.jsonl && mv pairs2.jsonl pairs.jsonl
    man_example_commands "$REPO/man/pv-dpo.1" >examples.sh
    [ "$(grep -c '^pv-dpo' examples.sh)" -eq 5 ]
    while read -r cmd; do
        run --separate-stderr bash -c "$cmd"
        echo "$cmd: $status"
        assert_success
    done <examples.sh
    [ -f stage1/merged/model.safetensors ] && [ -f stage2/adapter_model.safetensors ]
    [ -f run/adapter_model.safetensors ]
}
