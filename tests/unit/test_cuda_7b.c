/* A LLaVA-1.5-7B-shaped model with random weights made on the GPU (no file), run end
 * to end, checked against the CPU on a few layers, and timed. Runs only when
 * PV_GPU_7B_CONFIG names a config.json (tests/gpu/run.sh sets it to
 * llava-1.5-7b-hf.config.json); otherwise, or without a GPU, it skips.
 *
 * Checks:
 *   - fp32, 2 decoder layers of 7B shapes: every logit of a 40-token prompt within
 *     1e-4 relative (floor 1e-5 of the largest) of the CPU path on the same weights;
 *   - bf16, the full 32-layer model: image features, a 625-token prompt (576 image
 *     tokens) and 64 greedy tokens run, all logits finite; the same weights' first 2
 *     layers against the CPU (fp32 arithmetic on the bf16 values): relative error
 *     norm |gpu - cpu| / |cpu| of the logits under 1e-2, the range bf16 operands give
 *     (activations are rounded to bf16 before each product; unit roundoff 2^-9).
 * Figures (not tests), printed as "# TABLE" lines: image features ms, prefill ms and
 * TFLOP/s, batch-1 decode tokens/s and GB/s of weights read, batch-16 tokens/s. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "generate.h"
#include "llava_cuda.h"
#include "llava_forward.h"

#define PROMPT_TEXT 49     /* + 576 image tokens = 625, the baseline's prompt */
#define GENERATE 64
#define BATCH 16
#define REPEATS 5

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return v[n / 2];
}

static uint64_t rng = 12345;
static int32_t random_token(int vocab)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (int32_t)(3 + (rng >> 33) % (uint64_t)(vocab - 100));
}

/* GPU vs CPU logits of `layers` decoder layers of g's weights on n text tokens.
 * Returns the relative error norm; prints the worst element against the floor. */
static double against_cpu(pv_cuda_model *g, int layers, const int32_t *ids, int n,
                          double *worst_excess)
{
    char err[256];
    pv_llava_model host;
    const pv_llava_config *cfg = pv_cuda_model_config(g);
    int V = cfg->text.vocab_size;
    if (pv_cuda_model_to_host(g, layers, &host, err, sizeof err) < 0) {
        printf("# %s\n", err);
        return INFINITY;
    }
    float *cpu = malloc((size_t)n * V * sizeof(float)), *gpu = malloc((size_t)n * V * sizeof(float));
    pv_lm_session *cs = pv_lm_session_new(&host, n, false);
    int ok = cs && pv_lm_prefill_all(cs, ids, n, NULL, cpu) == 0;
    pv_cuda_session *s = pv_cuda_session_new(g, 1, n, false, err, sizeof err);
    if (s) {
        pv_cuda_session_set_layers(s, layers);
        ok = ok && pv_cuda_prefill_all(s, 0, ids, n, NULL, gpu) == 0;
        if (!ok)
            printf("# %s\n", pv_cuda_session_error(s));
    } else {
        printf("# %s\n", err);
        ok = 0;
    }
    double num = 0, den = 0, maxabs = 0;
    size_t total = (size_t)n * V;
    for (size_t i = 0; i < total; i++)
        maxabs = fmax(maxabs, fabs(cpu[i]));
    *worst_excess = 0;
    for (size_t i = 0; i < total; i++) {
        double d = (double)gpu[i] - cpu[i];
        num += d * d;
        den += (double)cpu[i] * cpu[i];
        double e = fabs(d) / (1e-4 * fabs(cpu[i]) + 1e-5 * maxabs);
        if (!(e <= *worst_excess))
            *worst_excess = isnan(e) ? INFINITY : e;
    }
    pv_cuda_session_free(s);
    pv_lm_session_free(cs);
    pv_cuda_host_model_free(&host);
    free(cpu);
    free(gpu);
    return ok ? sqrt(num / den) : INFINITY;
}

