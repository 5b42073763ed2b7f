#!/usr/bin/env bash
# pv-caption against an eager PyTorch CPU peer (bench/caption_torch.py), batch 1, in the
# same invocation: image encoding time, prefill and greedy decode tokens/s, peak resident
# memory, on the tiny fixture model and on a random 239M-parameter model of the same
# architecture generated here (LLaMA 1024 x 8 layers, CLIP ViT 336/14 1024 x 6 layers,
# 576 image tokens, F32 weights).
#   THREADS=N (default: every core)  NEW_TOKENS=N (32)  REPEAT=N (best of 2)
set -eu
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
PV_SHARED=${PV_SHARED:-$(cd .. && pwd)/shared}
export PV_SHARED
FIXTURE=$PV_SHARED/fixtures/tiny-llava
PY=/usr/bin/python3
THREADS=${THREADS:-$(nproc)}
NEW_TOKENS=${NEW_TOKENS:-32}
REPEAT=${REPEAT:-2}

[ -x "$BIN/pv-caption" ] || { echo "caption: $BIN/pv-caption not built"; exit 1; }
. bench/blas_env.sh
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} for both pv and torch; $THREADS threads"
[ -d "$FIXTURE" ] || { echo "caption: fixtures not found under $PV_SHARED"; exit 1; }
have_torch=1
$PY -c 'import torch' 2>/dev/null || have_torch=0

work=$(mktemp -d "${TMPDIR:-/tmp}/pv-bench-caption.XXXXXX")
trap 'rm -rf "$work"' EXIT
image=$FIXTURE/image.png
printf '{"id":"bench","image":"%s","prompt":"Describe this image in detail."}\n' "$image" >"$work/rec.jsonl"

# Wall-clock figures on a shared machine: say how busy it was.
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "generating the random model (239M parameters, F32)..."
$PY bench/caption_torch.py make-model "$work/large" >/dev/null

# One run of each implementation; prints its JSON line (timings + tokens + peak KiB).
run_pv() {
    /usr/bin/time -f %M -o "$work/mem" "$BIN/pv-caption" --model "$1" -j "$THREADS" -q \
        --max-new-tokens "$NEW_TOKENS" --tokens --timings "$work/rec.jsonl" >"$work/out" 2>"$work/err"
    $PY - "$work" <<'EOF'
import json, sys
w = sys.argv[1]
t = json.loads(open(w + "/err").read().strip().splitlines()[-1])
t["tokens"] = json.loads(open(w + "/out").readline())["caption_tokens"]
t["peak_kib"] = int(open(w + "/mem").read().split()[-1])
print(json.dumps(t))
EOF
}
run_torch() {
    /usr/bin/time -f %M -o "$work/mem" $PY bench/caption_torch.py run --model "$1" --image "$image" \
        --max-new-tokens "$NEW_TOKENS" --threads "$THREADS" >"$work/out" 2>"$work/err" || {
        cat "$work/err" >&2; return 1; }
    $PY - "$work" <<'EOF'
import json, sys
w = sys.argv[1]
t = json.loads(open(w + "/out").read())
t["peak_kib"] = int(open(w + "/mem").read().split()[-1])
print(json.dumps(t))
EOF
}

for model in "$FIXTURE" "$work/large"; do
    : >"$work/pv.jsonl"
    : >"$work/torch.jsonl"
    for _ in $(seq "$REPEAT"); do
        run_pv "$model" >>"$work/pv.jsonl"
        [ "$have_torch" = 1 ] && run_torch "$model" >>"$work/torch.jsonl"
    done
    $PY - "$model" "$work/pv.jsonl" "$work/torch.jsonl" "$THREADS" <<'EOF'
import json, os, sys
model, pv_path, torch_path, threads = sys.argv[1:]
cfg = json.load(open(os.path.join(model, "config.json")))
tc = cfg["text_config"]
runs = {"pv": [json.loads(l) for l in open(pv_path)], "torch": [json.loads(l) for l in open(torch_path)]}

def best(rs):  # each figure from its fastest run; memory the largest peak seen
    if not rs:
        return None
    r = dict(rs[0])
    for k in ("image_s", "prefill_s", "decode_s"):
        r[k] = min(x[k] for x in rs)
    r["peak_kib"] = max(x["peak_kib"] for x in rs)
    return r

b = {k: best(v) for k, v in runs.items()}
name = "fixture (tiny-llava)" if "fixtures" in model else "random 239M (LLaMA 1024x8, CLIP-336 1024x6)"
print(f"-- {name}, batch 1, {threads} threads, best of {len(runs['pv'])}")
print(f"{'':8}{'image ms':>10}{'prefill tok/s':>15}{'decode tok/s':>14}{'peak MiB':>10}")
for k, r in b.items():
    if r:
        print(f"{k:8}{1e3 * r['image_s']:10.1f}{r['prefill_tokens'] / r['prefill_s']:15.1f}"
              f"{r['decode_tokens'] / max(r['decode_s'], 1e-9):14.1f}{r['peak_kib'] / 1024:10.1f}")
p, t = b["pv"], b["torch"]
if t:
    print(f"pv / torch: image {t['image_s'] / p['image_s']:.2f}x faster, "
          f"prefill {(p['prefill_tokens'] / p['prefill_s']) / (t['prefill_tokens'] / t['prefill_s']):.2f}x, "
          f"decode {(p['decode_tokens'] / p['decode_s']) / (t['decode_tokens'] / t['decode_s']):.2f}x "
          f"(tok/s ratios; > 1 means pv is faster)")
    same = 0
    for x, y in zip(p["tokens"], t["tokens"]):
        if x != y:
            break
        same += 1
    print(f"greedy tokens: the first {same} of {len(p['tokens'])} agree with the PyTorch peer")
else:
    print("PyTorch baseline not run: /usr/bin/python3 cannot import torch (apt-get install python3-torch)")
# The memory the weights and the cache need: fp32 weights (the safetensors data) plus the KV cache.
weights = sum(os.path.getsize(os.path.join(model, f)) for f in os.listdir(model) if f.endswith(".safetensors"))
dtype_factor = 2 if "fixtures" in model else 1  # the fixture's weights are F16, held as fp32
kv_heads = tc.get("num_key_value_heads", tc["num_attention_heads"])
head_dim = tc.get("head_dim", tc["hidden_size"] // tc["num_attention_heads"])
kv = 2 * tc["num_hidden_layers"] * (p["prefill_tokens"] + p["decode_tokens"]) * kv_heads * head_dim * 4
budget = (weights * dtype_factor + kv) * 1.2
verdict = "within" if p["peak_kib"] * 1024 <= budget else "OVER (on a tiny model, fixed costs: libraries, OpenBLAS buffers, tokenizer)"
print(f"pv peak {p['peak_kib'] / 1024:.1f} MiB: {verdict} fp32 weights + KV cache + 20% = {budget / 2**20:.1f} MiB")
EOF
done
