/* The GPU forward pass (lib/llava_cuda.h) on the fixture model against the CPU path
 * (lib/llava_forward.h) and the golden values of transformers (float64).
 *
 * fp32 mode (weights uploaded from the host model): image features, every logit of
 * the chosen sequence and the chosen log-probabilities within 1e-4 relative (floor
 * 1e-5 of the tensor's largest magnitude: the golden tests' tolerance, fp32 against
 * float64) of both the CPU path and the golden values; greedy12 identical; the KV
 * cache (prefill + decode steps) and batched decoding of prompts of different lengths
 * agree with one-sequence runs (decoding steps replay CUDA graphs; greedy12 is also
 * checked without); sampling with a seed gives the CPU path's tokens;
 * the LoRA adapter's summed log-probability matches golden policy_chosen.
 *
 * bf16 mode (weights read from the safetensors file straight to the GPU): each
 * chosen log-probability within 4 u max|logit| of the golden value, u = 2^-9 the bf16
 * unit roundoff (8 significant bits): weights and the activations entering every
 * product are rounded once each, along a path of ~25 products (vision tower,
 * projector, 2 decoder layers, lm_head) whose errors add up like a random walk; a
 * log-probability is a logit minus a logsumexp of equally perturbed logits. On the
 * fixture (max|logit| 4.9) that is 0.039 nats; a host emulation of exactly this bf16
 * arithmetic (tests/gpu/host-check.sh) measured 0.019. The same for fp16 (11 bits,
 * u = 2^-11). Greedy tokens must agree with the CPU path. Skips without a GPU. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "generate.h"
#include "golden.h"
#include "llava_cuda.h"
#include "llava_forward.h"
#include "llava_model.h"
#include "ops.h"

#define RTOL 1e-4
#define ATOL_OF_MAX 1e-5

static double json_number(const char *path, const char *key)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NAN;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    cJSON_Delete(j);
    return d;
}

/* log p(ids[t+1] | ids[<=t]) for t < n-1 from all-position logits [n][V]. */
static void token_logps(const float *logits, const int32_t *ids, int n, int V, float *out)
{
    for (int t = 0; t + 1 < n; t++) {
        const float *row = logits + (size_t)t * V;
        out[t] = (float)(row[ids[t + 1]] - pv_op_logsumexp(row, V));
    }
}

/* Golden arrays, freed at the end (so that a run under ASan reports no leak). */
static void *kept[32];
static int n_kept;

static void *keep(void *p)
{
    if (n_kept < (int)(sizeof kept / sizeof *kept))
        kept[n_kept++] = p;
    return p;
}

static int same_tokens(const char *what, const int32_t *got, int n_got, const int32_t *want,
                       int n_want)
{
    int same = n_got == n_want;
    for (int i = 0; same && i < n_want; i++)
        same = got[i] == want[i];
    if (!same) {
        printf("# %s: got %d tokens:", what, n_got);
        for (int i = 0; i < n_got; i++)
            printf(" %d", (int)got[i]);
        printf("\n# %s: want %d tokens:", what, n_want);
        for (int i = 0; i < n_want; i++)
            printf(" %d", (int)want[i]);
        printf("\n");
    }
    return CHECK(same, what);
}

static pv_cuda_session *new_session(pv_cuda_model *g, int slots, int max_tokens, bool lora)
{
    char err[256];
    pv_cuda_session *s = pv_cuda_session_new(g, slots, max_tokens, lora, err, sizeof err);
    if (!s) {
        printf("# %s\n", err);
        CHECK(0, "session");
        exit(check_done());
    }
    return s;
}

