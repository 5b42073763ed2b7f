#!/usr/bin/env bats
# --device cuda where there is no GPU (or no CUDA in the build): a clear message and
# exit status 3, never a crash or a silent fall back to the CPU. On a machine with a
# GPU the first test skips (tests/gpu/run.sh checks the GPU path there).
bats_require_minimum_version 1.5.0
load helpers

have_gpu() {
    command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1
}

@test "pv-caption --device cuda without a GPU: exit 3 and a message naming CUDA" {
    need_shared
    have_gpu && skip "this machine has a GPU"
    run --separate-stderr pv-caption --device cuda -m "$FIXTURE" </dev/null
    [ "$status" -eq 3 ]
    [[ "$stderr" == pv-caption:* ]]
    [[ "$stderr" == *[Cc][Uu][Dd][Aa]* ]]
    [ -z "$output" ]
}

@test "pv-caption --device with an unknown name is a usage error" {
    run --separate-stderr pv-caption --device tpu -m x </dev/null
    [ "$status" -eq 2 ]
    [[ "$stderr" == *--device* ]]
}
