#!/usr/bin/env bats
# Differential test of pv's tokenizer against Debian's spm_encode (SentencePiece)
# with LLaMA-2's tokenizer.model, on strings a seeded script generates at test time
# (ASCII, punctuation, digits, runs of spaces and tabs, accents, CJK, emoji,
# control bytes; one a line, since spm_encode reads lines).
#
# The tokenizer.json pv reads for the comparison is written from tokenizer.model
# by tests/tools/spm_to_tokenizer_json.py (merge ranks in SentencePiece's score
# order). The fixture's own tokenizer.json is compared as well: its merges rank the
# whitespace pieces by id, not by SentencePiece's score (-1e9, merged last), and
# its Metaspace "first" rule adds no "▁" to text that starts with a space, so it
# agrees with spm_encode exactly on text without leading or repeated spaces, which
# is what transformers' tokenizer does too.
load helpers

MODEL_REL=data/llama2-tokenizer/tokenizer.model

setup_file() {
    export BUILT="$BATS_FILE_TMPDIR/tok_encode"
    # linked against the library the tests run with (tests/run.sh sets PV_LIB)
    local lib=${PV_LIB:-$REPO/build/libpv.a}
    cc -std=c17 -O2 -D_GNU_SOURCE -I"$REPO/lib" "$REPO/tests/tools/tok_encode.c" "$lib" \
        ${PV_SAN:-} -fopenmp -lcjson -lturbojpeg -lpng -lz -lopenblas -lm -o "$BUILT" 2>"$BATS_FILE_TMPDIR/cc.log" || true
}

setup() {
    need_shared
    [ -x "$BUILT" ] || { cat "$BATS_FILE_TMPDIR/cc.log" >&2; false; }
    setup_tmp
}

# The SentencePiece side: LLaMA-2's tokenizer.model and Debian's spm_encode.
need_spm() {
    MODEL=$PV_SHARED/$MODEL_REL
    [ -f "$MODEL" ] || skip "$MODEL_REL not found in ../shared"
    command -v spm_encode >/dev/null || skip "spm_encode not installed (Debian: sentencepiece)"
}

teardown() {
    [ -z "${TMP:-}" ] || teardown_tmp   # TMP is unset when setup skipped
}

# Compares two id files line by line; prints the count and the first mismatches.
same_lines() {
    local text=$1 want=$2 got=$3
    /usr/bin/python3 - "$text" "$want" "$got" <<'EOF'
import sys
text = open(sys.argv[1], encoding="utf-8", newline="\n").read().split("\n")
want = open(sys.argv[2]).read().split("\n")
got = open(sys.argv[3]).read().split("\n")
if len(want) != len(got):
    print("line counts differ: %d vs %d" % (len(want), len(got)))
    sys.exit(1)
bad = [i for i in range(len(want)) if want[i] != got[i]]
print("%d lines, %d differ" % (len(want) - 1, len(bad)))
for i in bad[:3]:
    print("text %r\n  spm %s\n  pv  %s" % (text[i], want[i], got[i]))
sys.exit(1 if bad else 0)
EOF
}

@test "hundreds of generated strings: pv's ids equal spm_encode's (SentencePiece merge order)" {
    need_spm
    /usr/bin/python3 "$REPO/tests/tools/spm_to_tokenizer_json.py" "$MODEL" "$TMP/spm.json"
    for seed in 1 2; do
        /usr/bin/python3 "$REPO/tests/tools/gen_strings.py" $seed 400 >"$TMP/in.txt"
        spm_encode --model="$MODEL" --output_format=id <"$TMP/in.txt" >"$TMP/spm.ids"
        "$BUILT" "$TMP/spm.json" <"$TMP/in.txt" >"$TMP/pv.ids"
        run same_lines "$TMP/in.txt" "$TMP/spm.ids" "$TMP/pv.ids"
        echo "seed $seed: $output"
        assert_success
        assert_output "400 lines, 0 differ"
    done
}

@test "the same with the Metaspace spelling, on strings that do not start with a space" {
    need_spm
    /usr/bin/python3 "$REPO/tests/tools/spm_to_tokenizer_json.py" "$MODEL" "$TMP/meta.json" --metaspace-first
    /usr/bin/python3 "$REPO/tests/tools/gen_strings.py" 3 500 | grep -v '^ ' | grep -v '^▁' >"$TMP/in.txt"
    [ "$(wc -l <"$TMP/in.txt")" -gt 300 ]
    spm_encode --model="$MODEL" --output_format=id <"$TMP/in.txt" >"$TMP/spm.ids"
    "$BUILT" "$TMP/meta.json" <"$TMP/in.txt" >"$TMP/pv.ids"
    run same_lines "$TMP/in.txt" "$TMP/spm.ids" "$TMP/pv.ids"
    echo "$output"
    assert_success
    assert_output --regexp ' 0 differ$'
}

