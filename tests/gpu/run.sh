#!/bin/bash
# The device script of issue 6 (CUDA backend): one call on the lent GPU machine runs
# the CUDA-vs-CPU checks and the benchmark against the PyTorch baseline, and prints a
# short table last. It builds nothing there (the machine has no cJSON or TurboJPEG):
# first run tests/gpu/bundle.sh here, which fills the git-ignored .device/ with the
# binaries, their libraries and the ../shared files the checks read; then
#     run(command="tests/gpu/run.sh", carry=[".device"], timeout_s=540)
# Budget: about 8 minutes (checks ~2, 7B model ~2, PyTorch baseline ~2-3).
# Logs go to $OUT (the device tool brings them back), else /tmp/pv-gpu-out.
set -u
cd "$(dirname "$0")/../.."
D=.device
LOG=${OUT:-/tmp/pv-gpu-out}
mkdir -p "$LOG"
[ -d "$D/bin" ] && [ -d "$D/shared/fixtures/tiny-llava" ] || {
    echo "run.sh: $D/ is missing or incomplete: run tests/gpu/bundle.sh first and carry .device" >&2
    exit 3
}
export PV_SHARED=$D/shared
# The carried libraries first: RUNPATH does not reach OpenBLAS's own dependencies.
export LD_LIBRARY_PATH=$PWD/$D/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# cuBLAS: CUDA's folder, else the copy PyTorch's wheels carry.
if [ ! -e /usr/local/cuda/lib64/libcublasLt.so.13 ] && ! ldconfig -p 2>/dev/null | grep -q libcublasLt.so.13; then
    found=$(find / -name 'libcublasLt.so.13' -not -path '/proc/*' 2>/dev/null | head -1)
    [ -n "$found" ] && export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$(dirname "$found")
fi

