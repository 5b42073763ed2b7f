/* pv-caption's GPU path (caption_cuda.h) on top of lib/llava_cuda.h. */
#include "caption_cuda.h"

#include <stdio.h>
#include <stdlib.h>

#include "llava_cuda.h"
#include "llava_model.h"

/* Sessions grow in steps of this many positions (a KV-cache slot of LLaVA-7B costs
 * 1 MiB per position in fp32, so it is never sized to the whole context up front). */
#define SESSION_STEP 256

struct pv_caption_gpu {
    pv_cuda_model *model;
    pv_cuda_session *session;
    int batch, session_tokens;
    bool use_lora;
};

pv_caption_gpu *pv_caption_gpu_open(const char *model_dir, const char *adapter_dir,
                                    const char *dtype, int batch, char *err, size_t errlen)
{
    pv_cuda_dtype t = PV_CUDA_BF16;
    if (dtype && pv_cuda_parse_dtype(dtype, &t) != 0) {
        snprintf(err, errlen, "--dtype %s: expected bf16, fp16 or fp32", dtype);
        return NULL;
    }
    if (batch < 1) {
        snprintf(err, errlen, "--batch must be at least 1");
        return NULL;
    }
    if (pv_cuda_available(err, errlen) != 0)
        return NULL;
    pv_caption_gpu *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->batch = batch;
    if (adapter_dir) {
        pv_llava_model host;
        if (pv_llava_load(model_dir, &host, err, errlen) != 0) {
            free(g);
            return NULL;
        }
        if (pv_llava_load_adapter(&host, adapter_dir, err, errlen) == 0)
            g->model = pv_cuda_model_upload(&host, t, err, errlen);
        pv_llava_free(&host);
        g->use_lora = true;
    } else {
        g->model = pv_cuda_model_load(model_dir, t, err, errlen);
    }
    if (!g->model) {
        free(g);
        return NULL;
    }
    return g;
}

void pv_caption_gpu_close(pv_caption_gpu *g)
{
    if (!g)
        return;
    pv_cuda_session_free(g->session);
    pv_cuda_model_free(g->model);
    free(g);
}

const pv_llava_config *pv_caption_gpu_config(const pv_caption_gpu *g)
{
    return pv_cuda_model_config(g->model);
}

int pv_caption_gpu_batch(const pv_caption_gpu *g)
{
    return g->batch;
}

int pv_caption_gpu_features(pv_caption_gpu *g, const float *pixels, int n, float *features,
                            char *err, size_t errlen)
{
    return pv_cuda_image_features(g->model, pixels, n, features, err, errlen);
}

int pv_caption_gpu_generate(pv_caption_gpu *g, int n, const int32_t *const *prompts,
                            const int *n_prompt, const float *const *features,
                            const pv_gen_params *p, int32_t *const *out, int *n_out, char *err,
                            size_t errlen)
{
    int context = pv_cuda_model_config(g->model)->text.max_position_embeddings, need = 1;
    for (int i = 0; i < n; i++)
        if (n_prompt[i] + p->max_new_tokens - 1 > need)
            need = n_prompt[i] + p->max_new_tokens - 1;
    need = (need + SESSION_STEP - 1) / SESSION_STEP * SESSION_STEP;
    if (need > context)
        need = context;
    if (!g->session || g->session_tokens < need) {
        pv_cuda_session_free(g->session);
        g->session = pv_cuda_session_new(g->model, g->batch, need, g->use_lora && !p->adapters_off,
                                         err, errlen);
        g->session_tokens = g->session ? need : 0;
        if (!g->session)
            return -1;
    }
    return pv_cuda_generate(g->session, n, prompts, n_prompt, features, p, out, n_out, err,
                            errlen);
}