@test "the fixture's tokenizer.json equals spm_encode on text without leading or repeated spaces" {
    need_spm
    /usr/bin/python3 "$REPO/tests/tools/gen_strings.py" 4 800 | grep -v '^ ' | grep -v '  ' | grep -v '▁' >"$TMP/in.txt"
    [ "$(wc -l <"$TMP/in.txt")" -gt 200 ]
    spm_encode --model="$MODEL" --output_format=id <"$TMP/in.txt" >"$TMP/spm.ids"
    "$BUILT" "$FIXTURE/tokenizer.json" <"$TMP/in.txt" >"$TMP/pv.ids"
    run same_lines "$TMP/in.txt" "$TMP/spm.ids" "$TMP/pv.ids"
    echo "$output"
    assert_success
    assert_output --regexp ' 0 differ$'
}

@test "whitespace runs: the fixture ranks ▁▁ first, as its merges list says" {
    need_spm
    # Merge rank 0 of the fixture is "▁ ▁"; SentencePiece scores ▁▁ at -1e9 (last).
    printf 'a    b\n' >"$TMP/in.txt"
    run "$BUILT" "$FIXTURE/tokenizer.json" <"$TMP/in.txt"
    assert_output "263 268 29890"   # ▁a ▁▁▁▁ b   (tokenizers 0.23.3 gives the same)
    run spm_encode --model="$MODEL" --output_format=id <"$TMP/in.txt"
    assert_output "263 1678 289"    # ▁a ▁▁▁ ▁b
}

@test "decoding gives the generated strings back" {
    need_spm
    /usr/bin/python3 "$REPO/tests/tools/spm_to_tokenizer_json.py" "$MODEL" "$TMP/spm.json"
    /usr/bin/python3 "$REPO/tests/tools/gen_strings.py" 5 300 | grep -v '▁' >"$TMP/in.txt"
    "$BUILT" -d "$TMP/spm.json" <"$TMP/in.txt" | awk 'NR % 2 == 0' >"$TMP/back.txt"
    run diff "$TMP/in.txt" "$TMP/back.txt"
    assert_success
}

# Hugging Face tokenizers' own output for 200 strings (100 with <s>, </s>, <image>,
# <pad>, newlines and extra added tokens inside), recorded once by
# tests/tools/hf_reference.py: the fixture's tokenizer.json and three variants
# (tests/tools/tokenizer_variant.py): the older Prepend+Replace spelling, the same
# with every added token "normalized", and extra tokens with lstrip/rstrip/single_word.
@test "ids and decodes equal the recorded output of Hugging Face tokenizers (4 variants)" {
    ref=$REPO/tests/data/tokenizer/hf-tokenizers.jsonl
    /usr/bin/python3 -c '
import json, sys
for line in list(open(sys.argv[1], encoding="utf-8"))[1:]:
    print(json.dumps(json.loads(line)["text"]))' "$ref" >"$TMP/texts.jsonl"
    "$BUILT" -j "$FIXTURE/tokenizer.json" <"$TMP/texts.jsonl" >"$TMP/first.out"
    for v in legacy legacy-normalized first-extra; do
        /usr/bin/python3 "$REPO/tests/tools/tokenizer_variant.py" "$FIXTURE/tokenizer.json" "$TMP/$v.json" $v
        "$BUILT" -j "$TMP/$v.json" <"$TMP/texts.jsonl" >"$TMP/$v.out"
    done
    run /usr/bin/python3 - "$ref" "$TMP" <<'PY'
import json, sys
lines = list(open(sys.argv[1], encoding="utf-8"))
variants = json.loads(lines[0])["variants"]
ref = [json.loads(l) for l in lines[1:]]
bad = 0
for name in variants:
    out = open("%s/%s.out" % (sys.argv[2], name), encoding="utf-8").read().split("\n")
    for i, r in enumerate(ref):
        ids = [int(x) for x in out[2 * i].split()]
        dec = json.loads(out[2 * i + 1])
        if ids != r[name]["ids"] or dec != r[name]["decoded"]:
            bad += 1
            if bad <= 3:
                print("%s %r\n  hf %s %r\n  pv %s %r" % (name, r["text"], r[name]["ids"], r[name]["decoded"], ids, dec))
print("%d texts x %d variants, %d differ" % (len(ref), len(variants), bad))
sys.exit(1 if bad else 0)
PY
    echo "$output"
    assert_success
    assert_output --partial "200 texts x 4 variants, 0 differ"
}
