/* lib/llava_cuda.h: what every build has (dtype names, pv_cuda_available) and, in
 * builds without CUDA, the stubs that say so. The CUDA implementation is in
 * lib/cuda/llava_cuda_model.c, lib/cuda/llava_cuda_forward.c and lib/cuda/ops_cuda.cu. */
#include "llava_cuda.h"

#include <stdio.h>
#include <string.h>

#ifdef PV_HAVE_CUDA
#include "cuda/ops_cuda.h"
#endif

int pv_cuda_parse_dtype(const char *name, pv_cuda_dtype *out)
{
    static const struct {
        const char *name;
        pv_cuda_dtype t;
    } names[] = {
        {"bf16", PV_CUDA_BF16}, {"bfloat16", PV_CUDA_BF16}, {"fp16", PV_CUDA_F16},
        {"f16", PV_CUDA_F16},   {"float16", PV_CUDA_F16},   {"fp32", PV_CUDA_F32},
        {"f32", PV_CUDA_F32},   {"float32", PV_CUDA_F32},
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].t;
            return 0;
        }
    return -1;
}

const char *pv_cuda_dtype_name(pv_cuda_dtype t)
{
    return t == PV_CUDA_BF16 ? "bf16" : t == PV_CUDA_F16 ? "fp16" : "fp32";
}

#ifdef PV_HAVE_CUDA

int pv_cuda_available(char *err, size_t errlen)
{
    return pv_cuda_device_count(err, errlen) > 0 ? 0 : -1;
}

void pv_cuda_describe(char *out, size_t outlen)
{
    if (pv_cuda_device_count(out, outlen) > 0)
        pv_cuda_device_name(out, outlen);
}

#else /* no CUDA: every entry point fails with the same message */

#define NO_CUDA "this build has no CUDA support (nvcc was not found when it was built)"

static void no_cuda(char *err, size_t errlen)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", NO_CUDA);
}

int pv_cuda_available(char *err, size_t errlen)
{
    no_cuda(err, errlen);
    return -1;
}

void pv_cuda_describe(char *out, size_t outlen)
{
    no_cuda(out, outlen);
}

pv_cuda_model *pv_cuda_model_load(const char *dir, pv_cuda_dtype dtype, char *err, size_t errlen)
{
    no_cuda(err, errlen);
    return NULL;
}

pv_cuda_model *pv_cuda_model_upload(const pv_llava_model *m, pv_cuda_dtype dtype, char *err,
                                    size_t errlen)
{
    no_cuda(err, errlen);
    return NULL;
}

pv_cuda_model *pv_cuda_model_random(const pv_llava_config *cfg, pv_cuda_dtype dtype,
                                    uint64_t seed, char *err, size_t errlen)
{
    no_cuda(err, errlen);
    return NULL;
}

int pv_cuda_model_to_host(const pv_cuda_model *g, int text_layers, pv_llava_model *host,
                          char *err, size_t errlen)
{
    no_cuda(err, errlen);
    return -1;
}

void pv_cuda_host_model_free(pv_llava_model *host)
{
}

void pv_cuda_model_free(pv_cuda_model *g)
{
}

/* No model can exist without CUDA: the accessors are never reached. */
const pv_llava_config *pv_cuda_model_config(const pv_cuda_model *g)
{
    return NULL;
}

pv_cuda_dtype pv_cuda_model_dtype(const pv_cuda_model *g)
{
    return PV_CUDA_F32;
}

size_t pv_cuda_model_bytes(const pv_cuda_model *g)
{
    return 0;
}

size_t pv_cuda_model_decode_bytes(const pv_cuda_model *g)
{
    return 0;
}

int pv_cuda_image_features(pv_cuda_model *g, const float *pixel_values_host, int n_images,
                           float *features_host, char *err, size_t errlen)
{
    no_cuda(err, errlen);
    return -1;
}

pv_cuda_session *pv_cuda_session_new(pv_cuda_model *g, int slots, int max_tokens,
                                     bool use_lora, char *err, size_t errlen)
{
    no_cuda(err, errlen);
    return NULL;
}

void pv_cuda_session_free(pv_cuda_session *s)
{
}

void pv_cuda_session_reset(pv_cuda_session *s, int slot)
{
}

int pv_cuda_session_pos(const pv_cuda_session *s, int slot)
{
    return -1;
}

const char *pv_cuda_session_error(const pv_cuda_session *s)
{
    return NO_CUDA;
}

void pv_cuda_session_set_layers(pv_cuda_session *s, int n)
{
}

void pv_cuda_session_set_graphs(pv_cuda_session *s, bool on)
{
}

int pv_cuda_prefill(pv_cuda_session *s, int slot, const int32_t *ids, int n,
                    const float *image_features_host, float *last_logits_host)
{
    return -1;
}

int pv_cuda_prefill_all(pv_cuda_session *s, int slot, const int32_t *ids, int n,
                        const float *image_features_host, float *all_logits_host)
{
    return -1;
}

int pv_cuda_decode(pv_cuda_session *s, int rows, const int *slots, const int32_t *ids,
                   float *logits_host, int32_t *argmax_host)
{
    return -1;
}

int pv_cuda_generate(pv_cuda_session *s, int n_seqs, const int32_t *const *prompts,
                     const int *n_prompt, const float *const *image_features_host,
                     const pv_gen_params *p, int32_t *const *out, int *n_out, char *err,
                     size_t errlen)
{
    no_cuda(err, errlen);
    return -1;
}

#endif