int main(void)
{
    char err[512], dir[1024];
    if (pv_cuda_available(err, sizeof err) != 0)
        return check_skip_all(err);
    snprintf(dir, sizeof dir, "%s", fixture_path(""));
    struct stat st;
    if (stat(dir, &st) != 0 || golden_open() != 0)
        return check_skip_all("no fixture model (PV_SHARED/fixtures/tiny-llava)");
    char devname[256];
    pv_cuda_describe(devname, sizeof devname);
    printf("# device: %s\n", devname);

    pv_llava_model m;
    if (pv_llava_load(dir, &m, err, sizeof err) < 0) {
        printf("# %s\n", err);
        CHECK(0, "fixture model loads");
        return check_done();
    }
    const int V = m.cfg.text.vocab_size, D = m.cfg.text.hidden_size;
    const int n_img = pv_llava_n_image_features(&m);
    pv_cuda_model *g = pv_cuda_model_upload(&m, PV_CUDA_F32, err, sizeof err);
    if (!CHECK(g != NULL, "fp32 upload of the host model")) {
        printf("# %s\n", err);
        return check_done();
    }

    /* Image features. */
    float *pixels = keep(golden_f32("pixel_values", (size_t)3 * 56 * 56));
    float *feat_cpu = malloc((size_t)n_img * D * sizeof(float));
    float *feat_gpu = malloc((size_t)n_img * D * sizeof(float));
    pv_llava_image_features(&m, pixels, feat_cpu);
    CHECK(pv_cuda_image_features(g, pixels, 1, feat_gpu, err, sizeof err) == 0,
          "GPU image features run");
    golden_check("image features vs CPU", feat_gpu, feat_cpu, (size_t)n_img * D, RTOL, ATOL_OF_MAX);
    golden_check("image features vs golden", feat_gpu,
                 keep(golden_f32("image_features", (size_t)n_img * D)), (size_t)n_img * D, RTOL,
                 ATOL_OF_MAX);

    /* Every logit of the chosen sequence. */
    int n;
    int32_t *ids = keep(golden_i32("chosen_ids", &n));
    float *lg_cpu = malloc((size_t)n * V * sizeof(float)), *lg_gpu = malloc((size_t)n * V * sizeof(float));
    pv_lm_session *cs = pv_lm_session_new(&m, n + 16, false);
    pv_lm_prefill_all(cs, ids, n, feat_cpu, lg_cpu);
    pv_cuda_session *s = new_session(g, 4, n + 16, false);
    if (!CHECK(pv_cuda_prefill_all(s, 0, ids, n, feat_gpu, lg_gpu) == 0, "GPU prefill runs"))
        printf("# %s\n", pv_cuda_session_error(s));
    golden_check("chosen logits, GPU fp32 vs CPU", lg_gpu, lg_cpu, (size_t)n * V, RTOL, ATOL_OF_MAX);
    golden_check("last 8 logits vs golden", lg_gpu + (size_t)(n - 8) * V,
                 keep(golden_f32("logits_last8", (size_t)8 * V)), (size_t)8 * V, RTOL,
                 ATOL_OF_MAX);
    float *lp = malloc((size_t)n * sizeof(float));
    token_logps(lg_gpu, ids, n, V, lp);
    golden_check("chosen token log-probs vs golden (fp32)", lp,
                 keep(golden_f32("chosen_token_logps", (size_t)n - 1)), (size_t)n - 1, RTOL,
                 ATOL_OF_MAX);

    /* KV cache: the same sequence as a prefill of n - 4 tokens then 4 decoding steps. */
    {
        float *step = malloc((size_t)V * sizeof(float));
        pv_cuda_session_reset(s, -1);
        int slot = 2, ok = pv_cuda_prefill(s, slot, ids, n - 4, feat_gpu, step) == 0;
        double worst = 0, big = 0;
        for (int t = n - 4; ok && t <= n; t++) {
            const float *want = lg_cpu + (size_t)(t - 1) * V;
            for (int i = 0; i < V; i++) {
                worst = fmax(worst, fabs(step[i] - want[i]));
                big = fmax(big, fabs(want[i]));
            }
            if (t < n)
                ok = pv_cuda_decode(s, 1, &slot, &ids[t], step, NULL) == 0;
        }
        printf("# KV cache steps vs one prefill (CPU): worst abs %.3g, largest logit %.3g\n", worst, big);
        CHECK(ok && worst <= RTOL * big, "prefill + decoding steps give the full prefill's logits");
        free(step);
    }

    /* Greedy decoding. */
    int n_prompt, n_greedy;
    int32_t *prompt = keep(golden_i32("prompt_ids", &n_prompt));
    int32_t *want_greedy = keep(golden_i32("greedy12", &n_greedy));
    pv_gen_params gp = pv_gen_params_default(&m);
    gp.max_new_tokens = n_greedy;
    gp.adapters_off = true;
    int32_t out[4][64];
    int32_t *outs[4] = {out[0], out[1], out[2], out[3]};
    int n_out[4];
    const int32_t *prompts[4] = {prompt, prompt, prompt, prompt};
    const float *feats[4] = {feat_gpu, feat_gpu, feat_gpu, feat_gpu};
    int lens[4] = {n_prompt, n_prompt, n_prompt, n_prompt};
    int rc = pv_cuda_generate(s, 1, prompts, lens, feats, &gp, outs, n_out, err, sizeof err);
    if (rc)
        printf("# %s\n", err);
    same_tokens("greedy12 identical (fp32)", out[0], n_out[0], want_greedy, n_greedy);
    pv_cuda_session_set_graphs(s, false); /* each decoding step launched op by op */
    rc = pv_cuda_generate(s, 1, prompts, lens, feats, &gp, outs, n_out, err, sizeof err);
    same_tokens("greedy12 identical (fp32, no CUDA graphs)", out[0], n_out[0], want_greedy,
                n_greedy);
    pv_cuda_session_set_graphs(s, true);

    /* Batched: prompts of different lengths (the prompt cut after 3, 10 and 40 text
     * tokens past the image), each generated alone on the CPU and together here. */
    {
        int cut[4] = {n_prompt, n_prompt - 3, n_prompt - 10, n_prompt - 25};
        int32_t want[4][64];
        int n_want[4];
        gp.max_new_tokens = 20;
        gp.eos = -1;
        for (int i = 0; i < 4; i++) {
            lens[i] = cut[i];
            n_want[i] = pv_generate(&m, prompt, cut[i], feat_cpu, &gp, want[i], err, sizeof err);
        }
        gp.max_new_tokens = 20;
        int32_t eos_stop = want[1][5]; /* one sequence stops early on its own "eos" */
        rc = pv_cuda_generate(s, 4, prompts, lens, feats, &gp, outs, n_out, err, sizeof err);
        if (rc)
            printf("# %s\n", err);
        int all = rc == 0;
        for (int i = 0; i < 4; i++) {
            char what[96];
            snprintf(what, sizeof what, "batch of 4, sequence %d (prompt %d tokens) as alone on the CPU", i, cut[i]);
            all &= same_tokens(what, out[i], n_out[i], want[i], n_want[i]);
        }
        /* Per-sequence stop: with eos = a token sequence 1 produces at step 5, it ends there. */
        gp.eos = eos_stop;
        rc = pv_cuda_generate(s, 4, prompts, lens, feats, &gp, outs, n_out, err, sizeof err);
        int first = 0;
        while (first < n_want[1] && want[1][first] != eos_stop)
            first++;
        printf("# eos %d: sequence 1 wrote %d tokens (expected %d)\n", (int)eos_stop, n_out[1], first);
        CHECK(rc == 0 && n_out[1] == first, "a sequence stops at its own eos in a batch");
        gp.eos = -1;
        /* Sampling with a seed: the CPU path's tokens. */
        gp.temperature = 0.8f;
        gp.top_p = 0.9f;
        gp.seed = 7;
        int32_t want_s[64];
        int n_ws = pv_generate(&m, prompt, n_prompt, feat_cpu, &gp, want_s, err, sizeof err);
        lens[0] = n_prompt;
        rc = pv_cuda_generate(s, 1, prompts, lens, feats, &gp, outs, n_out, err, sizeof err);
        same_tokens("sampled tokens (T 0.8, top-p 0.9, seed 7) as on the CPU", out[0], n_out[0],
                    want_s, n_ws);
        gp.temperature = 0;
    }
    pv_cuda_session_free(s);

    /* LoRA adapter: the policy's summed log-probability of the chosen response. */
    {
        char adir[1200];
        snprintf(adir, sizeof adir, "%s/adapter", dir);
        pv_llava_model ma;
        if (pv_llava_load(dir, &ma, err, sizeof err) == 0 &&
            pv_llava_load_adapter(&ma, adir, err, sizeof err) == 0) {
            pv_cuda_model *ga = pv_cuda_model_upload(&ma, PV_CUDA_F32, err, sizeof err);
            pv_cuda_session *sa = ga ? new_session(ga, 1, n, true) : NULL;
            int response_start = (int)json_number(fixture_path("golden.json"), "response_start");
            double want = json_number(fixture_path("golden.json"), "policy_chosen"), sum = 0;
            if (sa && pv_cuda_prefill_all(sa, 0, ids, n, feat_gpu, lg_gpu) == 0) {
                token_logps(lg_gpu, ids, n, V, lp);
                for (int t = response_start - 1; t + 1 < n; t++)
                    sum += lp[t];
            }
            printf("# policy_chosen: got %.9g want %.9g\n", sum, want);
            CHECK(fabs(sum - want) <= RTOL * fabs(want), "LoRA policy_chosen as golden (fp32)");
            pv_cuda_session_free(sa);
            pv_cuda_model_free(ga);
            pv_llava_free(&ma);
        } else {
            printf("# %s\n", err);
            CHECK(0, "fixture adapter loads");
        }
    }

    /* The loader: safetensors straight to the GPU, fp32 gives the upload's logits
     * exactly (same values, same kernels), bf16 within the stated tolerance. */
    {
        pv_cuda_model *gl = pv_cuda_model_load(dir, PV_CUDA_F32, err, sizeof err);
        if (!CHECK(gl != NULL, "fp32 load from safetensors"))
            printf("# %s\n", err);
        float *lg2 = malloc((size_t)n * V * sizeof(float));
        if (gl) {
            pv_cuda_session *sl = new_session(gl, 1, n, false);
            pv_cuda_prefill_all(sl, 0, ids, n, feat_gpu, lg2);
            golden_check("fp32 logits, model loaded from the file, vs CPU", lg2, lg_cpu,
                         (size_t)n * V, RTOL, ATOL_OF_MAX);
            pv_cuda_session_free(sl);
            pv_cuda_model_free(gl);
        }
        /* bf16 and fp16: 8 and 11 significant bits, unit roundoff 2^-9 and 2^-11. */
        const struct {
            pv_cuda_dtype t;
            double u;
        } halves[] = {{PV_CUDA_BF16, 0x1p-9}, {PV_CUDA_F16, 0x1p-11}};
        for (size_t h = 0; h < sizeof halves / sizeof *halves; h++) {
            const char *tn = pv_cuda_dtype_name(halves[h].t);
            char what[128];
            pv_cuda_model *gb = pv_cuda_model_load(dir, halves[h].t, err, sizeof err);
            snprintf(what, sizeof what, "%s load from safetensors", tn);
            if (!CHECK(gb != NULL, what)) {
                printf("# %s\n", err);
                continue;
            }
            float *feat_b = malloc((size_t)n_img * D * sizeof(float));
            pv_cuda_image_features(gb, pixels, 1, feat_b, err, sizeof err);
            pv_cuda_session *sb = new_session(gb, 1, n + 16, false);
            pv_cuda_prefill_all(sb, 0, ids, n, feat_b, lg2);
            token_logps(lg2, ids, n, V, lp);
            float *want = keep(golden_f32("chosen_token_logps", (size_t)n - 1));
            double worst = 0, max_logit = 0;
            for (int t = 0; t + 1 < n; t++)
                worst = fmax(worst, fabs(lp[t] - want[t]));
            for (size_t i = 0; i < (size_t)n * V; i++)
                max_logit = fmax(max_logit, fabs(lg_cpu[i]));
            double tol = 4 * halves[h].u * max_logit;
            printf("# %s chosen log-probs: worst abs error %.4g nats (tolerance 4 u max|logit| = %.3g)\n",
                   tn, worst, tol);
            snprintf(what, sizeof what, "%s chosen log-probs within tolerance of golden", tn);
            CHECK(worst <= tol, what);
            gp.max_new_tokens = n_greedy;
            lens[0] = n_prompt;
            const float *fb[1] = {feat_b};
            rc = pv_cuda_generate(sb, 1, prompts, lens, fb, &gp, outs, n_out, err, sizeof err);
            snprintf(what, sizeof what, "%s greedy tokens agree with the CPU path", tn);
            same_tokens(what, out[0], n_out[0], want_greedy, n_greedy);
            pv_cuda_session_free(sb);
            pv_cuda_model_free(gb);
            free(feat_b);
        }
        free(lg2);
    }

    pv_cuda_model_free(g);
    pv_lm_session_free(cs);
    pv_llava_free(&m);
    free(feat_cpu), free(feat_gpu), free(lg_cpu), free(lg_gpu), free(lp);
    while (n_kept)
        free(kept[--n_kept]);
    return check_done();
}