int main(void)
{
    char err[512];
    const char *path = getenv("PV_GPU_7B_CONFIG");
    if (!path)
        return check_skip_all("PV_GPU_7B_CONFIG is not set (tests/gpu/run.sh sets it)");
    if (pv_cuda_available(err, sizeof err) != 0)
        return check_skip_all(err);
    char dev[256];
    pv_cuda_describe(dev, sizeof dev);
    printf("# device: %s\n", dev);
    pv_llava_config cfg;
    if (!CHECK(pv_llava_config_load(path, &cfg, err, sizeof err) == 0, "7B config loads")) {
        printf("# %s\n", err);
        return check_done();
    }
    const int V = cfg.text.vocab_size;
    int32_t few[40];
    for (int i = 0; i < 40; i++)
        few[i] = random_token(V);

    /* fp32, two layers. */
    {
        pv_llava_config c2 = cfg;
        c2.text.num_hidden_layers = 2;
        pv_cuda_model *g = pv_cuda_model_random(&c2, PV_CUDA_F32, 1, err, sizeof err);
        if (!CHECK(g != NULL, "random fp32 2-layer 7B-shaped model"))
            printf("# %s\n", err);
        double excess = INFINITY, rel = g ? against_cpu(g, 2, few, 40, &excess) : INFINITY;
        printf("# fp32 2 layers vs CPU: relative error norm %.3g, worst element %.3g of the tolerance\n",
               rel, excess);
        CHECK(excess <= 1.0, "fp32 7B-shaped logits (2 layers) within 1e-4 of the CPU");
        pv_cuda_model_free(g);
    }

    /* bf16, the whole model. */
    double t0 = now();
    pv_cuda_model *g = pv_cuda_model_random(&cfg, PV_CUDA_BF16, 2, err, sizeof err);
    if (!CHECK(g != NULL, "random bf16 7B-shaped model built on the GPU")) {
        printf("# %s\n", err);
        return check_done();
    }
    printf("# model: %.2f GiB of weights in %.1f s; decode reads %.2f GB per step\n",
           pv_cuda_model_bytes(g) / 1073741824.0, now() - t0, pv_cuda_model_decode_bytes(g) / 1e9);
    {
        double excess, rel = against_cpu(g, 2, few, 40, &excess);
        printf("# bf16 first 2 layers vs CPU fp32 on the same weights: relative error norm %.3g\n", rel);
        CHECK(rel < 1e-2, "bf16 7B-shaped logits (2 layers) within bf16 range of the CPU");
    }

    int S = cfg.vision.image_size, n_img = pv_llava_config_image_tokens(&cfg);
    int H = cfg.text.hidden_size;
    float *pixels = malloc((size_t)3 * S * S * sizeof(float));
    for (size_t i = 0; i < (size_t)3 * S * S; i++)
        pixels[i] = (float)((random_token(1000) % 400) - 200) / 100.0f;
    float *feat = malloc((size_t)n_img * H * sizeof(float));
    double ti[REPEATS];
    int ok = 1;
    for (int r = 0; r < REPEATS && ok; r++) {
        t0 = now();
        ok = pv_cuda_image_features(g, pixels, 1, feat, err, sizeof err) == 0;
        ti[r] = now() - t0;
    }
    if (!CHECK(ok, "image features run"))
        printf("# %s\n", err);
    int finite = 1;
    for (size_t i = 0; i < (size_t)n_img * H; i++)
        finite &= isfinite(feat[i]);
    CHECK(finite, "image features finite");

    /* The 625-token prompt: BOS, text, 576 image tokens, text. */
    int n_prompt = PROMPT_TEXT + n_img, max_tokens = n_prompt + GENERATE + 1;
    int32_t *prompt = malloc((size_t)n_prompt * sizeof *prompt);
    prompt[0] = 1;
    for (int i = 1; i < n_prompt; i++)
        prompt[i] = i >= 5 && i < 5 + n_img ? cfg.image_token_index : random_token(V);
    pv_cuda_session *s = pv_cuda_session_new(g, BATCH, max_tokens, false, err, sizeof err);
    if (!CHECK(s != NULL, "session of 16 slots")) {
        printf("# %s\n", err);
        return check_done();
    }
    float *logits = malloc((size_t)BATCH * V * sizeof(float));
    double tp[REPEATS];
    for (int r = 0; r < REPEATS && ok; r++) {
        pv_cuda_session_reset(s, 0);
        t0 = now();
        ok = pv_cuda_prefill(s, 0, prompt, n_prompt, feat, logits) == 0;
        tp[r] = now() - t0;
    }
    if (!CHECK(ok, "625-token prefill runs"))
        printf("# %s\n", pv_cuda_session_error(s));
    finite = 1;
    for (int i = 0; i < V; i++)
        finite &= isfinite(logits[i]);
    CHECK(finite, "prefill logits finite");

    /* Batch 1: 64 greedy decoding steps after the prompt, replaying CUDA graphs and
     * then launching each operation: the same tokens, two timings. */
    int slots[BATCH];
    int32_t ids[BATCH], next[BATCH], tokens[2][GENERATE];
    double t_dec[2] = {0, 0};
    for (int i = 0; i < BATCH; i++)
        slots[i] = i, ids[i] = random_token(V);
    int32_t first = ids[0];
    for (int graphs = 1; graphs >= 0 && ok; graphs--) {
        pv_cuda_session_set_graphs(s, graphs);
        pv_cuda_session_reset(s, 0);
        ok = pv_cuda_prefill(s, 0, prompt, n_prompt, feat, NULL) == 0;
        ids[0] = first;
        ok = ok && pv_cuda_decode(s, 1, slots, ids, NULL, next) == 0; /* records the graph */
        ids[0] = next[0];
        t0 = now();
        for (int k = 0; k < GENERATE && ok; k++) {
            ok = pv_cuda_decode(s, 1, slots, ids, NULL, next) == 0;
            tokens[graphs][k] = ids[0] = next[0];
        }
        t_dec[graphs] = now() - t0;
    }
    pv_cuda_session_set_graphs(s, true);
    if (!CHECK(ok, "64 decoding steps at batch 1, with and without CUDA graphs"))
        printf("# %s\n", pv_cuda_session_error(s));
    CHECK(memcmp(tokens[0], tokens[1], sizeof tokens[0]) == 0,
          "CUDA graphs give the tokens of op-by-op decoding");
    double t_dec1 = t_dec[1];

    /* Batch 16: every slot holds the prompt, then 64 steps of 16 rows. */
    for (int i = 0; i < BATCH && ok; i++) {
        pv_cuda_session_reset(s, i);
        ok = pv_cuda_prefill(s, i, prompt, n_prompt, feat, NULL) == 0;
    }
    t0 = now();
    for (int k = 0; k < GENERATE && ok; k++) {
        ok = pv_cuda_decode(s, BATCH, slots, ids, NULL, next) == 0;
        memcpy(ids, next, sizeof ids);
    }
    double t_dec16 = now() - t0;
    if (!CHECK(ok, "64 decoding steps at batch 16"))
        printf("# %s\n", pv_cuda_session_error(s));
    ok = pv_cuda_decode(s, BATCH, slots, ids, logits, NULL) == 0;
    finite = ok;
    for (size_t i = 0; i < (size_t)BATCH * V; i++)
        finite &= isfinite(logits[i]);
    CHECK(finite, "batch-16 logits finite");

    /* Figures. FLOPs of the prefill: 2 per weight of the decoder layers per token,
     * plus attention's 4 n^2/2 head_dim per head and layer (causal half). */
    double layer_weights = (pv_cuda_model_decode_bytes(g) - (double)V * H * 2) / 2;
    double attn = 4.0 * n_prompt * n_prompt / 2 * cfg.text.head_dim * cfg.text.num_attention_heads *
                  cfg.text.num_hidden_layers;
    double flops = 2 * layer_weights * n_prompt + attn;
    double mp = median(tp, REPEATS), mi = median(ti, REPEATS);
    double step1 = t_dec1 / GENERATE;
    printf("# TABLE image_features_ms %.2f\n", mi * 1e3);
    printf("# TABLE prefill_625_ms %.2f (target < 40)\n", mp * 1e3);
    printf("# TABLE prefill_tflops %.1f (ceiling ~800 bf16 dense)\n", flops / mp / 1e12);
    printf("# TABLE decode_b1_tokens_per_s %.1f (target >= 150; ceiling ~%.0f at 3 TB/s)\n",
           1 / step1, 3e12 / pv_cuda_model_decode_bytes(g));
    printf("# TABLE decode_b1_weight_GBps %.0f (ceiling ~3000)\n",
           pv_cuda_model_decode_bytes(g) / step1 / 1e9);
    printf("# TABLE decode_b1_no_graphs_tokens_per_s %.1f\n", GENERATE / t_dec[0]);
    printf("# TABLE decode_b16_tokens_per_s %.1f (target >= 1500)\n", BATCH * GENERATE / t_dec16);
    pv_cuda_session_free(s);
    pv_cuda_model_free(g);
    free(pixels), free(feat), free(prompt), free(logits);
    return check_done();
}
