/* lib/llava_cuda.h and lib/caption_cuda.h in every build: dtype names, and without a
 * GPU (or without CUDA) every entry point failing with a message instead of crashing
 * (what pv-caption --device cuda turns into exit status 3). */
#include <string.h>

#include "caption_cuda.h"
#include "check.h"
#include "llava_cuda.h"

int main(void)
{
    pv_cuda_dtype t;
    CHECK(pv_cuda_parse_dtype("bf16", &t) == 0 && t == PV_CUDA_BF16, "bf16 parses");
    CHECK(pv_cuda_parse_dtype("fp16", &t) == 0 && t == PV_CUDA_F16, "fp16 parses");
    CHECK(pv_cuda_parse_dtype("float32", &t) == 0 && t == PV_CUDA_F32, "float32 parses");
    CHECK(pv_cuda_parse_dtype("int8", &t) != 0, "int8 is refused");
    CHECK(strcmp(pv_cuda_dtype_name(PV_CUDA_BF16), "bf16") == 0, "bf16 is named bf16");

    char err[256] = "";
    pv_caption_gpu *bad = pv_caption_gpu_open("nowhere", NULL, "int8", 1, err, sizeof err);
    printf("# %s\n", err);
    CHECK(!bad && strstr(err, "--dtype"), "a bad --dtype names the option");

    err[0] = '\0';
    if (pv_cuda_available(err, sizeof err) == 0) {
        char name[256];
        pv_cuda_describe(name, sizeof name);
        printf("# GPU present (%s): the no-GPU checks do not apply\n", name);
        return check_done();
    }
    printf("# no GPU: %s\n", err);
    CHECK(err[0] != '\0', "pv_cuda_available says why there is no GPU");
    err[0] = '\0';
    pv_caption_gpu *g = pv_caption_gpu_open("nowhere", NULL, "bf16", 4, err, sizeof err);
    CHECK(!g && err[0], "pv_caption_gpu_open fails with a message");
    err[0] = '\0';
    pv_cuda_model *m = pv_cuda_model_load("nowhere", PV_CUDA_BF16, err, sizeof err);
    CHECK(!m && (strstr(err, "CUDA") || strstr(err, "GPU")), "pv_cuda_model_load fails saying why");
    printf("# %s\n", err);
    return check_done();
}