cat "$D/BUILD_INFO" 2>/dev/null
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv,noheader 2>&1 | tee "$LOG/gpu.txt"
for b in "$D"/bin/*; do
    if ldd "$b" | grep -q 'not found'; then
        echo "run.sh: $b: missing libraries:" >&2
        ldd "$b" | grep 'not found' >&2
    fi
done

declare -A RESULT
# TAP file -> "passed/total" (and "SKIP" or "CRASH rc")
tap() {
    local name=$1 rc=$2 file=$LOG/$1.tap
    local pass fail
    pass=$(grep -c '^ok ' "$file")
    fail=$(grep -c '^not ok ' "$file")
    if grep -q '^1\.\.0 # SKIP' "$file"; then
        RESULT[$name]="SKIP: $(sed -n 's/^1\.\.0 # SKIP //p' "$file")"
    elif [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        RESULT[$name]="CRASH (exit $rc) after $pass passed"
    else
        RESULT[$name]="$pass passed, $fail failed"
    fi
    grep -E '^not ok|^# ' "$file" | head -60
}

echo "== test_cuda_ops"
timeout 60 "$D/bin/test_cuda_ops" > "$LOG/test_cuda_ops.tap" 2>&1; tap test_cuda_ops $?
echo "== test_cuda_llava"
timeout 90 "$D/bin/test_cuda_llava" > "$LOG/test_cuda_llava.tap" 2>&1; tap test_cuda_llava $?
echo "== test_cuda_7b"
PV_GPU_7B_CONFIG=$D/shared/data/llava-1.5-7b-hf.config.json \
    timeout 180 "$D/bin/test_cuda_7b" > "$LOG/test_cuda_7b.tap" 2>&1; tap test_cuda_7b $?
echo "== test_cuda_7b with the fp32 attention kernel (PV_CUDA_TC_ATTENTION=0: the baseline, same call)"
PV_CUDA_TC_ATTENTION=0 PV_GPU_7B_CONFIG=$D/shared/data/llava-1.5-7b-hf.config.json \
    timeout 180 "$D/bin/test_cuda_7b" > "$LOG/test_cuda_7b_fp32_attention.tap" 2>&1
echo "exit $?: $(grep -c '^ok ' "$LOG/test_cuda_7b_fp32_attention.tap") ok, $(grep -c '^not ok ' "$LOG/test_cuda_7b_fp32_attention.tap") not ok"
grep -E '^not ok|^# bf16 first 2 layers' "$LOG/test_cuda_7b_fp32_attention.tap"
echo "== pv-caption --device cuda against --device cpu on the fixture"
F=$D/shared/fixtures/tiny-llava
printf '{"id":"1","image":"%s"}\n{"id":"2","image":"%s","prompt":"What is it?"}\n' \
    "$F/image.png" "$F/image.png" > "$LOG/records.jsonl"
caption() { # NAME ARGS...: records -> $LOG/NAME.jsonl
    local name=$1
    shift
    "$@" -q -m "$F" --max-new-tokens 24 --tokens "$LOG/records.jsonl" > "$LOG/$name.jsonl" 2> "$LOG/$name.err"
    echo "$name: exit $? $(head -c 200 "$LOG/$name.err")"
}
caption cpu "$D/bin/pv-caption"
caption gpu_fp32 "$D/bin/pv-caption" --device cuda --dtype fp32
caption gpu_bf16 "$D/bin/pv-caption" --device cuda --dtype bf16
caption gpu_batch2 "$D/bin/pv-caption" --device cuda --dtype fp32 --batch 2
caption cpu_sampled "$D/bin/pv-caption" --temperature 0.8 --seed 5
caption gpu_sampled "$D/bin/pv-caption" --device cuda --dtype fp32 --temperature 0.8 --seed 5
caption cpu_adapter "$D/bin/pv-caption" --adapter "$F/adapter"
caption gpu_adapter "$D/bin/pv-caption" --device cuda --dtype fp32 --adapter "$F/adapter"
same() { cmp -s "$LOG/$1.jsonl" "$LOG/$2.jsonl" && [ -s "$LOG/$1.jsonl" ] && echo identical || echo DIFFERENT; }
RESULT[pv-caption fp32 greedy]=$(same cpu gpu_fp32)
RESULT[pv-caption bf16 greedy]=$(same cpu gpu_bf16)
RESULT[pv-caption fp32 --batch 2]=$(same cpu gpu_batch2)
RESULT[pv-caption fp32 sampled]=$(same cpu_sampled gpu_sampled)
RESULT[pv-caption fp32 adapter]=$(same cpu_adapter gpu_adapter)

echo "== PyTorch baseline (torch_dpo_baseline.py --shape 7b --generate 64)"
timeout 180 python3 "$D/shared/bench/torch_dpo_baseline.py" --shape 7b --generate 64 \
    > "$LOG/baseline.json" 2> "$LOG/baseline.err"
brc=$?
[ $brc -eq 0 ] || tail -5 "$LOG/baseline.err"
baseline_tps=$(python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["generate_tokens_per_s"])' "$LOG/baseline.json" 2>/dev/null || echo "failed (exit $brc)")

echo
echo "== summary ($(head -1 "$LOG/gpu.txt"))"
printf '%-34s %s\n' "check" "result"
for t in test_cuda_ops test_cuda_llava test_cuda_7b "pv-caption fp32 greedy" \
    "pv-caption fp32 --batch 2" "pv-caption bf16 greedy" "pv-caption fp32 sampled" \
    "pv-caption fp32 adapter"; do
    printf '%-34s %s\n' "$t" "${RESULT[$t]}"
done
printf '%-34s %s\n' "figure (pv, bf16, 7B shapes)" "value"
sed -n 's/^# TABLE //p' "$LOG/test_cuda_7b.tap" | while read -r k v; do printf '%-34s %s\n' "$k" "$v"; done
sed -n 's/^# TABLE \(image_features_ms\|prefill_625_ms\|prefill_tflops\) /\1_fp32_attention /p' \
    "$LOG/test_cuda_7b_fp32_attention.tap" | while read -r k v; do printf '%-34s %s\n' "$k" "$v"; done
printf '%-34s %s\n' "torch_decode_b1_tokens_per_s" "$baseline_tps (same call, same GPU)"
